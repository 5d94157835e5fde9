"""An embedded chain in one SQLite file, so a whole contest runs on one machine.

Blocks advance with wall time (12 s a block, like Bittensor) plus any explicit advance, so tests can
move time forward. Block ``b`` carries the timestamp ``genesis + 12 s * b``: after an advance the chain's
own time runs ahead of the wall clock, as if those blocks had been produced. Commitments and weights are
signed with the hotkey and verified on write, the way extrinsics are on a real chain; a hotkey must be
registered on the subnet first.

Every commitment is kept with the block it landed in, and every registration with the block it was made
in, so the chain answers as of a past block as a node does from its state: a day's commitments and
registrations read at its opening block stay the same whatever happens after it.

The file carries its version (SQLite's ``user_version``): a file of an older version is brought up to date
when opened, one of a newer version is refused.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bittensor import Wallet
from bittensor_core import Keypair

from base.chain.interface import ChainCommitment, ChainError, Neuron, WeightsSet, require_aware

SECONDS_PER_BLOCK = 12.0
_MS_PER_BLOCK = int(SECONDS_PER_BLOCK * 1000)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TEMPO = 360  # blocks between epochs, Bittensor's default
MAX_COMMITMENT_BYTES = 128
Quantity = TypeVar("Quantity", int, timedelta)  # both sides of a division have the same kind

# 0: each hotkey's latest commitment only, registrations without their block; 1: both; 2: and each hotkey's coldkey
CHAIN_VERSION = 2
_COMMITMENTS_TABLE = """CREATE TABLE IF NOT EXISTS commitments (
    netuid INTEGER NOT NULL, hotkey TEXT NOT NULL, block INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (netuid, hotkey, block))"""
_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS neurons (
    netuid INTEGER NOT NULL, uid INTEGER NOT NULL, hotkey TEXT NOT NULL, stake REAL NOT NULL,
    validator_permit INTEGER NOT NULL, registered_block INTEGER NOT NULL, coldkey TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (netuid, uid), UNIQUE (netuid, hotkey))""",
    _COMMITMENTS_TABLE,
    """CREATE TABLE IF NOT EXISTS weights (
    netuid INTEGER NOT NULL, validator TEXT NOT NULL, block INTEGER NOT NULL, uids TEXT NOT NULL,
    weights TEXT NOT NULL, version_key INTEGER NOT NULL)""",
)
# Version 0 kept no registration blocks: those hotkeys count as registered since block 0, as every day
# judged on that file counted them. Its one commitment per hotkey becomes that hotkey's history.
_FROM_VERSION_0 = (
    "ALTER TABLE neurons ADD COLUMN registered_block INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE commitments RENAME TO commitments_version_0",
    _COMMITMENTS_TABLE,
    "INSERT INTO commitments SELECT netuid, hotkey, block, data FROM commitments_version_0",
    "DROP TABLE commitments_version_0",
)
_FROM_VERSION_1 = ("ALTER TABLE neurons ADD COLUMN coldkey TEXT NOT NULL DEFAULT ''",)
_LATEST_COMMITMENTS = """
    SELECT hotkey, block, data FROM commitments AS c WHERE netuid = ?1 AND block = (
        SELECT MAX(block) FROM commitments WHERE netuid = c.netuid AND hotkey = c.hotkey AND block <= ?2)
    ORDER BY block, hotkey"""
_REGISTERED = """
    SELECT uid, hotkey, stake, validator_permit, coldkey FROM neurons WHERE netuid = ?1 AND registered_block <= ?2
    ORDER BY uid"""


def _ceil_div(numerator: Quantity, denominator: Quantity) -> int:
    """Rounded up, so a block found for a moment is never before it."""
    return -(-numerator // denominator)


def _signed_payload(kind: str, netuid: int, body: bytes) -> bytes:
    return kind.encode() + struct.pack(">H", netuid) + body


def _verify(hotkey: str, payload: bytes, signature: bytes) -> None:
    if not Keypair(ss58_address=hotkey).verify(payload, signature):
        raise ChainError(f"bad signature from {hotkey}")


class LocalChain:
    def __init__(self, path: Path, chain_id: str = "edge-local", clock: Callable[[], float] = time.time) -> None:
        """``clock`` (seconds) drives block production; tests hold it still."""
        self.path = path
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # one process brings the file up to date; the others find it done
            self._bring_up_to_date(db)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('genesis_time', ?)", (repr(self._clock()),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('block_offset', '0')")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('chain_id', ?)", (chain_id,))

    def _bring_up_to_date(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > CHAIN_VERSION:
            raise ChainError(
                f"{self.path} was written by a newer embedded chain (version {version}; this one reads up to "
                f"{CHAIN_VERSION}): upgrade, or give it another --data_dir"
            )
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and "commitments" in tables:
            for statement in _FROM_VERSION_0:
                db.execute(statement)
        if version in (0, 1) and "neurons" in tables:
            for statement in _FROM_VERSION_1:
                db.execute(statement)
        for statement in _TABLES:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {CHAIN_VERSION}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level="IMMEDIATE")
        try:
            with db:
                yield db
        finally:
            db.close()

    def _meta(self, db: sqlite3.Connection, key: str) -> str:
        return db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def _block(self, db: sqlite3.Connection) -> int:
        elapsed = self._clock() - float(self._meta(db, "genesis_time"))
        return int(elapsed // SECONDS_PER_BLOCK) + int(self._meta(db, "block_offset"))

    def tempo(self, netuid: int) -> int:
        return TEMPO

    def current_block(self) -> int:
        with self._connect() as db:
            return self._block(db)

    def finalized_block(self) -> int:
        """One writer, no forks: every block is final as soon as it exists."""
        return self.current_block()

    def advance(self, blocks: int) -> int:
        """Move the chain forward by ``blocks``; returns the new current block."""
        with self._connect() as db:
            return self._advance(db, blocks)

    def _advance(self, db: sqlite3.Connection, blocks: int) -> int:
        offset = int(self._meta(db, "block_offset")) + blocks
        db.execute("UPDATE meta SET value = ? WHERE key = 'block_offset'", (str(offset),))
        return self._block(db)

    def advance_to(self, moment: datetime) -> int:
        """Produce blocks until the head's timestamp is at or after ``moment`` (never backwards); returns the head.

        Lets a test open a contest day at a chosen time without waiting for it.
        """
        target_ms = _ceil_div(require_aware(moment) - _EPOCH, timedelta(milliseconds=1))
        with self._connect() as db:
            first = max(0, _ceil_div(target_ms - self._genesis_ms(db), _MS_PER_BLOCK))
            return self._advance(db, max(0, first - self._block(db)))

    def _genesis_ms(self, db: sqlite3.Connection) -> int:
        return round(float(self._meta(db, "genesis_time")) * 1000)

    def _require_block(self, db: sqlite3.Connection, block: int) -> None:
        if block < 0:
            raise ChainError(f"block {block} does not exist: blocks start at 0")
        if block > self._block(db):
            raise ChainError(f"block {block} does not exist yet")

    def block_timestamp(self, block: int) -> datetime:
        """``genesis + 12 s * block``, in whole milliseconds like a Substrate block's timestamp."""
        with self._connect() as db:
            self._require_block(db, block)
            stamp_ms = self._genesis_ms(db) + _MS_PER_BLOCK * block
        return _EPOCH + timedelta(milliseconds=stamp_ms)

    def block_hash(self, block: int) -> bytes:
        with self._connect() as db:
            self._require_block(db, block)
            chain_id = self._meta(db, "chain_id")
            genesis = self._meta(db, "genesis_time")
        return hashlib.sha256(f"{chain_id}:{genesis}:{block}".encode()).digest()

    def register(
        self, hotkey: str, netuid: int, stake: float = 0.0, validator_permit: bool = False, coldkey: str = ""
    ) -> int:
        """Give a hotkey (owned by ``coldkey``) a uid on the subnet (the next free one); registering again keeps
        its uid and its owner."""
        with self._connect() as db:
            row = db.execute("SELECT uid FROM neurons WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)).fetchone()
            if row:
                db.execute(
                    "UPDATE neurons SET stake = ?, validator_permit = ? WHERE netuid = ? AND uid = ?",
                    (stake, int(validator_permit), netuid, row[0]),
                )
                return row[0]
            uid = db.execute("SELECT COALESCE(MAX(uid) + 1, 0) FROM neurons WHERE netuid = ?", (netuid,))
            uid = uid.fetchone()[0]
            db.execute(
                "INSERT INTO neurons (netuid, uid, hotkey, stake, validator_permit, registered_block, coldkey)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (netuid, uid, hotkey, stake, int(validator_permit), self._block(db), coldkey),
            )
            return uid

    def _as_of(self, query: str, netuid: int, at_block: int | None) -> list[Any]:
        """The rows of ``query`` (parameters: the netuid, then the block) as of ``at_block``; None is the head."""
        with self._connect() as db:
            block = self._block(db) if at_block is None else at_block
            self._require_block(db, block)
            return db.execute(query, (netuid, block)).fetchall()

    def neurons(self, netuid: int, at_block: int | None = None) -> list[Neuron]:
        """The hotkeys registered at or before ``at_block``; the stake and permit are the latest set.

        Nothing leaves the embedded chain's subnet and no uid changes hands, so a hotkey registered
        then is registered now, with the same uid.
        """
        rows = self._as_of(_REGISTERED, netuid, at_block)
        return [Neuron(uid, hotkey, stake, bool(permit), coldkey) for uid, hotkey, stake, permit, coldkey in rows]

    def _require_registered(self, db: sqlite3.Connection, netuid: int, hotkey: str) -> None:
        found = db.execute("SELECT 1 FROM neurons WHERE netuid = ? AND hotkey = ?", (netuid, hotkey))
        if not found.fetchone():
            raise ChainError(f"hotkey {hotkey} is not registered on subnet {netuid}")

    def commit(self, wallet: Wallet, netuid: int, data: bytes) -> int:
        if len(data) > MAX_COMMITMENT_BYTES:
            raise ChainError(f"commitment is {len(data)} bytes, over {MAX_COMMITMENT_BYTES}")
        hotkey = wallet.hotkey.ss58_address
        payload = _signed_payload("commit", netuid, data)
        _verify(hotkey, payload, wallet.hotkey.sign(payload))
        with self._connect() as db:
            self._require_registered(db, netuid, hotkey)
            block = self._block(db)
            # A second commitment in the same block replaces the first, as the later extrinsic does on chain.
            db.execute("INSERT OR REPLACE INTO commitments VALUES (?, ?, ?, ?)", (netuid, hotkey, block, data))
            return block

    def commitments(self, netuid: int, at_block: int | None = None) -> list[ChainCommitment]:
        rows = self._as_of(_LATEST_COMMITMENTS, netuid, at_block)
        return [ChainCommitment(hotkey, block, bytes(data)) for hotkey, block, data in rows]

    def set_weights(
        self, wallet: Wallet, netuid: int, uids: Sequence[int], weights: Sequence[float], version_key: int
    ) -> int:
        if len(uids) != len(weights):
            raise ChainError("uids and weights differ in length")
        hotkey = wallet.hotkey.ss58_address
        body = json.dumps([list(uids), list(weights), version_key]).encode()
        payload = _signed_payload("weights", netuid, body)
        _verify(hotkey, payload, wallet.hotkey.sign(payload))
        with self._connect() as db:
            self._require_registered(db, netuid, hotkey)
            block = self._block(db)
            db.execute(
                "INSERT INTO weights VALUES (?, ?, ?, ?, ?, ?)",
                (netuid, hotkey, block, json.dumps(list(uids)), json.dumps(list(weights)), version_key),
            )
            return block

    def weights(self, netuid: int) -> list[WeightsSet]:
        """Every weight vector set on the subnet, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT validator, block, uids, weights, version_key FROM weights WHERE netuid = ? ORDER BY rowid",
                (netuid,),
            ).fetchall()
        return [
            WeightsSet(validator, block, tuple(json.loads(uids)), tuple(json.loads(weights)), version_key)
            for validator, block, uids, weights, version_key in rows
        ]
