"""Judge submissions against the baseline: measure each in alternation with it, compare, score.

The validator judges a day's submissions with this; the miner's self-check judges its one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from base.energy import total_energy
from base.inputs import GenerationInput
from base.similarity import Similarity, compare_images
from base.worker import WorkerError
from contest.benchmark import (
    BenchmarkResult,
    CheckpointWorker,
    TimedImage,
    Timings,
    measure_alone,
    measure_alternately,
)
from contest.compare import Comparison, compare
from contest.definitions import Contest
from contest.gallery import Gallery
from contest.scoring import Verdict, invalid, score
from pipelines.checkpoint_guard import CheckpointRefused, inspect_checkpoint

log = logging.getLogger(__name__)
NOT_JUDGED = "not judged: the day closed when the next one opened"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    result: BenchmarkResult | None = None
    comparison: Comparison | None = None
    images_sha256: str | None = None  # over every image it drew on the day's inputs, in order


@dataclass(frozen=True)
class Judged:
    baseline: BenchmarkResult
    judgements: dict[str, Judgement]
    timed_seconds: float  # every timed image of every worker
    wall_seconds: float

    @property
    def harness_share(self) -> float:
        """Share of the wall time spent outside timed generation (spawns, imports, loads, warm-ups)."""
        return max(0.0, 1.0 - self.timed_seconds / self.wall_seconds)


@dataclass(frozen=True)
class Measurement:
    """A submission measured in alternation with the baseline; images are compared at once, then dropped."""

    baseline: Timings
    result: BenchmarkResult
    similarity: Similarity
    images_sha256: str


@dataclass(frozen=True)
class Outcome:
    """What judging one submission left: its measurement, or why it could not be measured.

    A validator stores each as soon as it exists, so a restarted day does not measure it again.
    """

    measurement: Measurement | None = None
    refusal: str | None = None


def _keep(gallery: Gallery | None, key: str | None, images: Sequence[TimedImage]) -> None:
    if gallery is not None:
        gallery.keep(key, [timed.image for timed in images])


def _measure(
    baseline: CheckpointWorker,
    key: str,
    folder: Path,
    contest: Contest,
    inputs: Sequence[GenerationInput],
    gallery: Gallery | None,
) -> Outcome:
    inspect_checkpoint(folder, contest.allowed_runtimes, contest.max_checkpoint_bytes)
    with CheckpointWorker(folder, contest, inputs) as submission:
        baseline_images, images = measure_alternately(baseline, submission, inputs, baseline.image_limit_s())
        _keep(gallery, None, baseline_images)
        _keep(gallery, key, images)
        similarity = compare_images([t.image for t in baseline_images], [t.image for t in images])
        drawn = hashlib.sha256(b"".join(timed.image.tobytes() for timed in images)).hexdigest()
        result = submission.result(Timings.of(images), submission.finish())
    return Outcome(Measurement(Timings.of(baseline_images), result, similarity, drawn))


def _outcome(measure: Callable[[], Outcome]) -> Outcome:
    """A failing submission is an outcome with the reason, never an error for the day."""
    try:
        return measure()
    except CheckpointRefused as error:
        return Outcome(refusal=f"refused: {error}")
    except WorkerError as error:
        return Outcome(refusal=f"benchmark failed: {str(error).splitlines()[0]}")
    except Exception as error:  # whatever a submission makes the parent trip on, the day goes on
        log.exception("judging a submission failed in the validator itself")
        return Outcome(refusal=f"benchmark failed: {type(error).__name__}: {str(error).splitlines()[0]}")


def judge(
    baseline_folder: Path,
    submissions: Mapping[str, Path | None],
    contest: Contest,
    inputs: Sequence[GenerationInput],
    progress: Callable[[str], None] = log.info,
    done: Mapping[str, Outcome] | None = None,
    record: Callable[[str, Outcome], None] | None = None,
    closing: Callable[[], bool] = lambda: False,
    gallery: Gallery | None = None,
) -> Judged:
    """Benchmark the baseline and every submission not in ``done``; ``record`` gets each new outcome at once.

    A submission already in ``done`` needs no folder (None). Once ``closing()`` is true the submissions
    not yet measured are left out with that reason (the next day has opened). ``gallery`` keeps
    thumbnails of what the baseline and each measured submission drew.
    """
    started = time.perf_counter()
    outcomes = dict(done or {})
    with CheckpointWorker(baseline_folder, contest, inputs) as baseline:
        queue = tqdm(submissions.items(), desc="judging", unit="submission", total=len(submissions), disable=None)
        for position, (key, folder) in enumerate(queue, start=1):
            if key in outcomes:
                progress(f"[{position}/{len(submissions)}] {key} was judged before the restart")
                continue
            if closing():
                outcomes[key] = Outcome(refusal=NOT_JUDGED)
                continue
            progress(f"[{position}/{len(submissions)}] benchmarking {key} against the baseline")
            outcomes[key] = _outcome(partial(_measure, baseline, key, folder, contest, inputs, gallery))
            if record is not None:
                record(key, outcomes[key])
        measured = {key: outcomes[key].measurement for key in submissions if outcomes[key].measurement}
        runs = [pair.baseline for pair in measured.values()]
        if not runs:
            alone = measure_alone(baseline, inputs, baseline.image_limit_s())
            _keep(gallery, None, alone)
            runs = [Timings.of(alone)]
        finished = baseline.finish()
        baseline_result = baseline.result(_joined(runs), finished)
        judgements = {}
        for key in submissions:
            pair = outcomes[key].measurement
            if pair is None:
                judgements[key] = Judgement(invalid(outcomes[key].refusal))
                continue
            comparison = compare(baseline.result(pair.baseline, finished), pair.result, pair.similarity)
            judgements[key] = Judgement(score(comparison, contest), pair.result, comparison, pair.images_sha256)
    timed_seconds = baseline_result.timed_seconds + sum(pair.result.timed_seconds for pair in measured.values())
    return Judged(baseline_result, judgements, timed_seconds, time.perf_counter() - started)


def _joined(runs: Sequence[Timings]) -> Timings:
    """The baseline over the whole day: every image it timed, in every pair."""
    seconds = tuple(value for run in runs for value in run.sample_seconds)
    return Timings(seconds, total_energy([run.energy for run in runs]))
