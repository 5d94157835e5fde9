import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.measure import Estimate
from contest.definitions import get_contest
from contest.judging.compare import Comparison
from contest.judging.reasons import ReasonKind
from contest.judging.scoring import (
    Entry,
    FaceToFace,
    Verdict,
    clearly_beats,
    rank,
    ranking,
    score,
    score_interval,
    weight_vector,
    weights,
)
from contest.judging.similarity import Similarity

CONTEST = get_contest("tiny-sdxl-cpu")
MARGIN = CONTEST.tie_margin


def images_scoring(*scores: float) -> Similarity:
    return Similarity.of(scores, ssim=scores, clip=scores)


def comparison(
    speed: float, half_width: float = 0.01, ssim: float = 0.999, similarity: Similarity | None = None, **ratios: float
) -> Comparison:
    return Comparison(
        baseline_time=Estimate(0.1, 0.099, 0.101),
        submission_time=Estimate(0.1 / speed, 0.099 / speed, 0.101 / speed),
        speed_ratio=Estimate(speed, speed * (1 - half_width), speed * (1 + half_width)),
        similarity=similarity or images_scoring(ssim),
        memory_ratio=ratios.get("memory", 1.0),
        energy_ratio=ratios.get("energy"),
        load_ratio=ratios.get("load", 1.0),
    )


def test_baseline_scores_zero_and_faster_scores_positive() -> None:
    assert score(comparison(1.0), CONTEST).score == pytest.approx(0.0)
    assert score(comparison(1.5), CONTEST).score == pytest.approx(0.5)
    assert score(comparison(0.8), CONTEST).score < 0


def test_the_score_interval_follows_the_speed_ratio_interval() -> None:
    verdict = score(comparison(1.5, half_width=0.1), CONTEST)
    assert (verdict.low, verdict.score, verdict.high) == pytest.approx((0.35, 0.5, 0.65))


def test_metric_weights_are_exponents_of_the_ratios() -> None:
    expected = 2.0**CONTEST.metric_weights.memory - 1
    assert score(comparison(1.0, memory=2.0), CONTEST).score == pytest.approx(expected)


def test_a_faster_load_earns_nothing_and_a_slower_one_costs() -> None:
    assert score_interval(comparison(1.0, load=5.0), CONTEST).value == pytest.approx(0.0)
    slower = score_interval(comparison(1.0, load=0.5), CONTEST).value
    assert slower == pytest.approx(0.5**CONTEST.metric_weights.load - 1)


def test_only_an_interval_above_the_minimum_improvement_is_significant() -> None:
    needed = 1 + CONTEST.minimum_improvement
    assert score(comparison(needed * 1.2, half_width=0.05), CONTEST).significant
    assert not score(comparison(needed, half_width=0.05), CONTEST).significant  # its interval reaches below
    assert not score(comparison(1.0, half_width=0.001), CONTEST).significant  # precisely the baseline


def test_below_similarity_threshold_is_invalid_with_the_reason() -> None:
    verdict = score(comparison(3.0, ssim=0.5), CONTEST)
    assert not verdict.valid and not verdict.significant
    assert verdict.reason.kind == ReasonKind.SIMILARITY and "below the threshold" in verdict.reason.message


def test_one_broken_picture_among_good_ones_is_invalid_by_the_minimum() -> None:
    gate = CONTEST.similarity
    broken = gate.threshold - 0.1
    verdict = score(comparison(3.0, similarity=images_scoring(*[0.999] * 11, broken)), CONTEST)
    assert verdict.reason.kind == ReasonKind.SIMILARITY
    assert verdict.reason.message == f"similarity {broken:.4f} is below the threshold {gate.threshold:.2f}"


def test_pictures_each_a_little_off_are_invalid_by_the_mean_though_none_is_below_the_minimum() -> None:
    gate = CONTEST.similarity
    off = (gate.threshold + gate.mean_threshold) / 2  # each above the minimum's bar, so the mean is below its own
    verdict = score(comparison(3.0, similarity=images_scoring(*[off] * 12)), CONTEST)
    assert verdict.reason.kind == ReasonKind.SIMILARITY
    assert verdict.reason.message == f"mean similarity {off:.4f} is below the threshold {gate.mean_threshold:.2f}"
    assert score(comparison(3.0, similarity=images_scoring(*[gate.mean_threshold] * 12)), CONTEST).valid


def entry(key: str, block: int, value: float | None, half: float = 0.005, significant: bool = True) -> Entry:
    if value is None:
        return Entry(key, block, Verdict(None, reason="broken"))
    return Entry(key, block, Verdict(value, value - half, value + half, significant))


def keys(entries: list[Entry]) -> list[str]:
    return [placed.entry.key for placed in rank(entries, MARGIN)]


def test_a_later_submission_within_the_noise_does_not_take_the_lead() -> None:
    early = entry("early", 10, 0.30, half=0.02)
    lucky_copy = entry("later", 20, 0.30 * 1.01 + 0.01, half=0.02)
    assert keys([lucky_copy, early]) == ["early", "later"]
    assert [p.tier for p in rank([lucky_copy, early], MARGIN)] == [1, 1]


def test_a_clearly_faster_later_submission_takes_the_lead() -> None:
    assert keys([entry("early", 10, 0.30, half=0.02), entry("later", 20, 0.60, half=0.02)]) == ["later", "early"]


def test_the_margin_never_falls_below_the_contest_tie_margin() -> None:
    early, later = entry("early", 10, 0.30, half=0.0), entry("later", 20, 0.30 + MARGIN * 0.9, half=0.0)
    assert keys([early, later])[0] == "early"


def test_an_earlier_submission_with_a_higher_score_stays_ahead() -> None:
    assert keys([entry("b", 20, 0.1), entry("a", 10, 0.5)]) == ["a", "b"]


def test_invalid_entries_are_not_ranked() -> None:
    assert keys([entry("x", 1, None), entry("y", 2, 0.1)]) == ["y"]


def test_one_noisy_early_entry_does_not_block_those_committed_after_it() -> None:
    """The day the old insertion rule ranked a +0.43 fifth: now scores decide, in tiers."""
    noisy = entry("noisy", 1, 0.018, half=0.40)
    clear = [entry(f"clear-{i}", 2 + i, value, half=0.02) for i, value in enumerate((0.43, 0.30, 0.20))]
    order = keys([noisy, *clear])
    assert order.index("clear-0") < order.index("clear-1") < order.index("clear-2")


def test_weights_sum_to_one_favour_the_winner_and_skip_what_is_not_significant() -> None:
    entries = [entry("a", 1, 0.9), entry("b", 2, 0.5), entry("c", 3, 0.2), entry("d", 4, 0.01, significant=False)]
    shares = weights(rank(entries, MARGIN))
    assert math.isclose(sum(shares.values()), 1.0)
    assert shares["a"] > shares["b"] > shares["c"] and "d" not in shares
    assert weights(rank(list(reversed(entries)), MARGIN)) == shares


def test_a_later_copy_in_the_leaders_tier_earns_nothing_however_many_commit_it() -> None:
    leader = entry("leader", 1, 0.40)
    copies = [entry(f"copy-{i}", 2 + i, 0.40 + 0.005 * (i % 3 - 1)) for i in range(5)]
    slower = entry("slower", 9, 0.10)
    placed = rank([*copies, slower, leader], MARGIN)
    assert {p.entry.key for p in placed if p.tier == 1} == {"leader", *(c.key for c in copies)}
    shares = weights(placed)
    assert set(shares) == {"leader", "slower"}
    assert shares["leader"] == 2 * shares["slower"]


def test_with_no_significant_submission_the_weight_follows_the_contest_policy() -> None:
    shares = weights(rank([entry("a", 1, 0.01, significant=False), entry("b", 2, -0.2, significant=False)], MARGIN))
    assert shares == {}
    vector = weight_vector(shares, {"a": 3, "b": 4}, CONTEST)
    assert vector.uids == (CONTEST.no_winner_uid,) and vector.weights == (1.0,)
    assert f"uid {CONTEST.no_winner_uid}" in vector.policy
    paid = weight_vector({"a": 0.75, "b": 0.25}, {"a": 3, "b": 4}, CONTEST)
    assert (paid.uids, paid.weights) == ((3, 4), (0.75, 0.25))


# --- face to face: a leader later than an entry near it earns only once told apart from it in one run

MINIMUM = CONTEST.minimum_improvement


def faced(earlier: str, later: str, value: float, half: float = 0.01) -> FaceToFace:
    """``later``'s score with ``earlier`` in the baseline's place."""
    return FaceToFace(earlier, later, Estimate(value, value - half, value + half), pairs=12)


def test_a_copy_that_drew_a_fast_run_asks_to_meet_the_original_and_is_held_until_it_has() -> None:
    original, copy = entry("original", 1, 0.37, half=0.03), entry("copy", 2, 0.60, half=0.03)
    assert keys([original, copy]) == ["copy", "original"]  # apart, the drift between their runs decides
    pending = ranking([original, copy], MARGIN, MINIMUM, {})
    assert pending.next_face_to_face == ("original", "copy")
    assert pending.shares == {"original": 1.0} and pending.held == {"copy": "original"}
    settled = ranking([original, copy], MARGIN, MINIMUM, {("original", "copy"): faced("original", "copy", 0.004)})
    assert settled.next_face_to_face is None and settled.held == {"copy": "original"}
    assert [(p.entry.key, p.tier) for p in settled.placed] == [("original", 1), ("copy", 1)]
    assert settled.shares == {"original": 1.0}


def test_a_later_entry_that_improves_on_the_earlier_one_face_to_face_takes_the_lead() -> None:
    early, better = entry("early", 1, 0.30, half=0.02), entry("better", 2, 0.60, half=0.02)
    settled = ranking([early, better], MARGIN, MINIMUM, {("early", "better"): faced("early", "better", 0.23)})
    assert settled.next_face_to_face is None and settled.held == {}
    assert keys([early, better]) == [p.entry.key for p in settled.placed] == ["better", "early"]
    assert settled.shares == {"better": 2 / 3, "early": 1 / 3}


def test_an_improvement_within_the_minimum_face_to_face_is_held() -> None:
    early, slight = entry("early", 1, 0.30, half=0.02), entry("slight", 2, 0.60, half=0.02)
    settled = ranking([early, slight], MARGIN, MINIMUM, {("early", "slight"): faced("early", "slight", MINIMUM, 0.01)})
    assert settled.held == {"slight": "early"} and settled.shares == {"early": 1.0}


def test_a_copy_that_drew_a_slow_run_is_held_behind_the_original_above_it() -> None:
    """Alone in a lower tier it would lead and earn; face to face it is the original's model."""
    original, middle = entry("original", 1, 0.60, half=0.02), entry("middle", 2, 0.20, half=0.02)
    copy = entry("copy", 3, 0.40, half=0.02)
    assert [(p.entry.key, p.tier) for p in rank([original, middle, copy], MARGIN)] == [
        ("original", 1), ("copy", 2), ("middle", 3)
    ]  # fmt: skip
    first = ranking([original, middle, copy], MARGIN, MINIMUM, {})
    assert first.next_face_to_face == ("original", "copy")  # the nearest earlier entry above it
    runs = {("original", "copy"): faced("original", "copy", -0.01)}
    second = ranking([original, middle, copy], MARGIN, MINIMUM, runs)
    assert second.next_face_to_face == ("original", "middle")  # now the second tier's leader, later than the first's
    assert second.held == {"copy": "original", "middle": "original"}  # the middle one until it is measured
    runs[("original", "middle")] = faced("original", "middle", -0.25)  # another model: its place stands
    settled = ranking([original, middle, copy], MARGIN, MINIMUM, runs)
    assert settled.next_face_to_face is None and settled.held == {"copy": "original"}
    assert [(p.entry.key, p.tier) for p in settled.placed] == [("original", 1), ("copy", 1), ("middle", 2)]
    assert settled.shares == {"original": 2 / 3, "middle": 1 / 3}


def test_a_side_that_fails_when_measured_again_decides_against_itself() -> None:
    early, later = entry("early", 1, 0.30, half=0.02), entry("later", 2, 0.60, half=0.02)
    earlier_failed = FaceToFace("early", "later", None, failed="early failed", earlier_failed=True)
    assert ranking([early, later], MARGIN, MINIMUM, {("early", "later"): earlier_failed}).shares["later"] == 2 / 3
    later_failed = FaceToFace("early", "later", None, failed="later failed", earlier_failed=False)
    assert ranking([early, later], MARGIN, MINIMUM, {("early", "later"): later_failed}).shares == {"early": 1.0}


# --- properties over arbitrary days


@st.composite
def days(draw: st.DrawFn) -> list[Entry]:
    count = draw(st.integers(0, 12))
    blocks = draw(st.lists(st.integers(0, 50), min_size=count, max_size=count))
    entries = []
    for index, block in enumerate(blocks):
        if draw(st.booleans()) and draw(st.booleans()):
            entries.append(entry(f"k{index:02d}", block, None))
            continue
        value = draw(st.floats(-0.5, 1.5, allow_nan=False))
        half = draw(st.floats(0.0, 0.3, allow_nan=False))
        significant = value - half > CONTEST.minimum_improvement
        entries.append(entry(f"k{index:02d}", block, value, half, significant=significant))
    return entries


@settings(max_examples=300, deadline=None)
@given(days(), st.randoms(use_true_random=False))
def test_the_order_of_the_input_never_matters(entries: list[Entry], shuffler) -> None:
    shuffled = list(entries)
    shuffler.shuffle(shuffled)
    assert rank(shuffled, MARGIN) == rank(entries, MARGIN)


@settings(max_examples=300, deadline=None)
@given(days())
def test_an_entry_that_clearly_beats_another_always_ranks_above_it(entries: list[Entry]) -> None:
    """Across significance too: an interval reaching below the minimum cannot clearly beat one above it."""
    placed = {p.entry.key: p for p in rank(entries, MARGIN)}
    for a in placed.values():
        for b in placed.values():
            if clearly_beats(a.entry.verdict, b.entry.verdict, MARGIN):
                assert a.rank < b.rank and a.tier < b.tier


@settings(max_examples=300, deadline=None)
@given(days())
def test_an_ineligible_entry_never_ranks_above_an_eligible_one(entries: list[Entry]) -> None:
    placed = rank(entries, MARGIN)
    assert all(p.entry.verdict.valid for p in placed)
    assert len(placed) == sum(e.verdict.valid for e in entries)
    kinds = [p.entry.verdict.significant for p in placed]
    assert kinds == sorted(kinds, reverse=True)


@settings(max_examples=300, deadline=None)
@given(days())
def test_weights_never_rise_down_the_tiers_and_only_significant_tier_leaders_earn(entries: list[Entry]) -> None:
    placed = rank(entries, MARGIN)
    shares = weights(placed)
    leaders = {}
    for p in placed:
        leaders.setdefault(p.tier, p)
    by_tier = [shares.get(leader.entry.key, 0.0) for _, leader in sorted(leaders.items())]
    assert all(upper >= lower for upper, lower in itertools.pairwise(by_tier))
    assert all(next(e for e in entries if e.key == key).verdict.significant for key in shares)
    assert all(leaders[p.tier] is p for p in placed if p.entry.key in shares)
    assert not shares or math.isclose(sum(shares.values()), 1.0)


@settings(max_examples=300, deadline=None)
@given(days())
def test_within_a_tier_the_earliest_commit_leads(entries: list[Entry]) -> None:
    placed = rank(entries, MARGIN)
    for upper, lower in itertools.pairwise(placed):
        if upper.tier == lower.tier:
            assert (upper.entry.commit_block, upper.entry.key) < (lower.entry.commit_block, lower.entry.key)


@st.composite
def days_with_runs(draw: st.DrawFn) -> tuple[list[Entry], dict[tuple[str, str], FaceToFace]]:
    """A day and a face-to-face result for any pair of its entries, by commit order."""
    entries = draw(days())
    runs = {}
    ordered = sorted(entries, key=lambda e: (e.commit_block, e.key))
    for index, earlier in enumerate(ordered):
        for later in ordered[index + 1 :]:
            if draw(st.booleans()):
                runs[(earlier.key, later.key)] = faced(earlier.key, later.key, draw(st.floats(-0.5, 0.8)), 0.02)
    return entries, runs


@settings(max_examples=300, deadline=None)
@given(days_with_runs(), st.randoms(use_true_random=False))
def test_face_to_face_settles_whatever_the_runs_say_and_never_pays_an_unmeasured_later_lead(
    day: tuple[list[Entry], dict[tuple[str, str], FaceToFace]], shuffler
) -> None:
    entries, runs = day
    settled = ranking(entries, MARGIN, MINIMUM, runs)
    shuffled = list(entries)
    shuffler.shuffle(shuffled)
    assert ranking(shuffled, MARGIN, MINIMUM, runs) == settled
    assert len(settled.placed) == sum(e.verdict.valid for e in entries)
    assert not settled.shares or math.isclose(sum(settled.shares.values()), 1.0)
    placed = {p.entry.key: p for p in settled.placed}
    for key in settled.shares:  # an earner's place past any earlier entry near it was measured and stands
        earner = placed[key]
        earlier = [p for p in settled.placed if (p.entry.commit_block, p.entry.key) < (earner.entry.commit_block, key)]
        if below := [p for p in earlier if p.rank > earner.rank]:
            assert runs[(below[0].entry.key, key)].later_stands_above(MINIMUM)
        if above := [p for p in earlier if p.rank < earner.rank]:
            assert runs[(above[-1].entry.key, key)].later_stands_below(MINIMUM)
    for later, earlier in settled.held.items():
        assert placed[later].tier == placed[_home(earlier, settled.held)].tier
        assert placed[later].entry.key not in settled.shares


def _home(key: str, held: dict[str, str]) -> str:
    while key in held:
        key = held[key]
    return key
