import math

import pytest

from base.similarity import Similarity
from base.stats import Estimate
from contest.compare import Comparison
from contest.definitions import get_contest
from contest.scoring import MARGIN_FLOOR, Entry, Verdict, rank, score, weights

CONTEST = get_contest("tiny-sdxl-cpu")


def comparison(speed: float, half_width: float = 0.01, ssim: float = 0.999) -> Comparison:
    return Comparison(
        baseline_time=Estimate(0.1, 0.099, 0.101),
        submission_time=Estimate(0.1 / speed, 0.099 / speed, 0.101 / speed),
        speed_ratio=Estimate(speed, speed * (1 - half_width), speed * (1 + half_width)),
        similarity=Similarity(mean=ssim, minimum=ssim, per_image=(ssim,)),
        memory_ratio=1.0,
        energy_ratio=None,
        load_ratio=1.0,
    )


def test_baseline_scores_zero_and_faster_scores_positive() -> None:
    assert score(comparison(1.0), CONTEST).score == pytest.approx(0.0)
    assert score(comparison(1.5), CONTEST).score == pytest.approx(0.5)
    assert score(comparison(0.8), CONTEST).score < 0


def test_metric_weights_are_exponents_of_the_ratios() -> None:
    leaner = comparison(1.0)
    leaner = Comparison(**{**leaner.__dict__, "memory_ratio": 2.0})
    expected = 2.0**CONTEST.metric_weights.memory - 1
    assert score(leaner, CONTEST).score == pytest.approx(expected)


def test_below_similarity_threshold_is_invalid_with_the_reason() -> None:
    verdict = score(comparison(3.0, ssim=0.5), CONTEST)
    assert not verdict.valid
    assert "below the threshold" in verdict.reason


def entry(key: str, block: int, value: float | None, uncertainty: float = 0.005) -> Entry:
    return Entry(key, block, Verdict(value, uncertainty, None if value is not None else "broken"))


def test_later_submission_within_noise_does_not_take_the_lead() -> None:
    early = entry("early", 10, 0.30, uncertainty=0.02)
    copy_plus_one_percent = entry("later", 20, 0.30 * 1.01 + 0.01, uncertainty=0.02)
    assert [e.key for e in rank([copy_plus_one_percent, early])] == ["early", "later"]


def test_clearly_faster_later_submission_takes_the_lead() -> None:
    early = entry("early", 10, 0.30, uncertainty=0.02)
    better = entry("later", 20, 0.60, uncertainty=0.02)
    assert [e.key for e in rank([early, better])] == ["later", "early"]


def test_margin_never_falls_below_the_floor() -> None:
    early = entry("early", 10, 0.30, uncertainty=0.0)
    later = entry("later", 20, 0.30 + MARGIN_FLOOR * 0.9, uncertainty=0.0)
    assert rank([early, later])[0].key == "early"


def test_earlier_submission_with_higher_score_stays_ahead() -> None:
    assert [e.key for e in rank([entry("b", 20, 0.1), entry("a", 10, 0.5)])] == ["a", "b"]


def test_invalid_entries_are_not_ranked() -> None:
    assert [e.key for e in rank([entry("x", 1, None), entry("y", 2, 0.1)])] == ["y"]


def test_weights_sum_to_one_favour_the_winner_and_are_reproducible() -> None:
    entries = [entry("a", 1, 0.5), entry("b", 2, 0.2), entry("c", 3, 0.1), entry("d", 4, -0.1)]
    ranked = rank(entries)
    shares = weights(ranked)
    assert math.isclose(sum(shares.values()), 1.0)
    assert shares["a"] > shares["b"] > shares["c"]
    assert "d" not in shares  # slower than the baseline earns nothing while others beat it
    assert weights(rank(list(reversed(entries)))) == shares


def test_when_nobody_beats_the_baseline_valid_entries_share() -> None:
    shares = weights(rank([entry("a", 1, -0.01), entry("b", 2, -0.2)]))
    assert math.isclose(sum(shares.values()), 1.0) and shares["a"] > shares["b"]
    assert weights([]) == {}
