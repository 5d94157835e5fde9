"""Judge submissions against the baseline: an A/A control, then each submission paired with the baseline.

The validator judges a day's submissions with this; the miner's self-check judges its one.

The control (the baseline beside an identical copy of itself) runs first and again every
``contest.control.interval_s``: the baseline's median inside it is the reference for its time inside
every other pair. A submission beside which the baseline ran slower than that, beyond the contest's
tolerance, is measured again; if it happens again the submission is out, since its speed-up would be
partly the baseline's slow-down.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from base.errors import first_line
from base.isolation import (
    LeftBehind,
    WorkerError,
    adopt_orphans,
    adopts_orphans,
    children,
    release_orphans,
    started_once_more,
    stop_orphans,
)
from base.measure import Estimate, MemoryReading, median_ci, ratio_ci, widened
from contest.baseline import ContestModels
from contest.definitions import Contest, SamplingPolicy
from contest.judging.checkpoint_worker import SESSION, BenchmarkResult, CheckpointWorker, Timings
from contest.judging.compare import Comparison, compare, speed_ratio
from contest.judging.embedding import ImageEncoderWorker
from contest.judging.hosts import HostActivity, HostLost, HostReport, Hosts, InProcessHost
from contest.judging.pairing import BaselineFailed, PairedRun, Side, Stop, measure_pairs
from contest.judging.reasons import Reason, ReasonKind
from contest.judging.scoring import Faced, FaceToFace, Verdict, score, score_interval
from contest.judging.similarity import Similarity
from pipelines.checkpoint_guard import CheckpointRefused
from pipelines.generation import GenerationInput

log = logging.getLogger(__name__)
# Where the images a checkpoint drew go as soon as it is measured (key None: the baseline), e.g. thumbnails.
KeepImages = Callable[[str | None, Sequence[np.ndarray]], None]
NOT_JUDGED = Reason(ReasonKind.NOT_JUDGED, "not judged: the day closed when the next one opened")
START_FACTOR = 3.0  # a worker may take this many times the baseline's own start before it is out of time
# Face-to-face runs a day may take; a leader still in doubt after them is held behind the earlier entry.
MAX_FACE_TO_FACE = 8


@dataclass(frozen=True)
class Reference:
    """One A/A control: the baseline's time per image beside an identical copy, and the harness's own noise.

    The copy was loaded and measured exactly as a submission is (a fresh worker beside the frozen
    baseline), so its load time and peak memory are what submissions' are compared with: the baseline's
    own worker loaded first, on a cold machine, and has lived longest.
    """

    baseline_seconds: Estimate  # median per image, with its 95% interval
    baseline_samples: tuple[float, ...]  # the baseline's times per image in it
    speed_ratio: Estimate  # baseline / copy: 1.0 within its interval when the harness is fair
    pairs: int
    stop: Stop
    after_submissions: int  # submissions judged in this run before it
    load_seconds: float  # the copy's
    memory: MemoryReading  # the copy's peak


@dataclass(frozen=True)
class Sampled:
    """How a comparison was sampled, with the raw per-pair times so anyone can recompute its figures."""

    pairs: int
    stop: Stop
    baseline_seconds: tuple[float, ...]
    submission_seconds: tuple[float, ...]
    baseline_slowdown: float  # the baseline's median here over its reference's, minus 1
    attempts: int  # 2 when the first attempt's baseline ran too slow and it was measured again


@dataclass(frozen=True)
class Measurement:
    """A submission measured in alternation with the baseline; images are compared at once, then dropped."""

    baseline: BenchmarkResult  # its times inside this pair; load time and memory from the reference's copy
    result: BenchmarkResult
    similarity: Similarity
    images_sha256: str  # over the images of the day's image set, in order
    sampled: Sampled


# What judging one submission left: its measurement, or the reason it is out; never neither. A validator stores
# each as soon as it exists, so a restarted day does not measure it again.
Outcome = Measurement | Reason


@dataclass(frozen=True)
class Judgement:
    """A submission judged: its verdict, and the figures behind it when it was measured."""

    verdict: Verdict
    result: BenchmarkResult | None = None
    comparison: Comparison | None = None
    images_sha256: str | None = None
    sampled: Sampled | None = None

    @classmethod
    def of(cls, outcome: Outcome, contest: Contest) -> Judgement:
        if isinstance(outcome, Reason):
            return cls(Verdict(None, reason=outcome))
        comparison = compare(outcome.baseline, outcome.result, outcome.similarity, contest.sampling.worker_spread)
        return cls(score(comparison, contest), outcome.result, comparison, outcome.images_sha256, outcome.sampled)


@dataclass(frozen=True)
class JudgingRun:
    baseline: BenchmarkResult
    judgements: dict[str, Judgement]
    controls: tuple[Reference, ...]
    timed_seconds: float  # every timed image of every worker
    wall_seconds: float
    faced: dict[tuple[str, str], FaceToFace] = field(default_factory=dict)  # (earlier, later) -> their run
    hosts: tuple[HostReport, ...] = ()  # where it was judged, the first one's baseline published
    judged_on: dict[str, str] = field(default_factory=dict)  # key -> the host that judged it in this run

    @property
    def harness_share(self) -> float:
        """Share of the wall time spent outside timed generation (spawns, imports, loads, warm-ups)."""
        return max(0.0, 1.0 - self.timed_seconds / self.wall_seconds)

    def kinds(self) -> dict[str, str]:
        """Each submission's kind of outcome, ``valid`` or the kind of reason it is out: what two runs over the
        same submissions must agree on, wherever each was judged."""
        verdicts = {key: judgement.verdict for key, judgement in self.judgements.items()}
        return {key: str(verdict.reason.kind) if verdict.reason else "valid" for key, verdict in verdicts.items()}

    def top_scored(self) -> str | None:
        """The submission with the highest score, where any was scored."""
        scored = {key: j.verdict.score for key, j in self.judgements.items() if j.verdict.score is not None}
        return max(scored, key=scored.__getitem__) if scored else None


def _outcome(measure: Callable[[], Outcome]) -> Outcome:
    """A failing submission is an outcome with the reason, never an error for the day."""
    try:
        return measure()
    except BaselineFailed:
        raise
    except CheckpointRefused as error:
        return Reason(ReasonKind.REFUSED, f"refused: {error}")
    except WorkerError as error:
        return Reason(ReasonKind.FAILED, f"benchmark failed: {first_line(error)}")
    except Exception as error:  # whatever a submission makes the parent trip on, the day goes on
        log.exception("judging a submission failed in the validator itself")
        return Reason(ReasonKind.FAILED, f"benchmark failed: {type(error).__name__}: {first_line(error)}")


def images_digest(images: Sequence[np.ndarray]) -> str:
    return hashlib.sha256(b"".join(image.tobytes() for image in images)).hexdigest()


def slowdown(run: PairedRun, reference: Reference, drift: float) -> Estimate:
    """How much slower the baseline ran in ``run`` than in its reference control (negative: faster).

    With its 95% interval: both medians' own noise, and ``drift``, the machine's own change of speed between
    runs minutes apart, which no number of images inside either run can see.
    """
    ratio = widened(ratio_ci(run.baseline.seconds, reference.baseline_samples), drift)
    return Estimate(ratio.value - 1.0, ratio.low - 1.0, ratio.high - 1.0)


def drift_beyond(controls: Sequence[Reference], drift: float) -> str | None:
    """Why this machine's measurements can no longer be trusted, or None: the baseline's time per image in the
    latest control moved, interval and all, further from the first control's than ``drift``, the change of speed
    that the contest allows any machine between runs (and adds to every comparison across runs)."""
    if len(controls) < 2:
        return None
    first, latest = controls[0], controls[-1]
    ratio = ratio_ci(latest.baseline_samples, first.baseline_samples)  # above 1: slower now
    if ratio.low <= 1.0 + drift and ratio.high >= 1.0 / (1.0 + drift):
        return None
    change = f"{abs(ratio.value - 1.0):.0%} {'slower' if ratio.value > 1.0 else 'faster'}"
    return (
        f"its baseline ran {change} in its control after {latest.after_submissions} submissions than in its first "
        f"({ratio.value:.3f} [{ratio.low:.3f}, {ratio.high:.3f}]), beyond the {drift:.0%} the contest allows"
    )


def precise_enough(baseline: Side, other: Side, sampling: SamplingPolicy) -> bool:
    """Whether more pairs would no longer narrow the speed ratio's interval enough to matter.

    JudgingRun on the pairs' own interval: the spread between workers is added to every interval, but no number of
    pairs reduces it, so a target below it would never be reached and every comparison would run to its cap.
    """
    ratio = speed_ratio(baseline.seconds, other.seconds, worker_spread=0.0)
    return ratio.half_width_fraction <= sampling.target_half_width


class Judging:
    """The baseline's worker for a run of comparisons, with the control that keeps it honest.

    ``submission_session`` is the contest's session everywhere but in tests of the harness, which stand in
    runtimes that misbehave in ways no checkpoint can be made to (see ``CheckpointWorker``).
    """

    def __init__(
        self,
        models: ContestModels,
        contest: Contest,
        inputs: Sequence[GenerationInput],
        progress: Callable[[str], None] = log.info,
        keep_images: KeepImages | None = None,
        clock: Callable[[], float] = time.monotonic,
        submission_session: str = SESSION,
        scratch_in: Path | None = None,
    ) -> None:
        """Start the image encoder and the baseline; every worker is closed on any failure, here or later.

        Each worker's scratch folder (its home and temporary folder: engines, caches) is made in ``scratch_in``.

        The A/A control is not run here (``control()``): a constructor that fails leaves no ``with`` block
        to close what it started.
        """
        self.models, self.folder, self.contest, self.inputs = models, models.baseline, contest, inputs
        self.submission_session, self.scratch_in = submission_session, scratch_in
        self.progress, self.keep_images, self.clock = progress, keep_images, clock
        self.controls: list[Reference] = []
        self.baseline_runs: list[Timings] = []
        self.judged = 0
        self.timed_seconds = 0.0  # every image either side of every pair took
        self._control_at = 0.0
        with ExitStack() as stack:
            if not adopts_orphans() and adopt_orphans():  # only while it judges
                stack.callback(release_orphans)
            stack.callback(self._close_workers)
            self._start_workers()
            self._cleanup = stack.pop_all()

    def _start_workers(self) -> None:
        """The encoder and the baseline, and how long a start takes on this machine now."""
        self.encoder = ImageEncoderWorker(self.models.image_encoder, self.contest, self.scratch_in)
        started = self.clock()
        self.baseline = self._validator_worker(self.folder, "the baseline", self.contest.load_timeout_s)
        # A submission or the control's copy may take longer to start on a busy machine than the contest's limit
        # assumes: the limit follows what the baseline's own start took here.
        self.start_limit_s = max(self.contest.load_timeout_s, START_FACTOR * (self.clock() - started))

    def _close_workers(self) -> None:
        with ExitStack() as stack:  # each closed even if another's close fails
            for name in ("baseline", "encoder"):
                if (worker := getattr(self, name, None)) is not None:
                    stack.callback(worker.close)

    def _validator_worker(self, folder: Path, what: str, limit_s: float) -> CheckpointWorker:
        """A worker of the validator's own model; its failure to start is the validator's, never a submission's.

        A start that only ran out of time (a busy machine) is tried once more. A submission's start is not:
        its limit already follows the baseline's start on this machine, and a second try would double what a
        checkpoint that hangs while loading costs the day.
        """
        try:
            return started_once_more(
                partial(
                    CheckpointWorker,
                    folder,
                    self.contest,
                    self.inputs,
                    start_timeout_s=limit_s,
                    scratch_in=self.scratch_in,
                ),
                lambda error: self.progress(f"{what}'s start ran out of time ({first_line(error)}): starting it again"),
            )
        except WorkerError as error:
            raise BaselineFailed(f"{what} did not start: {first_line(error)}") from error

    def restart(self) -> None:
        """Fresh validator workers and a fresh control, after the baseline's side failed."""
        self._close_workers()
        self._start_workers()
        self.control()

    @property
    def reference(self) -> Reference:
        return self.controls[-1]

    def _pairs(self, other: CheckpointWorker, decide: Callable[[Side, Side], Stop | None]) -> PairedRun:
        run = self._pairs_of(self.baseline, other, decide)
        self.baseline_runs.append(run.baseline.timings)
        return run

    def _pairs_of(
        self, first: CheckpointWorker, second: CheckpointWorker, decide: Callable[[Side, Side], Stop | None]
    ) -> PairedRun:
        run = measure_pairs(first, second, self.inputs, self.contest.sampling, self.baseline.image_limit_s(), decide)
        self.timed_seconds += sum(run.baseline.seconds) + sum(run.submission.seconds)
        return run

    def _precise(self, baseline: Side, other: Side) -> Stop | None:
        if len(baseline.seconds) < self.contest.sampling.min_pairs:
            return None
        return Stop.PRECISE if precise_enough(baseline, other, self.contest.sampling) else None

    def control(self) -> Reference:
        """Judge the baseline against an identical copy of itself: the reference for what follows."""
        self.progress("A/A control: the baseline against an identical copy of itself")
        self.baseline.freeze()
        with self._validator_worker(self.folder, "the control's copy of the baseline", self.start_limit_s) as copy:
            try:
                run = self._pairs(copy, self._precise)
                memory = copy.finish()
            except WorkerError as error:  # either side of the control is the validator's own
                raise BaselineFailed(f"the A/A control failed: {first_line(error)}") from error
        if self.keep_images is not None and not self.controls:
            self.keep_images(None, run.baseline.images)
        reference = Reference(
            baseline_seconds=median_ci(run.baseline.seconds),
            baseline_samples=tuple(run.baseline.seconds),
            speed_ratio=speed_ratio(run.baseline.seconds, run.submission.seconds, self.contest.sampling.worker_spread),
            pairs=run.pairs,
            stop=run.stop,
            after_submissions=self.judged,
            load_seconds=copy.loaded.load_seconds,
            memory=memory,
        )
        self.controls.append(reference)
        self._control_at = self.clock()
        ratio = reference.speed_ratio
        self.progress(
            f"A/A control: baseline {reference.baseline_seconds.value * 1000:.1f} ms/image, "
            f"ratio {ratio.value:.3f} [{ratio.low:.3f}, {ratio.high:.3f}] over {run.pairs} pairs"
        )
        return reference

    def fresh_control(self) -> None:
        """The control; when it fails, fresh workers get one more try (a second failure is the day's)."""
        try:
            self.control()
        except BaselineFailed as error:
            self.progress(f"{error}: restarting the validator's workers")
            self.restart()

    @property
    def drifted(self) -> str | None:
        """Why this host's machine drifted beyond what the contest allows (``drift_beyond``), or None."""
        return drift_beyond(self.controls, self.contest.control.drift)

    def control_if_due(self) -> None:
        """The control again once its interval has passed: the machine's speed drifts over a day."""
        if self.clock() - self._control_at >= self.contest.control.interval_s:
            self.fresh_control()

    def baseline_result(self, timings: Timings) -> BenchmarkResult:
        """The baseline as a submission is compared with it: ``timings`` and the reference copy's load and memory."""
        reference = self.reference
        return BenchmarkResult(
            runtime=self.baseline.loaded.runtime,
            load_seconds=reference.load_seconds,
            sample_seconds=timings.sample_seconds,
            memory=reference.memory,
            energy=timings.energy,
            device=self.baseline.loaded.device,
        )

    def _decider(
        self, submission: CheckpointWorker, similarity_of: Callable[[Side, Side], Similarity]
    ) -> Callable[[Side, Side], Stop | None]:
        contest = self.contest

        def decide(baseline: Side, other: Side) -> Stop | None:
            # The minimum over the first block can only fall as images are added: a checkpoint that fails the
            # gate there fails it on the whole set, so it costs one block, not the day's image set.
            similarity = similarity_of(baseline, other)
            if similarity.minimum < contest.similarity.threshold:
                return Stop.DISSIMILAR
            if len(baseline.seconds) < contest.sampling.min_pairs:
                return None
            so_far = compare(
                self.baseline_result(baseline.timings),
                submission.result(other.timings, submission.memory()),
                similarity=None,
                worker_spread=contest.sampling.worker_spread,
            )
            interval = score_interval(so_far, contest)
            if interval.high < contest.minimum_improvement:
                return Stop.CANNOT_QUALIFY
            if precise_enough(baseline, other, contest.sampling):
                return Stop.PRECISE
            # Looking again after every block would pay noise now and then if one 95% interval sufficed to stop:
            # stopping early needs the interval twice as wide to clear the minimum (the last look decides as usual).
            clearly = interval.low - (interval.high - interval.low) / 2 > contest.minimum_improvement
            return Stop.QUALIFIES if clearly else None

        return decide

    def _submission_worker(self, folder: Path) -> CheckpointWorker:
        return CheckpointWorker(
            folder,
            self.contest,
            self.inputs,
            self.submission_session,
            start_timeout_s=self.start_limit_s,
            scratch_in=self.scratch_in,
        )

    def face_to_face(self, earlier: str, earlier_folder: Path, later: str, later_folder: Path) -> FaceToFace:
        """The later entry paired with the earlier one, which takes the baseline's place (the baseline frozen).

        A side that fails now, having been judged once, decides against itself: the earlier failing lets the
        later stand, the later failing holds it.
        """
        known = children()
        self.baseline.freeze()
        try:
            return self._face_to_face(earlier, earlier_folder, later, later_folder)
        finally:
            stop_orphans(known)

    def _face_to_face(self, earlier: str, earlier_folder: Path, later: str, later_folder: Path) -> FaceToFace:
        with ExitStack() as stack:
            workers = []
            for key, folder in ((earlier, earlier_folder), (later, later_folder)):
                try:
                    workers.append(stack.enter_context(self._submission_worker(folder)))
                except WorkerError as error:
                    return _failed_face_to_face(earlier, later, key, f"did not start: {first_line(error)}")
            first, second = workers
            try:
                run = self._pairs_of(first, second, self._precise)
            except BaselineFailed as error:  # the first side: here the earlier entry, not the baseline
                return _failed_face_to_face(earlier, later, earlier, first_line(error.__cause__ or error))
            except WorkerError as error:
                return _failed_face_to_face(earlier, later, later, first_line(error))
            results = []
            for key, worker, side in ((earlier, first, run.baseline), (later, second, run.submission)):
                try:
                    results.append(worker.result(side.timings, worker.finish()))
                except WorkerError as error:
                    return _failed_face_to_face(earlier, later, key, first_line(error))
        comparison = compare(results[0], results[1], similarity=None, worker_spread=self.contest.sampling.worker_spread)
        return FaceToFace(earlier, later, score_interval(comparison, self.contest), run.pairs)

    def _paired(self, folder: Path) -> tuple[PairedRun, BenchmarkResult, Similarity]:
        """Load the submission beside the frozen baseline, pair them, close it; nothing of it may stay behind."""
        known = children()
        self.baseline.freeze()
        similarity = _ComparedOnce(self.encoder)
        try:
            with self._submission_worker(folder) as submission:
                run = self._pairs(submission, self._decider(submission, similarity))
                result = submission.result(run.submission.timings, submission.finish())
        finally:
            left = stop_orphans(known)
        if left:
            shown = ", ".join(f"pid {orphan.pid} ({orphan.command})" for orphan in left)
            raise LeftBehind(f"its worker left processes running: {shown}; they were killed")
        return run, result, similarity(run.baseline, run.submission)

    def measure(self, key: str, folder: Path) -> Outcome:
        """Pair a screened submission with the baseline.

        When the baseline ran slower beside it than its reference allows, the submission is closed, the
        control runs again on a machine with nothing of it left, and it is measured once more: slower
        again, it is out.
        """
        control = self.contest.control
        attempts = 1
        try:
            run, result, similarity = self._paired(folder)
        except LeftBehind as error:
            return Reason(ReasonKind.LEFT_PROCESSES, str(error))
        while (slower := slowdown(run, self.reference, control.drift)).low > control.slowdown_tolerance:
            if attempts == 2:
                message = (
                    f"the baseline ran {slower.value:.1%} slower beside it than beside an identical copy "
                    f"(at least {slower.low:.1%}, twice, the control run again between; "
                    f"the tolerance is {control.slowdown_tolerance:.0%})"
                )
                return Reason(ReasonKind.SLOWED_BASELINE, message)
            self.progress(
                f"the baseline ran {slower.value:.1%} slower beside {key} than beside its copy: measuring again"
            )
            self.control()
            attempts += 1
            try:
                run, result, similarity = self._paired(folder)
            except LeftBehind as error:
                return Reason(ReasonKind.LEFT_PROCESSES, str(error))
        if self.keep_images is not None:
            self.keep_images(key, run.submission.images)
        sampled = Sampled(
            run.pairs, run.stop, tuple(run.baseline.seconds), tuple(run.submission.seconds), slower.value, attempts
        )
        baseline = self.baseline_result(run.baseline.timings)
        return Measurement(baseline, result, similarity, images_digest(run.submission.images), sampled)

    def judge_one(self, key: str, folder: Path) -> Outcome:
        """``measure`` as an outcome: when the validator's own side fails beside it, its workers and the control
        start afresh and it is measured once more; twice, it is left out as the validator's failure."""
        try:
            return _outcome(partial(self.measure, key, folder))
        except BaselineFailed as error:
            self.progress(f"the validator's side failed beside {key} ({error}): restarting it, measuring again")
        self.restart()
        try:
            return _outcome(partial(self.measure, key, folder))
        except BaselineFailed as error:
            self.restart()
            message = f"not judged: the validator's own side failed twice beside it ({first_line(error)})"
            return Reason(ReasonKind.BASELINE_FAILED, message)

    def close(self) -> None:
        self._cleanup.close()

    def __enter__(self) -> Judging:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _ComparedOnce:
    """Each image count compared once: the first block's images for the early gate, then the day's whole set
    (complete at ``min_pairs`` and never changed after), which serves the rest of a run."""

    def __init__(self, encoder: ImageEncoderWorker) -> None:
        self.encoder = encoder
        self.values: dict[int, Similarity] = {}

    def __call__(self, baseline: Side, other: Side) -> Similarity:
        count = len(other.images)
        if count not in self.values:
            try:
                self.values[count] = self.encoder.similarity(baseline.images, other.images)
            except WorkerError as error:
                raise BaselineFailed(f"the image encoder failed: {first_line(error)}") from error
        return self.values[count]


def _failed_face_to_face(earlier: str, later: str, failed: str, how: str) -> FaceToFace:
    message = f"{failed} failed when measured again: {how}"
    return FaceToFace(earlier, later, None, failed=message, earlier_failed=failed == earlier)


class Checkpoints(Protocol):
    """Where judging gets each submission's folder just before measuring it, and lets it go right after.

    ``checkout`` may fetch, and says why a submission cannot be had (download, hash, duplicate, disk).
    """

    def order(self) -> Sequence[str]: ...  # the keys, in the order they are judged

    def checkout(self, key: str) -> Path | Reason: ...

    def release(self, key: str) -> None: ...


class Rivals(Protocol):
    """Which later entry is next measured face to face against which earlier one: (earlier, later), or None
    once the ranking no longer depends on one (``contest.judging.scoring.ranking``)."""

    def next_face_to_face(self, judgements: Mapping[str, Judgement], faced: Faced) -> tuple[str, str] | None: ...


@dataclass(frozen=True)
class Folders:
    """Checkpoints already on disk, left there after judging: the miner's own, a benchmark's."""

    folders: Mapping[str, Path]

    def order(self) -> Sequence[str]:
        return list(self.folders)

    def checkout(self, key: str) -> Path | Reason:
        return self.folders[key]

    def release(self, key: str) -> None:
        pass


@dataclass(frozen=True)
class HostSetup:
    """What every host of a run starts from: the contest's models and inputs, and where its output goes."""

    models: ContestModels
    contest: Contest
    inputs: Sequence[GenerationInput]
    progress: Callable[[str], None]
    keep_images: KeepImages | None
    scratch_in: Path | None
    watch: Callable[[HostActivity], None] | None = None  # each host's every change of activity


# Starts a run's judging hosts, each with its own baseline workers and its first A/A control.
OpenHosts = Callable[[HostSetup], Hosts]


def in_process(setup: HostSetup) -> Hosts:
    """The validator itself as the run's one host."""
    judging = Judging(
        setup.models, setup.contest, setup.inputs, setup.progress, setup.keep_images, scratch_in=setup.scratch_in
    )
    with ExitStack() as stack:
        stack.callback(judging.close)  # a control that cannot run leaves no worker behind
        judging.fresh_control()
        stack.pop_all()
    return InProcessHost(judging)


def judge(
    models: ContestModels,
    submissions: Checkpoints | Mapping[str, Path],
    contest: Contest,
    inputs: Sequence[GenerationInput],
    *,
    progress: Callable[[str], None] = log.info,
    done: Mapping[str, Outcome] | None = None,
    record: Callable[[str, Outcome], None] | None = None,
    closing: Callable[[], bool] = lambda: False,
    keep_images: KeepImages | None = None,
    scratch_in: Path | None = None,
    rivals: Rivals | None = None,
    hosts: OpenHosts = in_process,
    watch_hosts: Callable[[HostActivity], None] | None = None,
) -> JudgingRun:
    """Benchmark the baseline and every submission not in ``done``; ``record`` gets each new outcome at once.

    Each submission is checked out, handed to the first free host (screened, measured) and released once its
    outcome is back; a host lost meanwhile has it judged again elsewhere, once. Once ``closing()`` is true the
    submissions not yet started are left out with that reason (the next day has opened). ``keep_images`` gets
    what the baseline and each measured submission drew; the workers' scratch folders are made in
    ``scratch_in``. Then the face-to-face runs ``rivals`` asks for, at most ``MAX_FACE_TO_FACE``, each pair
    checked out again. ``watch_hosts`` hears what each host of several is doing, as it changes.
    """
    started = time.perf_counter()
    source = Folders(submissions) if isinstance(submissions, Mapping) else submissions
    keys = list(source.order())
    outcomes = dict(done or {})
    setup = HostSetup(models, contest, inputs, progress, keep_images, scratch_in, watch_hosts)
    with contextlib.closing(hosts(setup)) as opened:
        judged_on = _judge_all(opened, source, keys, outcomes, progress, record, closing)
        judgements = {key: Judgement.of(outcomes[key], contest) for key in keys}
        faced: dict[tuple[str, str], FaceToFace] = {}
        while rivals is not None and len(faced) < MAX_FACE_TO_FACE and not closing():
            if (pair := rivals.next_face_to_face(judgements, faced)) is None:
                break
            faced[pair] = _checked_out_face_to_face(opened, source, *pair, progress)
        reports = opened.reports()
    wall = time.perf_counter() - started
    controls = tuple(control for report in reports for control in report.controls)
    timed = sum(report.timed_seconds for report in reports)
    return JudgingRun(reports[0].baseline, judgements, controls, timed, wall, faced, tuple(reports), judged_on)


def _judge_all(
    hosts: Hosts,
    source: Checkpoints,
    keys: Sequence[str],
    outcomes: dict[str, Outcome],
    progress: Callable[[str], None],
    record: Callable[[str, Outcome], None] | None,
    closing: Callable[[], bool],
) -> dict[str, str]:
    """Every key not in ``outcomes`` judged on the first free host; each outcome recorded as it comes back.

    Returns which host judged each key.
    """
    position = {key: f"[{number}/{len(keys)}] {key}" for number, key in enumerate(keys, start=1)}
    for key in keys:
        if key in outcomes:
            progress(f"{position[key]} was judged before the restart")
    pending = deque(key for key in keys if key not in outcomes)
    losses: Counter[str] = Counter()
    judged_on: dict[str, str] = {}
    bar = tqdm(total=len(pending), desc="judging", unit="submission", disable=None)

    def settle(key: str, outcome: Outcome) -> None:
        outcomes[key] = outcome
        bar.update()
        if record is not None and outcome is not NOT_JUDGED:  # a closed day is not resumed
            record(key, outcome)

    with bar:
        while pending or hosts.busy:
            while pending and hosts.free and not closing():
                key = pending.popleft()
                folder = source.checkout(key)
                if isinstance(folder, Reason):
                    progress(f"{position[key]} is out: {folder}")
                    source.release(key)
                    settle(key, folder)
                    continue
                try:
                    hosts.start(key, folder, position[key])
                except BaseException:
                    source.release(key)
                    raise
            if not hosts.busy:
                if pending and not closing():
                    raise BaselineFailed("no judging host is left to judge the day's submissions")
                while pending:
                    settle(pending.popleft(), NOT_JUDGED)
                break
            for done in hosts.finished():  # recorded before ``closing()`` may stop the day
                key, outcome = done.key, done.outcome
                source.release(key)
                if not isinstance(outcome, HostLost):
                    judged_on[key] = done.host
                    settle(key, outcome)
                    continue
                losses[key] += 1
                if losses[key] == 1:
                    progress(f"{position[key]}: its host was lost ({outcome}): judging it again on another")
                    pending.appendleft(key)
                else:
                    settle(key, Reason(ReasonKind.HOST_LOST, f"not judged: its host was lost twice ({outcome})"))
    return judged_on


def _checked_out_face_to_face(
    hosts: Hosts, source: Checkpoints, earlier: str, later: str, progress: Callable[[str], None]
) -> FaceToFace:
    """Both checked out again and paired on one host; either one that cannot be had decides against itself."""
    progress(f"face to face: {later} against {earlier}, committed before it")
    folders: list[Path] = []
    try:
        for key in (earlier, later):
            folder = source.checkout(key)
            if isinstance(folder, Reason):
                return _failed_face_to_face(earlier, later, key, folder.message)
            folders.append(folder)
        faced = hosts.face_to_face(earlier, folders[0], later, folders[1])
    finally:
        for key in (earlier, later):
            source.release(key)
    progress(f"face to face: {later} against {earlier}: {faced.summary}")
    return faced
