"""The validator's durable state: contest days, each submission's outcome, weights set (SQLite, WAL).

Every write is one transaction, so a crash at any moment leaves either the whole record or none of
it. A day that was running when the validator stopped is resumed with the same opening block (hence
the same inputs); the submissions whose outcomes are stored are not measured again.

The file carries its version (SQLite's ``user_version``) and each stored outcome the format it was written
in: state from an older version is brought up to date, state from a newer one is refused with a clear
message, and an outcome in another format is measured again rather than misread.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, TypeAdapter, ValidationError

from contest.judging.judge import Outcome

log = logging.getLogger(__name__)

_OUTCOME = TypeAdapter(Outcome)
STATE_VERSION = 4  # 1: outcomes without a format; 2: each outcome with its format; 3: failed days;
# 4: each outcome with the digest of the files it was judged on
OUTCOME_FORMAT = 2  # 1: a refusal as a plain message; 2: a refusal with its kind
_SCHEMA = """
CREATE TABLE IF NOT EXISTS days (
    id INTEGER PRIMARY KEY, contest TEXT NOT NULL, day TEXT NOT NULL, opening_block INTEGER NOT NULL,
    block_hash BLOB NOT NULL, opened_at TEXT NOT NULL, status TEXT NOT NULL, submissions INTEGER,
    leaderboard TEXT, note TEXT);
CREATE TABLE IF NOT EXISTS outcomes (
    day_id INTEGER NOT NULL REFERENCES days (id), hotkey TEXT NOT NULL, outcome TEXT NOT NULL,
    recorded_at TEXT NOT NULL, format INTEGER NOT NULL DEFAULT 1, digest BLOB, PRIMARY KEY (day_id, hotkey));
CREATE TABLE IF NOT EXISTS weights (
    id INTEGER PRIMARY KEY, day_id INTEGER NOT NULL REFERENCES days (id), block INTEGER NOT NULL,
    uids TEXT NOT NULL, weights TEXT NOT NULL, set_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS errors (id INTEGER PRIMARY KEY, at TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS day_failures (
    id INTEGER PRIMARY KEY, day_id INTEGER NOT NULL REFERENCES days (id), at TEXT NOT NULL, message TEXT NOT NULL);
"""
_ADDED_OUTCOME_COLUMNS = {"format": "INTEGER NOT NULL DEFAULT 1", "digest": "BLOB"}  # since versions 2 and 4


class StateVersionError(RuntimeError):
    """The state file was written by a newer version of the validator than this one."""


DayStatus = Literal["running", "finished", "failed"]  # failed: given up, the next opening starts a new day


@dataclass(frozen=True)
class StoredDay:
    id: int
    contest: str
    day: str
    opening_block: int
    block_hash: bytes
    opened_at: datetime
    status: DayStatus
    submissions: int | None
    leaderboard: str | None


@dataclass(frozen=True)
class WeightsRecord:
    day_id: int
    block: int
    uids: list[int]
    weights: list[float]


class DayProgress(BaseModel):
    contest: str
    day: str
    opening_block: int
    status: DayStatus
    judged: int
    submissions: int | None
    leaderboard: str | None


class WeightsStatus(BaseModel):
    block: int
    uids: list[int]
    weights: list[float]
    at: str


class ErrorEntry(BaseModel):
    at: str
    message: str


class Status(BaseModel):
    """What ``validator.py status`` prints: the latest day, its progress, the last weights, recent errors."""

    state_version: int
    day: DayProgress | None
    last_weights: WeightsStatus | None
    errors: list[ErrorEntry]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ValidatorState:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > STATE_VERSION:
                raise StateVersionError(
                    f"{path} was written by a newer validator (state version {version}; this one reads up to "
                    f"{STATE_VERSION}): upgrade this validator, or give it another --data_dir"
                )
            existing = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            db.executescript(_SCHEMA)
            if "outcomes" in existing and version < STATE_VERSION:  # columns older versions did not write
                columns = {row[1] for row in db.execute("PRAGMA table_info(outcomes)")}
                for column, declaration in _ADDED_OUTCOME_COLUMNS.items():
                    if column not in columns:
                        db.execute(f"ALTER TABLE outcomes ADD COLUMN {column} {declaration}")
            db.execute(f"PRAGMA user_version = {STATE_VERSION}")

    @classmethod
    def of(cls, data_dir: Path) -> ValidatorState:
        """The state of the validator whose data lives in ``data_dir``."""
        return cls(data_dir / "validator" / "state.sqlite")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA synchronous=FULL")
        try:
            with db:
                yield db
        finally:
            db.close()

    @staticmethod
    def _day(row: tuple) -> StoredDay:
        day_id, contest, day, block, block_hash, opened_at, status, submissions, leaderboard = row
        return StoredDay(
            day_id, contest, day, block, bytes(block_hash), datetime.fromisoformat(opened_at), status, submissions,
            leaderboard,
        )  # fmt: skip

    _DAY_COLUMNS = "id, contest, day, opening_block, block_hash, opened_at, status, submissions, leaderboard"

    def running_day(self, contest: str) -> StoredDay | None:
        with self._connect() as db:
            row = db.execute(
                f"SELECT {self._DAY_COLUMNS} FROM days WHERE contest = ? AND status = 'running' ORDER BY id DESC",
                (contest,),
            ).fetchone()
        return self._day(row) if row else None

    def finished_day(self, contest: str, opening_block: int) -> StoredDay | None:
        """The day of ``contest`` that opened at ``opening_block``, if it was judged to the end."""
        with self._connect() as db:
            row = db.execute(
                f"SELECT {self._DAY_COLUMNS} FROM days WHERE contest = ? AND opening_block = ? AND status = 'finished' "
                "ORDER BY id DESC",
                (contest, opening_block),
            ).fetchone()
        return self._day(row) if row else None

    def latest_day(self, contest: str | None = None) -> StoredDay | None:
        query = f"SELECT {self._DAY_COLUMNS} FROM days"
        query += " WHERE contest = ? ORDER BY id DESC" if contest else " ORDER BY id DESC"
        with self._connect() as db:
            row = db.execute(query, (contest,) if contest else ()).fetchone()
        return self._day(row) if row else None

    def start_day(
        self, contest: str, day: str, opening_block: int, block_hash: bytes, opened_at: datetime
    ) -> StoredDay:
        with self._connect() as db:
            db.execute(
                "INSERT INTO days (contest, day, opening_block, block_hash, opened_at, status) "
                "VALUES (?, ?, ?, ?, ?, 'running')",
                (contest, day, opening_block, block_hash, opened_at.isoformat()),
            )
        day_row = self.running_day(contest)
        assert day_row is not None
        return day_row

    def set_submission_count(self, day_id: int, count: int) -> None:
        with self._connect() as db:
            db.execute("UPDATE days SET submissions = ? WHERE id = ?", (count, day_id))

    def outcomes(self, day_id: int) -> dict[str, Outcome]:
        """The outcomes stored for the day; one in another format, or not readable, is left out: measured again."""
        with self._connect() as db:
            rows = db.execute("SELECT hotkey, outcome, format FROM outcomes WHERE day_id = ?", (day_id,)).fetchall()
        read: dict[str, Outcome] = {}
        for hotkey, outcome, stored_format in rows:
            if stored_format != OUTCOME_FORMAT:
                log.warning("the stored outcome of %s is in format %d, this version reads %d: it is measured again",
                            hotkey, stored_format, OUTCOME_FORMAT)  # fmt: skip
                continue
            try:
                read[hotkey] = _OUTCOME.validate_json(outcome)
            except ValidationError as error:
                log.warning("the stored outcome of %s is not readable here (%s): it is measured again", hotkey,
                            f"{error.error_count()} fields differ")  # fmt: skip
        return read

    def digests(self, day_id: int) -> dict[str, bytes]:
        """The digest of the files each stored outcome was judged on, where it was fetched."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT hotkey, digest FROM outcomes WHERE day_id = ? AND digest IS NOT NULL", (day_id,)
            ).fetchall()
        return {hotkey: bytes(digest) for hotkey, digest in rows}

    def recorder(self, day_id: int) -> Callable[[str, Outcome, bytes | None], None]:
        def record(hotkey: str, outcome: Outcome, digest: bytes | None) -> None:
            with self._connect() as db:
                db.execute(
                    "INSERT OR REPLACE INTO outcomes (day_id, hotkey, outcome, recorded_at, format, digest) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (day_id, hotkey, _OUTCOME.dump_json(outcome).decode(), _now(), OUTCOME_FORMAT, digest),
                )

        return record

    def finish_day(self, day_id: int, leaderboard: Path, note: str | None = None) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE days SET status = 'finished', leaderboard = ?, note = ? WHERE id = ?",
                (str(leaderboard), note, day_id),
            )

    def record_day_failure(self, day_id: int, message: str) -> int:
        """Record that the day failed (in its history and the errors); returns how many times it has failed."""
        with self._connect() as db:
            db.execute("INSERT INTO day_failures (day_id, at, message) VALUES (?, ?, ?)", (day_id, _now(), message))
            db.execute("INSERT INTO errors (at, message) VALUES (?, ?)", (_now(), f"day: {message}"))
            return int(db.execute("SELECT COUNT(*) FROM day_failures WHERE day_id = ?", (day_id,)).fetchone()[0])

    def give_up_day(self, day_id: int, note: str) -> None:
        """The day cannot finish: it is no longer resumed, and the next opening starts a new one."""
        with self._connect() as db:
            db.execute("UPDATE days SET status = 'failed', note = ? WHERE id = ?", (note, day_id))

    def record_weights(self, day_id: int, block: int, uids: Sequence[int], weights: Sequence[float]) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO weights (day_id, block, uids, weights, set_at) VALUES (?, ?, ?, ?, ?)",
                (day_id, block, json.dumps(list(uids)), json.dumps(list(weights)), _now()),
            )

    def last_weights(self) -> WeightsRecord | None:
        with self._connect() as db:
            row = db.execute("SELECT day_id, block, uids, weights FROM weights ORDER BY id DESC").fetchone()
        if row is None:
            return None
        day_id, block, uids, shares = row
        return WeightsRecord(day_id, block, json.loads(uids), json.loads(shares))

    def record_error(self, message: str) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO errors (at, message) VALUES (?, ?)", (_now(), message))

    def status(self) -> Status:
        day = self.latest_day()
        with self._connect() as db:
            weights = db.execute("SELECT block, uids, weights, set_at FROM weights ORDER BY id DESC").fetchone()
            errors = db.execute("SELECT at, message FROM errors ORDER BY id DESC LIMIT 5").fetchall()
            judged = db.execute("SELECT COUNT(*) FROM outcomes WHERE day_id = ?", (day.id if day else -1,)).fetchone()
        current = None
        if day is not None:
            current = DayProgress(
                contest=day.contest, day=day.day, opening_block=day.opening_block, status=day.status,
                judged=judged[0], submissions=day.submissions, leaderboard=day.leaderboard,
            )  # fmt: skip
        last_weights = None
        if weights is not None:
            block, uids, shares, at = weights
            last_weights = WeightsStatus(block=block, uids=json.loads(uids), weights=json.loads(shares), at=at)
        return Status(
            state_version=STATE_VERSION,
            day=current,
            last_weights=last_weights,
            errors=[ErrorEntry(at=at, message=message) for at, message in errors],
        )
