"""When contest days open: a cron trigger at the contest's local opening time, daylight saving included."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from contest.definitions import Contest


def opening_trigger(contest: Contest) -> CronTrigger:
    hour, minute = (int(part) for part in contest.opens_at.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=contest.timezone)


def next_opening(contest: Contest, after: datetime) -> datetime:
    """The first opening strictly after ``after`` (an aware datetime), in the contest's time zone."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    return opening_trigger(contest).get_next_fire_time(None, after + timedelta(microseconds=1))


def latest_opening(contest: Contest, now: datetime) -> datetime:
    """The last opening at or before ``now``: the day a validator starting at ``now`` should have run."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(contest.timezone)
    hour, minute = (int(part) for part in contest.opens_at.split(":"))
    local = now.astimezone(zone)
    opening = datetime.combine(local.date(), time(hour, minute), tzinfo=zone)
    if opening > local:
        opening = datetime.combine(local.date() - timedelta(days=1), time(hour, minute), tzinfo=zone)
    return opening
