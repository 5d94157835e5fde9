"""A miner's passed self-checks, kept by content: the checkpoint that just passed is not measured again.

A miner checks with ``--check_only``, then submits the same checkpoint (``optimize()`` is deterministic), and the
self-check of SDXL on the contest's device takes minutes. A check is found again only for the same checkpoint
files, the same baseline and the same contest definition, within a day; a file that cannot be read is no check.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ValidationError

from contest.definitions import Contest
from contest.judging.scoring import Verdict

MAX_AGE = timedelta(hours=24)


class PassedCheck(BaseModel):
    """A valid self-check's score with its 95% interval, and when it was measured."""

    score: float
    low: float
    high: float
    significant: bool
    checked_at: datetime

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.score, self.low, self.high, self.significant)


class PassedChecks:
    """The passed checks under ``folder``, one file each, named by what was checked."""

    def __init__(self, folder: Path, max_age: timedelta = MAX_AGE) -> None:
        self.folder, self.max_age = folder, max_age

    @staticmethod
    def key(contest: Contest, baseline_digest: bytes, checkpoint_digest: bytes) -> str:
        """The contest's whole definition, the baseline's files and the checkpoint's files, as one name."""
        return hashlib.sha256(repr(contest).encode() + baseline_digest + checkpoint_digest).hexdigest()

    def find(self, key: str, now: datetime) -> PassedCheck | None:
        try:
            passed = PassedCheck.model_validate_json((self.folder / f"{key}.json").read_bytes())
        except (OSError, ValidationError):
            return None
        return passed if timedelta(0) <= now - passed.checked_at <= self.max_age else None

    def keep(self, key: str, verdict: Verdict, now: datetime) -> None:
        if verdict.score is None:
            raise ValueError("only a valid self-check is kept")
        passed = PassedCheck(
            score=verdict.score, low=verdict.low, high=verdict.high, significant=verdict.significant, checked_at=now
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.folder, suffix=".tmp", delete=False, encoding="utf-8") as out:
            out.write(passed.model_dump_json())
        os.replace(out.name, self.folder / f"{key}.json")
