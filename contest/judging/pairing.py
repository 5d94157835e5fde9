"""Two workers measured against each other: one image each per input, in ABBA blocks, the idle one frozen.

Alternation cancels the machine's slow drift; ABBA order keeps either side from always going first;
freezing the idle worker (SIGSTOP to its process group) means nothing it left running, such as a
runtime's spinning thread pool, can take the machine from the side being timed. Pairs are added a
block at a time until ``decide`` sees enough, or a cap is reached. Only the first ``min_pairs``
images are kept: they are the day's image set, the same for every submission.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from base.errors import first_line
from base.isolation import WorkerError
from base.measure import EnergyReading, total_energy
from contest.definitions import SamplingPolicy
from contest.judging.checkpoint_worker import CheckpointWorker, TimedImage, Timings
from pipelines.generation import GenerationInput


class BaselineFailed(RuntimeError):
    """The validator's own side failed (the baseline, the control's copy of it, the image encoder): never a
    submission's fault."""


class Stop(StrEnum):
    """Why sampling stopped; the leaderboard publishes it with each comparison."""

    PRECISE = "precise"
    CANNOT_QUALIFY = "cannot-qualify"
    QUALIFIES = "qualifies"
    DISSIMILAR = "dissimilar"
    PAIR_CAP = "pair-cap"
    TIME_CAP = "time-cap"

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    Stop.PRECISE: "the speed ratio's 95% interval reached the target half-width",
    Stop.CANNOT_QUALIFY: "the score's 95% interval lies below the minimum improvement",
    Stop.QUALIFIES: "the score's 95% interval lies above the minimum improvement",
    Stop.DISSIMILAR: "its images fail the similarity gate",
    Stop.PAIR_CAP: "the cap on pairs",
    Stop.TIME_CAP: "the cap on seconds",
}


@dataclass
class Side:
    """One worker's part of a run: every image's time and energy, the images of the day's set."""

    seconds: list[float] = field(default_factory=list)
    energies: list[EnergyReading] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)

    def add(self, timed: TimedImage, keep_image: bool) -> None:
        self.seconds.append(timed.seconds)
        self.energies.append(timed.energy)
        if keep_image:
            self.images.append(timed.image)

    @property
    def timings(self) -> Timings:
        return Timings(tuple(self.seconds), total_energy(self.energies))


Decide = Callable[[Side, Side], Stop | None]


@dataclass(frozen=True)
class PairedRun:
    """The two sides of a run; in the A/A control the submission's side is the baseline's identical copy."""

    baseline: Side
    submission: Side
    stop: Stop

    @property
    def pairs(self) -> int:
        return len(self.baseline.seconds)


def order_of(index: int) -> tuple[int, int]:
    """ABBA: the baseline leads in pairs 0 and 3 of every four, the submission in pairs 1 and 2."""
    return (0, 1) if index % 4 in (0, 3) else (1, 0)


def measure_pairs(
    baseline: CheckpointWorker,
    submission: CheckpointWorker,
    inputs: Sequence[GenerationInput],
    sampling: SamplingPolicy,
    image_limit_s: float,
    decide: Decide,
    clock: Callable[[], float] = time.monotonic,
) -> PairedRun:
    """Pairs in blocks until ``decide`` (asked after each block) or a cap stops them; the time cap never stops a run
    before the day's image set (``min_pairs``) is complete.

    A failure of the baseline is ``BaselineFailed``: the validator's, never the submission's.
    """
    if len(inputs) < sampling.max_pairs:
        raise ValueError(f"{sampling.max_pairs} pairs need as many inputs, got {len(inputs)}")
    workers, sides = (baseline, submission), (Side(), Side())
    started = clock()
    for index in range(sampling.max_pairs):
        for side in order_of(index):
            workers[1 - side].freeze()
            try:
                timed = workers[side].generate(inputs[index], timeout_s=image_limit_s)
            except WorkerError as error:
                if side == 0:
                    raise BaselineFailed(f"the baseline failed: {first_line(error)}") from error
                raise
            sides[side].add(timed, keep_image=index < sampling.min_pairs)
        pairs = index + 1
        if pairs % sampling.block_pairs and pairs < sampling.max_pairs:
            continue
        stop = decide(*sides)
        if stop is None and pairs >= sampling.min_pairs and clock() - started >= sampling.max_seconds:
            stop = Stop.TIME_CAP
        if stop is not None:
            return PairedRun(*sides, stop)
    return PairedRun(*sides, Stop.PAIR_CAP)
