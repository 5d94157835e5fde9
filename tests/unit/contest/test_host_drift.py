"""When a host's machine has drifted: its baseline's time in the latest A/A control against its first, with
intervals, beyond the change of speed the contest allows any machine between runs."""

from __future__ import annotations

import numpy as np
import pytest

from base.measure import Estimate, MemoryReading
from contest.judging.judge import Reference, drift_beyond
from contest.judging.pairing import Stop

DRIFT = 0.15  # the tiny contest's


def control(median_s: float, after: int, spread: float = 0.01, pairs: int = 24) -> Reference:
    """A control whose baseline took ``median_s`` per image, each time within ``spread`` of it."""
    samples = tuple(median_s * (1.0 + spread * np.sin(np.arange(pairs) * 1.7)))
    unused = Estimate(1.0, 1.0, 1.0)
    return Reference(unused, samples, unused, pairs, Stop.PRECISE, after, 0.5, MemoryReading(0, "cpu", None))


def test_one_control_cannot_have_drifted() -> None:
    assert drift_beyond([control(0.150, 0)], DRIFT) is None


@pytest.mark.parametrize("later_s", [0.150, 0.160, 0.170, 0.135])
def test_a_change_within_the_allowance_is_no_drift(later_s: float) -> None:
    assert drift_beyond([control(0.150, 0), control(0.155, 3), control(later_s, 6)], DRIFT) is None


def test_a_baseline_a_third_slower_than_at_the_first_control_has_drifted() -> None:
    why = drift_beyond([control(0.150, 0), control(0.200, 4)], DRIFT)
    assert why is not None
    assert why.startswith("its baseline ran 33% slower in its control after 4 submissions than in its first (1.333 [")
    assert why.endswith("beyond the 15% the contest allows")


def test_a_baseline_much_faster_than_at_the_first_control_has_drifted_too() -> None:
    why = drift_beyond([control(0.150, 0), control(0.100, 2)], DRIFT)
    assert why is not None and "33% faster" in why and "0.667 [" in why


def test_a_change_just_past_the_allowance_whose_interval_reaches_back_is_no_drift() -> None:
    """Noisy controls: the point estimate is past 15%, the interval is not wholly past it."""
    assert drift_beyond([control(0.150, 0, spread=0.2), control(0.176, 5, spread=0.2)], DRIFT) is None
