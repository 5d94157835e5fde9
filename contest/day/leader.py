"""First place across days: who holds it, since when, and what a challenger must score to take it.

The validator's own published leaderboards are the record: each names its first place and the day it took
it, so validators that judged the same days agree on the reign without any state of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pydantic import ValidationError

from contest.definitions import LeaderPolicy
from contest.judging.judge import Judgement
from contest.judging.scoring import Reign
from contest.publish.leaderboard import LeaderRecord, leaderboards_root, read_leaderboard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reigning:
    """First place on the validator's latest earlier day, and the day it took it."""

    hotkey: str
    since: str


def _order(path: Path) -> tuple[str, int]:
    day, _, block = path.stem.rpartition("-")
    return day, int(block) if block.isdigit() else -1


def latest_leader(data_dir: Path, contest_id: str, before: str | None = None) -> LeaderRecord | None:
    """First place as this validator's latest readable leaderboard of the contest has it (before the day
    ``before``, where given)."""
    folder = leaderboards_root(data_dir) / contest_id
    paths = (path for path in folder.glob("*.json") if before is None or _order(path)[0] < before)
    earlier = sorted(paths, key=_order)
    for path in reversed(earlier):
        try:
            return read_leaderboard(path).leader
        except (OSError, ValidationError) as error:
            log.warning("leaderboard %s is unreadable, an earlier one is read instead: %s", path, error)
    return None


def reigning(data_dir: Path, contest_id: str, day: str) -> Reigning | None:
    """First place before ``day``, and since when."""
    leader = latest_leader(data_dir, contest_id, before=day)
    return None if leader is None else Reigning(leader.hotkey, leader.since)


def margin_on(policy: LeaderPolicy, day: str, since: str) -> float:
    """The margin in force on ``day`` for a leader that took first place on ``since`` (the start the day after)."""
    return policy.margin((date.fromisoformat(day) - date.fromisoformat(since)).days - 1)


def reign_on(
    reign_of: Reigning | None, judgements: Mapping[str, Judgement], policy: LeaderPolicy, day: str
) -> Reign | None:
    """The reign ranking defends on ``day``: none when the leader has no score today."""
    if reign_of is None or (judgement := judgements.get(reign_of.hotkey)) is None:
        return None
    score = judgement.verdict.score
    return None if score is None else Reign(reign_of.hotkey, score + margin_on(policy, day, reign_of.since))


def leader_after(
    reign_of: Reigning | None,
    shares: Mapping[str, float],
    judgements: Mapping[str, Judgement],
    policy: LeaderPolicy,
    day: str,
) -> LeaderRecord | None:
    """First place after ``day`` (the largest share; none when nobody earned) and what passes it the next day."""
    if not shares:
        return None
    hotkey = max(shares, key=lambda key: shares[key])
    score = judgements[hotkey].verdict.score
    if score is None:
        raise ValueError(f"{hotkey} earned without a score")
    since = reign_of.since if reign_of is not None and reign_of.hotkey == hotkey else day
    margin = margin_on(policy, (date.fromisoformat(day) + timedelta(days=1)).isoformat(), since)
    held = (date.fromisoformat(day) - date.fromisoformat(since)).days
    return LeaderRecord(hotkey=hotkey, since=since, days_held=held, margin=margin, score_to_lead=score + margin)
