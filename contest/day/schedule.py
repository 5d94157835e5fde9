"""When contest days open: a cron trigger at the contest's local opening time, daylight saving included."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from contest.definitions import Contest


def opening_trigger(contest: Contest) -> CronTrigger:
    at = opening_time(contest)
    return CronTrigger(hour=at.hour, minute=at.minute, timezone=contest.timezone)


def next_opening(contest: Contest, after: datetime) -> datetime:
    """The first opening strictly after ``after`` (an aware datetime), in the contest's time zone."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    return opening_trigger(contest).get_next_fire_time(None, after + timedelta(microseconds=1))


def opening_time(contest: Contest) -> time:
    hour, minute = (int(part) for part in contest.opens_at.split(":"))
    return time(hour, minute)


def opening_on(contest: Contest, day: date) -> datetime:
    """The contest's opening time on a calendar ``day`` of its time zone."""
    return datetime.combine(day, opening_time(contest), tzinfo=ZoneInfo(contest.timezone))


def latest_opening(contest: Contest, now: datetime) -> datetime:
    """The last opening at or before ``now``: the day a validator starting at ``now`` should have run."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(ZoneInfo(contest.timezone))
    opening = opening_on(contest, local.date())
    return opening if opening <= local else opening_on(contest, local.date() - timedelta(days=1))
