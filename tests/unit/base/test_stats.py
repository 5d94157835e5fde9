import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.measure import Estimate, median_ci, ratio_ci, widened


def durations(median: float, count: int = 60, seed: int = 1) -> np.ndarray:
    """Right-skewed positive samples whose population median is exactly ``median``."""
    rng = np.random.default_rng(seed)
    return median * rng.lognormal(mean=0.0, sigma=0.05, size=count)


def test_estimate_half_width_fraction_and_contains() -> None:
    estimate = Estimate(value=2.0, low=1.9, high=2.3)
    assert estimate.half_width_fraction == pytest.approx(0.1)
    assert estimate.contains(1.9) and estimate.contains(2.3) and estimate.contains(2.0)
    assert not estimate.contains(1.89) and not estimate.contains(2.31)
    assert Estimate(value=0.0, low=-1.0, high=1.0).half_width_fraction == math.inf


def test_median_ci_contains_the_true_median_and_separates_distinct_medians() -> None:
    fast = median_ci(durations(0.10))
    slow = median_ci(durations(0.20, seed=2))
    assert fast.contains(0.10)
    assert slow.contains(0.20)
    assert fast.high < slow.low
    assert fast.value == pytest.approx(float(np.median(durations(0.10))))


def test_median_ci_of_one_sample_is_that_sample() -> None:
    assert median_ci([0.25]) == Estimate(value=0.25, low=0.25, high=0.25)


def test_median_ci_is_reproducible_for_a_seed() -> None:
    samples = durations(0.1, count=15)
    assert median_ci(samples, seed=3) == median_ci(samples, seed=3)
    assert ratio_ci(samples, samples[::-1] * 0.9, seed=3) == ratio_ci(samples, samples[::-1] * 0.9, seed=3)
    assert median_ci(samples, seed=3) != median_ci(samples, seed=4)


def test_wider_confidence_gives_a_wider_interval() -> None:
    samples = durations(0.1, count=30)
    narrow = median_ci(samples, confidence=0.5)
    wide = median_ci(samples, confidence=0.99)
    assert wide.low <= narrow.low and narrow.high <= wide.high
    assert wide.high - wide.low > narrow.high - narrow.low


def test_ratio_of_identical_samples_is_one() -> None:
    samples = durations(0.1)
    ratio = ratio_ci(samples, samples)
    assert ratio.value == pytest.approx(1.0)
    assert ratio.contains(1.0)


def test_ratio_of_a_twice_as_fast_submission_is_two() -> None:
    baseline = durations(0.2)
    ratio = ratio_ci(baseline, baseline * 0.5)
    assert ratio.value == pytest.approx(2.0)
    assert ratio.contains(2.0)
    assert ratio.half_width_fraction < 0.05


def test_ratio_direction_above_one_means_submission_faster() -> None:
    slow, fast = durations(0.3, seed=5), durations(0.1, seed=6)
    assert ratio_ci(slow, fast).low > 2.5
    assert ratio_ci(fast, slow).high < 0.4


def test_ratio_with_single_samples() -> None:
    assert ratio_ci([0.4], [0.2]) == Estimate(value=2.0, low=2.0, high=2.0)
    mixed = ratio_ci([0.4], durations(0.2))
    assert mixed.low < mixed.value < mixed.high
    assert mixed.contains(2.0)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [1.0, float("inf")], [[1.0, 2.0]]])
def test_invalid_samples_are_rejected(bad: list) -> None:
    with pytest.raises(ValueError):
        median_ci(bad)
    with pytest.raises(ValueError):
        ratio_ci(bad, [1.0, 2.0])
    with pytest.raises(ValueError):
        ratio_ci([1.0, 2.0], bad)


@pytest.mark.parametrize("bad", [[0.0, 1.0], [-1.0, 1.0]])
def test_ratio_rejects_non_positive_durations(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="positive"):
        ratio_ci([1.0, 2.0], bad)
    with pytest.raises(ValueError, match="positive"):
        ratio_ci(bad, [1.0, 2.0])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(min_value=1e-3, max_value=10.0), min_size=1, max_size=12))
def test_interval_always_brackets_the_estimate(samples: list[float]) -> None:
    for estimate in (median_ci(samples, resamples=200), ratio_ci(samples, samples[::-1], resamples=200)):
        assert estimate.low <= estimate.value <= estimate.high


def test_widening_adds_an_independent_error_in_quadrature_on_the_log_scale() -> None:
    narrow = Estimate(value=1.0, low=math.exp(-0.03), high=math.exp(0.03))
    wide = widened(narrow, relative_sd=0.02)
    expected = math.sqrt(0.03**2 + (1.96 * 0.02) ** 2)
    assert (math.log(wide.high), -math.log(wide.low)) == pytest.approx((expected, expected))
    assert widened(narrow, 0.0) == narrow and widened(Estimate(2.0, 2.0, 2.0), 0.01).low < 2.0


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.1, 10.0),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.2),
)
def test_a_widened_interval_always_holds_the_original(value: float, below: float, above: float, sd: float) -> None:
    original = Estimate(value, value * math.exp(-below), value * math.exp(above))
    wide = widened(original, sd)
    assert wide.low <= original.low * (1 + 1e-12) and wide.high >= original.high * (1 - 1e-12)
    assert wide.value == value and 0 < wide.low <= value <= wide.high
    with pytest.raises(ValueError):
        widened(original, -0.1)
