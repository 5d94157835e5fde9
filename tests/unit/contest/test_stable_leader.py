"""First place is defended: a challenger takes it only by scoring above the leader plus the leader margin."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from contest.day.leader import Reigning, leader_after, margin_on, reign_on
from contest.definitions import LeaderPolicy
from contest.judging.judge import Judgement
from contest.judging.scoring import Entry, Reign, clearly_beats, rank, weights
from tests.unit.contest.test_scoring import MARGIN, days, entry

POLICY = LeaderPolicy(start_margin=0.05, floor_margin=0.01, decay_days=10)


def places(entries: list[Entry], reign: Reign | None) -> dict[str, int]:
    return {p.entry.key: p.rank for p in rank(entries, MARGIN, reign=reign)}


def test_a_clearly_better_challenger_inside_the_margin_comes_second_and_still_earns() -> None:
    leader, challenger = entry("leader", 10, 0.50, half=0.01), entry("challenger", 20, 0.70, half=0.01)
    assert places([leader, challenger], None) == {"challenger": 1, "leader": 2}
    defended = rank([leader, challenger], MARGIN, reign=Reign("leader", 0.50 + 0.25))
    assert [(p.entry.key, p.tier) for p in defended] == [("leader", 1), ("challenger", 2)]
    assert weights(defended) == {"leader": pytest.approx(2 / 3), "challenger": pytest.approx(1 / 3)}
    assert places([leader, challenger], Reign("leader", 0.50 + 0.15)) == {"challenger": 1, "leader": 2}


def test_a_leader_that_is_not_significant_today_defends_nothing() -> None:
    leader = entry("leader", 10, 0.03, half=0.01, significant=False)
    challenger = entry("challenger", 20, 0.40, half=0.01)
    assert places([leader, challenger], Reign("leader", 10.0)) == {"challenger": 1, "leader": 2}


def test_the_margin_starts_the_day_after_first_place_is_taken_and_falls_to_the_floor() -> None:
    assert margin_on(POLICY, "2026-12-02", since="2026-12-01") == pytest.approx(0.05)
    assert margin_on(POLICY, "2026-12-07", since="2026-12-01") == pytest.approx(0.05 - 0.04 * 5 / 10)
    assert margin_on(POLICY, "2026-12-31", since="2026-12-01") == pytest.approx(0.01)


def test_first_place_keeps_its_day_while_the_same_hotkey_holds_it_and_restarts_with_another() -> None:
    judgements = {"a": Judgement(entry("a", 1, 0.40).verdict), "b": Judgement(entry("b", 2, 0.80).verdict)}
    kept = leader_after(Reigning("a", "2026-12-01"), {"a": 2 / 3, "b": 1 / 3}, judgements, POLICY, "2026-12-04")
    assert kept is not None and (kept.hotkey, kept.since, kept.days_held) == ("a", "2026-12-01", 3)
    assert kept.margin == pytest.approx(0.05 - 0.04 * 3 / 10)  # in force on 2026-12-05
    assert kept.score_to_lead == pytest.approx(0.40 + kept.margin)
    taken = leader_after(Reigning("a", "2026-12-01"), {"b": 2 / 3, "a": 1 / 3}, judgements, POLICY, "2026-12-04")
    assert taken is not None and (taken.hotkey, taken.since, taken.days_held, taken.margin) == (
        "b",
        "2026-12-04",
        0,
        0.05,
    )
    assert leader_after(None, {}, judgements, POLICY, "2026-12-04") is None


def test_the_reign_asks_for_the_leaders_score_today_plus_the_margin_and_ends_without_a_score() -> None:
    judgements = {"a": Judgement(entry("a", 1, 0.40).verdict), "gone": Judgement(entry("gone", 2, None).verdict)}
    reign = reign_on(Reigning("a", "2026-12-01"), judgements, POLICY, "2026-12-02")
    assert reign == Reign("a", pytest.approx(0.45))
    assert reign_on(Reigning("gone", "2026-12-01"), judgements, POLICY, "2026-12-02") is None
    assert reign_on(Reigning("absent", "2026-12-01"), judgements, POLICY, "2026-12-02") is None


# --- properties over arbitrary days and reigns


@st.composite
def reigned_days(draw: st.DrawFn) -> tuple[list[Entry], Reign]:
    entries = draw(days())
    leaders = [e for e in entries if e.verdict.valid and e.verdict.significant]
    assume(leaders)
    leader = draw(st.sampled_from(leaders))
    margin = draw(st.floats(0.0, 0.5, allow_nan=False))
    return entries, Reign(leader.key, (leader.verdict.score or 0.0) + margin)


def _earner(entries: list[Entry], reign: Reign | None, key: str) -> str:
    """The earliest commit of ``key``'s tier."""
    placed = rank(entries, MARGIN, reign=reign)
    tier = next(p.tier for p in placed if p.entry.key == key)
    return next(p.entry.key for p in placed if p.tier == tier)


@settings(max_examples=300, deadline=None)
@given(reigned_days())
def test_a_challenger_within_the_margin_never_displaces_the_leader(day: tuple[list[Entry], Reign]) -> None:
    entries, reign = day
    scores = {e.key: e.verdict.score for e in entries}
    placed = rank(entries, MARGIN, reign=reign)
    leader = next(p for p in placed if p.entry.key == reign.key)
    for above in (p for p in placed if p.tier < leader.tier):
        earner = _earner(entries, reign, above.entry.key)
        assert (scores[earner] or 0.0) > reign.required, (earner, reign)


@settings(max_examples=300, deadline=None)
@given(reigned_days())
def test_a_challenger_beyond_the_margin_that_clearly_beats_the_leader_always_passes_it(
    day: tuple[list[Entry], Reign],
) -> None:
    entries, reign = day
    by_key = {e.key: e for e in entries}
    ranks = places(entries, reign)
    for challenger in by_key.values():
        if (
            challenger.key in ranks
            and (challenger.verdict.score or 0.0) > reign.required
            and clearly_beats(challenger.verdict, by_key[reign.key].verdict, MARGIN)
            and _earner(entries, None, challenger.key) == challenger.key
        ):
            assert ranks[challenger.key] < ranks[reign.key]


@settings(max_examples=300, deadline=None)
@given(reigned_days(), st.randoms(use_true_random=False))
def test_with_a_reign_the_order_of_the_input_still_never_matters(day: tuple[list[Entry], Reign], shuffler) -> None:
    entries, reign = day
    shuffled = list(entries)
    shuffler.shuffle(shuffled)
    assert rank(shuffled, MARGIN, reign=reign) == rank(entries, MARGIN, reign=reign)


@given(
    st.floats(0.0, 0.2, allow_nan=False),
    st.floats(0.0, 0.2, allow_nan=False),
    st.integers(1, 60),
    st.integers(0, 100),
)
def test_the_margin_never_rises_while_the_same_leader_holds(a: float, b: float, decay_days: int, held: int) -> None:
    policy = LeaderPolicy(start_margin=max(a, b), floor_margin=min(a, b), decay_days=decay_days)
    assert policy.margin(held + 1) <= policy.margin(held)
    assert policy.floor_margin <= policy.margin(held) <= policy.start_margin
    assert policy.margin(0) == policy.start_margin and policy.margin(decay_days) == policy.floor_margin


def test_a_policy_whose_floor_is_above_its_start_is_refused() -> None:
    with pytest.raises(ValueError, match="falls from start to floor"):
        LeaderPolicy(start_margin=0.01, floor_margin=0.05)
