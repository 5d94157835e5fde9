"""A submission's measurements against the baseline's, on the same inputs and device."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from base.measure import Estimate, median_ci, ratio_ci, widened
from contest.judging.checkpoint_worker import BenchmarkResult
from contest.judging.similarity import Similarity


@dataclass(frozen=True)
class Comparison:
    baseline_time: Estimate
    submission_time: Estimate
    speed_ratio: Estimate  # baseline / submission median time: above 1 is faster
    similarity: Similarity | None  # None while sampling is still deciding
    memory_ratio: float  # baseline / submission peak memory
    energy_ratio: float | None  # baseline / submission joules per image, where both were measured
    load_ratio: float  # baseline / submission load time


def _ratio(baseline: float | None, submission: float | None) -> float | None:
    if baseline is None or submission is None or submission <= 0:
        return None
    return baseline / submission


def speed_ratio(baseline: Sequence[float], submission: Sequence[float], worker_spread: float) -> Estimate:
    """Paired times' ratio (the i-th of each timed back to back, ``contest.judging.pairing``) with its 95% interval,
    widened by the spread between workers that pairs cannot show."""
    return widened(ratio_ci(baseline, submission, paired=True), worker_spread)


def compare(
    baseline: BenchmarkResult, submission: BenchmarkResult, similarity: Similarity | None, worker_spread: float
) -> Comparison:
    return Comparison(
        baseline_time=median_ci(baseline.sample_seconds),
        submission_time=median_ci(submission.sample_seconds),
        speed_ratio=speed_ratio(baseline.sample_seconds, submission.sample_seconds, worker_spread),
        similarity=similarity,
        memory_ratio=baseline.memory.peak_bytes / submission.memory.peak_bytes,
        energy_ratio=_ratio(baseline.joules_per_image, submission.joules_per_image),
        load_ratio=baseline.load_seconds / submission.load_seconds,
    )
