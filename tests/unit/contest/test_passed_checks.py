"""A miner's passed self-checks: found again for the same files, baseline and contest within a day, else not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contest.cli.passed_checks import PassedChecks
from contest.definitions import get_contest
from contest.judging.reasons import Reason, ReasonKind
from contest.judging.scoring import Verdict

CONTEST = get_contest("tiny-sdxl-cpu")
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
PASSED = Verdict(0.42, 0.30, 0.55, significant=True)


def test_a_kept_check_is_found_with_its_verdict_within_a_day(tmp_path: Path) -> None:
    checks = PassedChecks(tmp_path / "checks")
    key = PassedChecks.key(CONTEST, b"baseline", b"checkpoint")
    checks.keep(key, PASSED, NOW)
    found = checks.find(key, NOW + timedelta(hours=23))
    assert found is not None and found.verdict == PASSED and found.checked_at == NOW
    assert checks.find(key, NOW + timedelta(hours=25)) is None  # a day old: measured again
    assert checks.find(key, NOW - timedelta(minutes=1)) is None  # from a clock set ahead: not trusted


@pytest.mark.parametrize(
    "other",
    [
        (CONTEST, b"baseline", b"checkpoint, one byte changed"),
        (CONTEST, b"another baseline", b"checkpoint"),
        (replace(CONTEST, minimum_improvement=CONTEST.minimum_improvement + 0.01), b"baseline", b"checkpoint"),
        (get_contest("sdxl-newdream-20"), b"baseline", b"checkpoint"),
    ],
)
def test_other_files_another_baseline_or_another_contest_definition_is_another_check(other) -> None:
    assert PassedChecks.key(*other) != PassedChecks.key(CONTEST, b"baseline", b"checkpoint")


def test_a_file_that_does_not_read_is_no_check(tmp_path: Path) -> None:
    checks = PassedChecks(tmp_path)
    key = PassedChecks.key(CONTEST, b"baseline", b"checkpoint")
    (tmp_path / f"{key}.json").write_text('{"score": "high"}')
    assert checks.find(key, NOW) is None
    assert PassedChecks(tmp_path / "missing").find(key, NOW) is None


def test_an_invalid_verdict_is_never_kept(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only a valid self-check is kept"):
        PassedChecks(tmp_path).keep("key", Verdict(None, reason=Reason(ReasonKind.SIMILARITY, "drifted")), NOW)
    assert list(tmp_path.iterdir()) == []
