from datetime import UTC, datetime, timedelta

import pytest

from contest.day.schedule import latest_opening, next_opening
from contest.definitions import get_contest

CONTEST = get_contest("tiny-sdxl-cpu")


@pytest.mark.parametrize(
    ("now_utc", "expected_utc"),
    [
        (datetime(2026, 1, 15, 9, 0, tzinfo=UTC), datetime(2026, 1, 15, 17, 0, tzinfo=UTC)),  # EST: UTC-5
        (datetime(2026, 7, 15, 9, 0, tzinfo=UTC), datetime(2026, 7, 15, 16, 0, tzinfo=UTC)),  # EDT: UTC-4
        (datetime(2026, 1, 15, 17, 0, 1, tzinfo=UTC), datetime(2026, 1, 16, 17, 0, tzinfo=UTC)),
        (datetime(2026, 3, 7, 18, 0, tzinfo=UTC), datetime(2026, 3, 8, 16, 0, tzinfo=UTC)),  # clocks went forward
        (datetime(2026, 10, 31, 17, 0, tzinfo=UTC), datetime(2026, 11, 1, 17, 0, tzinfo=UTC)),  # and back
    ],
)
def test_days_open_at_noon_new_york_in_winter_and_summer(now_utc: datetime, expected_utc: datetime) -> None:
    opening = next_opening(CONTEST, now_utc)
    assert opening == expected_utc
    assert (opening.hour, opening.minute) == (12, 0)
    assert str(opening.tzinfo) == "America/New_York"


def test_openings_are_a_day_apart_in_local_time_across_a_year() -> None:
    opening = next_opening(CONTEST, datetime(2026, 1, 1, tzinfo=UTC))
    for _ in range(366):
        following = next_opening(CONTEST, opening + timedelta(seconds=1))
        assert (following.hour, following.minute) == (12, 0)
        assert (following.date() - opening.date()).days == 1
        opening = following


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_opening(CONTEST, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("now_utc", "expected_local_day"),
    [
        (datetime(2026, 1, 15, 16, 59, tzinfo=UTC), "2026-01-14"),  # 11:59 EST: today's has not opened yet
        (datetime(2026, 1, 15, 17, 0, tzinfo=UTC), "2026-01-15"),  # 12:00 EST
        (datetime(2026, 7, 15, 15, 59, tzinfo=UTC), "2026-07-14"),  # 11:59 EDT
        (datetime(2026, 7, 15, 16, 0, tzinfo=UTC), "2026-07-15"),  # 12:00 EDT
        (datetime(2026, 7, 16, 3, 0, tzinfo=UTC), "2026-07-15"),  # 23:00 EDT, already the 16th in UTC
    ],
)
def test_latest_opening_is_the_day_a_starting_validator_owes(now_utc: datetime, expected_local_day: str) -> None:
    opening = latest_opening(CONTEST, now_utc)
    assert opening.date().isoformat() == expected_local_day
    assert (opening.hour, opening.minute) == (12, 0)
    assert opening <= now_utc < next_opening(CONTEST, opening)
