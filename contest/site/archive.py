"""The leaderboards a validator has published, read back for people: every contest, every day.

Files are parsed and their signatures checked once, then again only when the file changes, so a page
served many times a day reads each file once.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from base.errors import first_line
from contest.publish.leaderboard import Leaderboard
from contest.publish.signature import SignatureInvalid, verify_published

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedDay:
    """One leaderboard file; ``name`` (the file name without ``.json``) is its id within the contest."""

    path: Path
    leaderboard: Leaderboard
    signature_problem: str | None  # None: signed by the validator it names

    @property
    def contest(self) -> str:
        return self.leaderboard.contest

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def order(self) -> tuple[str, int]:
        return self.leaderboard.day, self.leaderboard.opening_block


def read_published(path: Path) -> PublishedDay:
    """Parse a leaderboard file and check its signature and thumbnails (OSError or ValueError: no leaderboard)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    leaderboard = Leaderboard.model_validate(document)
    try:
        verify_published(path, document, leaderboard)
        problem = None
    except SignatureInvalid as error:
        problem = str(error)
    return PublishedDay(path, leaderboard, problem)


class Archive:
    """The leaderboards under ``root`` (``data_dir/leaderboards``): one folder per contest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._parsed: dict[Path, tuple[tuple[int, int], PublishedDay | None]] = {}

    def _read(self, path: Path) -> PublishedDay | None:
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._parsed.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            day = read_published(path)
        except (OSError, ValueError) as error:  # a pydantic ValidationError is a ValueError
            log.warning("%s is not a leaderboard: %s", path, first_line(error))
            day = None
        with self._lock:
            self._parsed[path] = (version, day)
        return day

    def contests(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(folder.name for folder in self.root.iterdir() if folder.is_dir() and self.days(folder.name))

    def days(self, contest: str) -> list[PublishedDay]:
        """The contest's published days, oldest first."""
        folder = self.root / contest
        if not folder.is_dir():
            return []
        days = [self._read(path) for path in folder.glob("*.json") if path.is_file()]
        return sorted((day for day in days if day is not None and day.contest == contest), key=lambda d: d.order)

    def day(self, contest: str, name: str) -> PublishedDay | None:
        return next((day for day in self.days(contest) if day.name == name), None)

    def latest(self, contest: str | None = None) -> PublishedDay | None:
        """The contest's newest day; without a contest, the newest day of any."""
        contests = [contest] if contest else self.contests()
        newest = [days[-1] for days in map(self.days, contests) if days]
        return max(newest, key=lambda day: day.leaderboard.opened_at, default=None)
