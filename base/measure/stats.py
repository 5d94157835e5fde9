"""Medians with bootstrap confidence intervals.

Timings are noisy and skewed (a stray GC pause or clock boost shows up as an outlier), so the contest compares
medians and reports how uncertain each one is instead of trusting a single number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate with the bounds of its confidence interval (``low <= value <= high``)."""

    value: float
    low: float
    high: float

    @property
    def half_width_fraction(self) -> float:
        """Half the interval's width relative to the value: how much the estimate could be off."""
        if self.value == 0:
            return math.inf
        return (self.high - self.low) / 2 / self.value

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


def _checked(samples: Sequence[float], name: str) -> np.ndarray:
    values = np.asarray(samples, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of numbers, got shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains non-finite values: {values[~np.isfinite(values)].tolist()}")
    return values


def _resamplable(values: np.ndarray) -> np.ndarray:
    # scipy refuses one-observation samples; resampling [x, x] draws only x, exactly as resampling [x] would,
    # so a single observation contributes a fixed median and a zero-width interval.
    return np.repeat(values, 2) if values.size == 1 else values


def _estimate(value: float, low: float, high: float) -> Estimate:
    # A percentile interval of a median can, for tiny or lumpy samples, sit just beside the point estimate;
    # widening it to include the value keeps ``low <= value <= high`` for every consumer.
    return Estimate(value=value, low=min(low, value), high=max(high, value))


def _bootstrap(*arguments: Any, **options: Any) -> Any:
    """``scipy.stats.bootstrap``, imported at its first use: the processes that import this module for its types
    alone (every worker, the miner) never compute an interval, and importing scipy.stats costs 0.7 s of each start."""
    from scipy.stats import bootstrap

    return bootstrap(*arguments, **options)


def _median_ratio(baseline: np.ndarray, submission: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(baseline, axis=axis) / np.median(submission, axis=axis)


def median_ci(samples: Sequence[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> Estimate:
    """Median of ``samples`` with a percentile bootstrap interval, reproducible for a given ``seed``."""
    values = _checked(samples, "samples")
    result = _bootstrap(
        (_resamplable(values),),
        np.median,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return _estimate(float(np.median(values)), float(interval.low), float(interval.high))


def widened(estimate: Estimate, relative_sd: float, z: float = 1.96) -> Estimate:
    """The interval with an independent error of ``relative_sd`` (relative to the value) added in quadrature.

    For noise that resampling cannot see: two worker processes running the same model differ by a little
    that no number of pairs between those two averages away. Combined on the log scale, so a ratio's
    interval stays a ratio's (never below 0, symmetric in baseline/submission).
    """
    if relative_sd < 0:
        raise ValueError(f"relative_sd must not be negative, got {relative_sd}")
    if relative_sd == 0 or estimate.value <= 0:
        return estimate
    low = math.log(estimate.value / estimate.low) if estimate.low > 0 else math.inf
    high = math.log(estimate.high / estimate.value)
    extra = (z * relative_sd) ** 2
    return Estimate(
        estimate.value,
        estimate.value * math.exp(-math.sqrt(low**2 + extra)),
        estimate.value * math.exp(math.sqrt(high**2 + extra)),
    )


def ratio_ci(
    baseline: Sequence[float],
    submission: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    paired: bool = False,
) -> Estimate:
    """How many times faster the submission is than the baseline: above 1 means faster.

    Durations measured in alternation (``paired``: the i-th of each taken back to back) give one ratio
    per pair, and the estimate is the median of those ratios with a bootstrap interval over pairs: the
    machine's slow drift and bursts of noise hit both halves of a pair alike and cancel. Separate runs
    give ``median(baseline) / median(submission)``, each sample resampled independently. Durations must
    be positive, so that every ratio is finite.
    """
    base = _checked(baseline, "baseline")
    sub = _checked(submission, "submission")
    for name, values in (("baseline", base), ("submission", sub)):
        if (values <= 0).any():
            raise ValueError(f"{name} durations must be positive, got {values[values <= 0].tolist()}")
    if paired:
        if base.size != sub.size:
            raise ValueError(f"paired samples differ in length: {base.size} and {sub.size}")
        return median_ci(base / sub, confidence, resamples, seed)
    result = _bootstrap(
        (_resamplable(base), _resamplable(sub)),
        _median_ratio,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        paired=False,
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return _estimate(float(_median_ratio(base, sub)), float(interval.low), float(interval.high))
