"""The validator's durable state: contest days, each submission's outcome, weights set (SQLite, WAL).

Every write is one transaction, so a crash at any moment leaves either the whole record or none of
it. A day that was running when the validator stopped is resumed with the same opening block (hence
the same inputs); the submissions whose outcomes are stored are not measured again.

The file carries its version (SQLite's ``user_version``): an older file is brought up to date by the
migrations keyed by the version they start from, a newer one is refused with a clear message. Each stored
outcome carries the fingerprint of the outcome's schema it was written with, so any change to what an
outcome holds makes older ones measured again, never misread, with no format number to bump by hand.
"""

from __future__ import annotations

import hashlib
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

from contest.judging.hosts import Doing, HostActivity
from contest.judging.judge import Outcome

log = logging.getLogger(__name__)

_OUTCOME = TypeAdapter(Outcome)
# The outcome's schema, as stored beside each outcome: one written under another schema is measured again.
OUTCOME_SCHEMA = hashlib.sha256(json.dumps(_OUTCOME.json_schema(), sort_keys=True).encode()).hexdigest()[:16]
FIRST_VERSION = 5  # files from before it were never released: refused, not read
STATE_VERSION = 6
_HOSTS = """
CREATE TABLE hosts (
    day_id INTEGER NOT NULL REFERENCES days (id), name TEXT NOT NULL, doing TEXT NOT NULL, machine TEXT NOT NULL,
    submission TEXT, note TEXT, at TEXT NOT NULL, PRIMARY KEY (day_id, name));
"""
# version -> the statements that bring a file of that version to the next one
MIGRATIONS: dict[int, str] = {5: _HOSTS}
_SCHEMA = (
    _HOSTS
    + """
CREATE TABLE days (
    id INTEGER PRIMARY KEY, contest TEXT NOT NULL, day TEXT NOT NULL, opening_block INTEGER NOT NULL,
    block_hash BLOB NOT NULL, opened_at TEXT NOT NULL, status TEXT NOT NULL, submissions INTEGER,
    leaderboard TEXT, note TEXT);
CREATE TABLE outcomes (
    day_id INTEGER NOT NULL REFERENCES days (id), hotkey TEXT NOT NULL, outcome TEXT NOT NULL,
    recorded_at TEXT NOT NULL, schema TEXT NOT NULL, digest BLOB, PRIMARY KEY (day_id, hotkey));
CREATE TABLE weights (
    id INTEGER PRIMARY KEY, day_id INTEGER NOT NULL REFERENCES days (id), block INTEGER NOT NULL,
    uids TEXT NOT NULL, weights TEXT NOT NULL, set_at TEXT NOT NULL);
CREATE TABLE errors (id INTEGER PRIMARY KEY, at TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE day_failures (
    id INTEGER PRIMARY KEY, day_id INTEGER NOT NULL REFERENCES days (id), at TEXT NOT NULL, message TEXT NOT NULL);
"""
)


class StateVersionError(RuntimeError):
    """The state file was written by a version of the validator this one cannot read."""


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


class HostEntry(BaseModel):
    """A judging host of the latest day and what it did last (``contest.judging.hosts.HostActivity``)."""

    name: str
    doing: Doing
    machine: str
    submission: str | None
    note: str | None
    at: str


class Status(BaseModel):
    """What ``validator.py status`` prints: the latest day, its progress and its hosts (a day spread over a Ray
    cluster's), the last weights, recent errors."""

    state_version: int
    day: DayProgress | None
    hosts: list[HostEntry]
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
            if version == 0 and not db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                db.executescript(_SCHEMA)
            else:
                self._migrate(db, version)
            db.execute(f"PRAGMA user_version = {STATE_VERSION}")

    def _migrate(self, db: sqlite3.Connection, version: int) -> None:
        if version > STATE_VERSION:
            raise StateVersionError(
                f"{self.path} was written by a newer validator (state version {version}; this one reads up to "
                f"{STATE_VERSION}): upgrade this validator, or give it another --data_dir"
            )
        if version < FIRST_VERSION:
            raise StateVersionError(
                f"{self.path} was written by a development version of the validator (state version {version}, "
                f"before {FIRST_VERSION}): move it aside, or give this validator another --data_dir"
            )
        for step in range(version, STATE_VERSION):
            db.executescript(MIGRATIONS[step])

    @classmethod
    def of(cls, data_dir: Path) -> ValidatorState:
        """The state of the validator whose data lives in ``data_dir``."""
        return cls(data_dir / "validator" / "state.sqlite")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=FULL")
        try:
            with db:
                yield db
        finally:
            db.close()

    @staticmethod
    def _day(row: sqlite3.Row) -> StoredDay:
        return StoredDay(
            id=row["id"], contest=row["contest"], day=row["day"], opening_block=row["opening_block"],
            block_hash=bytes(row["block_hash"]), opened_at=datetime.fromisoformat(row["opened_at"]),
            status=row["status"], submissions=row["submissions"], leaderboard=row["leaderboard"],
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
        """The outcomes stored for the day; one written under another outcome schema is left out: measured again."""
        with self._connect() as db:
            rows = db.execute("SELECT hotkey, outcome, schema FROM outcomes WHERE day_id = ?", (day_id,)).fetchall()
        read: dict[str, Outcome] = {}
        for row in rows:
            if row["schema"] != OUTCOME_SCHEMA:
                log.warning("the stored outcome of %s was written by a validator whose outcomes differ from this "
                            "one's: it is measured again", row["hotkey"])  # fmt: skip
                continue
            try:
                read[row["hotkey"]] = _OUTCOME.validate_json(row["outcome"])
            except ValidationError as error:
                log.warning("the stored outcome of %s is not readable here (%s): it is measured again", row["hotkey"],
                            f"{error.error_count()} fields differ")  # fmt: skip
        return read

    def digests(self, day_id: int) -> dict[str, bytes]:
        """The digest of the files each stored outcome was judged on, where it was fetched."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT hotkey, digest FROM outcomes WHERE day_id = ? AND digest IS NOT NULL", (day_id,)
            ).fetchall()
        return {row["hotkey"]: bytes(row["digest"]) for row in rows}

    def recorder(self, day_id: int) -> Callable[[str, Outcome, bytes | None], None]:
        def record(hotkey: str, outcome: Outcome, digest: bytes | None) -> None:
            with self._connect() as db:
                db.execute(
                    "INSERT OR REPLACE INTO outcomes (day_id, hotkey, outcome, recorded_at, schema, digest) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (day_id, hotkey, _OUTCOME.dump_json(outcome).decode(), _now(), OUTCOME_SCHEMA, digest),
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
        return WeightsRecord(row["day_id"], row["block"], json.loads(row["uids"]), json.loads(row["weights"]))

    def record_host(self, day_id: int, activity: HostActivity) -> None:
        """What a host of the day is doing now; the one row per host is replaced."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO hosts (day_id, name, doing, machine, submission, note, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (day_id, activity.name, activity.doing, activity.machine, activity.submission, activity.note, _now()),
            )

    def record_error(self, message: str) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO errors (at, message) VALUES (?, ?)", (_now(), message))

    def status(self) -> Status:
        day = self.latest_day()
        with self._connect() as db:
            weights = db.execute("SELECT block, uids, weights, set_at FROM weights ORDER BY id DESC").fetchone()
            errors = db.execute("SELECT at, message FROM errors ORDER BY id DESC LIMIT 5").fetchall()
            judged = db.execute("SELECT COUNT(*) FROM outcomes WHERE day_id = ?", (day.id if day else -1,)).fetchone()
            hosts = db.execute(
                "SELECT name, doing, machine, submission, note, at FROM hosts WHERE day_id = ? ORDER BY name",
                (day.id if day else -1,),
            ).fetchall()
        current = None
        if day is not None:
            current = DayProgress(
                contest=day.contest, day=day.day, opening_block=day.opening_block, status=day.status,
                judged=judged[0], submissions=day.submissions, leaderboard=day.leaderboard,
            )  # fmt: skip
        last_weights = None
        if weights is not None:
            last_weights = WeightsStatus(
                block=weights["block"], uids=json.loads(weights["uids"]), weights=json.loads(weights["weights"]),
                at=weights["set_at"],
            )  # fmt: skip
        return Status(
            state_version=STATE_VERSION,
            day=current,
            hosts=[HostEntry(**dict(row)) for row in hosts],
            last_weights=last_weights,
            errors=[ErrorEntry(at=row["at"], message=row["message"]) for row in errors],
        )
