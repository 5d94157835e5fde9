import sqlite3
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from base.chain import CHAIN_VERSION, ChainError, LocalChain
from contest.cli.world import new_wallet
from tests.support.days import HeldClock


@pytest.fixture
def chain(tmp_path: Path) -> LocalChain:
    return LocalChain(tmp_path / "chain.sqlite")


GENESIS = datetime(2026, 7, 15, 15, 59, 30, 250_000, tzinfo=UTC)
BLOCK = timedelta(seconds=12)


@pytest.fixture
def held(tmp_path: Path) -> tuple[LocalChain, HeldClock]:
    clock = HeldClock(GENESIS)
    return LocalChain(tmp_path / "held.sqlite", clock=clock), clock


def test_blocks_advance_explicitly_and_hashes_are_stable(chain: LocalChain) -> None:
    start = chain.current_block()
    assert chain.advance(5) == start + 5
    assert chain.block_hash(start + 5) == chain.block_hash(start + 5)
    assert chain.block_hash(start) != chain.block_hash(start + 1)
    with pytest.raises(ChainError, match="does not exist yet"):
        chain.block_hash(chain.current_block() + 1)


def test_state_survives_reopening(chain: LocalChain, tmp_path: Path) -> None:
    uid = chain.register("5Fake", netuid=1)
    chain.advance(3)
    reopened = LocalChain(tmp_path / "chain.sqlite")
    assert reopened.current_block() == chain.current_block()
    assert reopened.neurons(1)[0].uid == uid


def test_registration_gives_stable_uids(chain: LocalChain) -> None:
    assert chain.register("5A", netuid=1) == 0
    assert chain.register("5B", netuid=1) == 1
    assert chain.register("5A", netuid=1, stake=3.0) == 0
    assert chain.register("5A", netuid=2) == 0
    assert [(n.uid, n.hotkey, n.stake) for n in chain.neurons(1)] == [(0, "5A", 3.0), (1, "5B", 0.0)]


def test_commitments_keep_the_latest_per_hotkey_with_its_block(chain: LocalChain, tmp_path: Path) -> None:
    miner = new_wallet(tmp_path / "wallets", "miner")
    chain.register(miner.hotkey.ss58_address, netuid=1)
    first = chain.commit(miner, 1, b"first")
    chain.advance(2)
    second = chain.commit(miner, 1, b"second")
    (entry,) = chain.commitments(1)
    assert (entry.hotkey, entry.data, entry.block) == (miner.hotkey.ss58_address, b"second", second)
    assert second == first + 2


def test_commitments_as_of_a_block_are_each_hotkeys_latest_made_at_or_before_it(held, tmp_path: Path) -> None:
    chain, _ = held
    miner, other = new_wallet(tmp_path / "wallets", "miner"), new_wallet(tmp_path / "wallets", "other")
    for hotkey in (miner, other):
        chain.register(hotkey.hotkey.ss58_address, netuid=1)
    chain.advance(10)
    first = chain.commit(miner, 1, b"first")
    chain.advance(3)
    second = chain.commit(miner, 1, b"second")
    chain.advance(1)
    late = chain.commit(other, 1, b"late")

    def as_of(block: int | None) -> list[tuple[str, int, bytes]]:
        return [(entry.hotkey, entry.block, entry.data) for entry in chain.commitments(1, at_block=block)]

    assert as_of(first - 1) == []
    assert as_of(first) == as_of(second - 1) == [(miner.hotkey.ss58_address, first, b"first")]
    assert as_of(second) == [(miner.hotkey.ss58_address, second, b"second")]
    assert (
        as_of(None)
        == as_of(late)
        == [
            (miner.hotkey.ss58_address, second, b"second"),
            (other.hotkey.ss58_address, late, b"late"),
        ]
    )


def test_a_second_commitment_in_the_same_block_replaces_the_first(held, tmp_path: Path) -> None:
    chain, _ = held
    miner = new_wallet(tmp_path / "wallets", "miner")
    chain.register(miner.hotkey.ss58_address, netuid=1)
    assert chain.commit(miner, 1, b"first") == chain.commit(miner, 1, b"second")
    assert [entry.data for entry in chain.commitments(1)] == [b"second"]


def test_registrations_as_of_a_block_leave_out_later_ones(held) -> None:
    chain, _ = held
    chain.advance(10)
    chain.register("5A", netuid=1)
    chain.advance(5)
    chain.register("5B", netuid=1)
    chain.register("5A", netuid=1, stake=2.0)  # registering again changes nothing of when it was registered
    assert chain.neurons(1, at_block=9) == []
    assert [(n.uid, n.hotkey) for n in chain.neurons(1, at_block=14)] == [(0, "5A")]
    assert [(n.uid, n.hotkey) for n in chain.neurons(1, at_block=15)] == [(0, "5A"), (1, "5B")]
    assert chain.neurons(1, at_block=15) == chain.neurons(1)


def test_reads_as_of_a_block_beyond_the_head_fail(chain: LocalChain) -> None:
    head = chain.current_block()
    with pytest.raises(ChainError, match=f"block {head + 1} does not exist yet"):
        chain.commitments(1, at_block=head + 1)
    with pytest.raises(ChainError, match=f"block {head + 1} does not exist yet"):
        chain.neurons(1, at_block=head + 1)


_VERSION_0_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE neurons (
    netuid INTEGER NOT NULL, uid INTEGER NOT NULL, hotkey TEXT NOT NULL, stake REAL NOT NULL,
    validator_permit INTEGER NOT NULL, PRIMARY KEY (netuid, uid), UNIQUE (netuid, hotkey));
CREATE TABLE commitments (
    netuid INTEGER NOT NULL, hotkey TEXT NOT NULL, block INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (netuid, hotkey));
CREATE TABLE weights (
    netuid INTEGER NOT NULL, validator TEXT NOT NULL, block INTEGER NOT NULL, uids TEXT NOT NULL,
    weights TEXT NOT NULL, version_key INTEGER NOT NULL);
INSERT INTO meta VALUES ('genesis_time', '1000.0'), ('block_offset', '40'), ('chain_id', 'edge-local');
INSERT INTO neurons VALUES (1, 0, 'MINER', 0.0, 0), (1, 1, 'VALIDATOR', 1000.0, 1);
INSERT INTO commitments VALUES (1, 'MINER', 30, X'0102');
"""


def test_a_file_of_the_version_before_block_history_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript(_VERSION_0_SCHEMA)
    miner = new_wallet(tmp_path / "wallets", "miner")
    chain = LocalChain(path, clock=lambda: 1000.0)
    assert chain.current_block() == 40  # the chain goes on where it was
    assert [(n.uid, n.hotkey, n.validator_permit) for n in chain.neurons(1, at_block=0)] == [
        (0, "MINER", False),
        (1, "VALIDATOR", True),
    ]
    assert [(c.hotkey, c.block, c.data) for c in chain.commitments(1, at_block=30)] == [("MINER", 30, b"\x01\x02")]
    assert chain.commitments(1, at_block=29) == []
    assert {n.coldkey for n in chain.neurons(1)} == {""}  # registered before owners were kept
    chain.register(miner.hotkey.ss58_address, netuid=1, coldkey=miner.coldkeypub.ss58_address)
    assert chain.neurons(1)[-1].coldkey == miner.coldkeypub.ss58_address
    chain.advance(2)
    chain.commit(miner, 1, b"new")
    assert {c.hotkey for c in chain.commitments(1, at_block=40)} == {"MINER"}
    with sqlite3.connect(path) as reopened:
        assert reopened.execute("PRAGMA user_version").fetchone()[0] == CHAIN_VERSION
    assert LocalChain(path, clock=lambda: 1000.0).commitments(1) == chain.commitments(1)


def test_a_file_of_a_newer_chain_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    LocalChain(path)
    with sqlite3.connect(path) as newer:
        newer.execute(f"PRAGMA user_version = {CHAIN_VERSION + 1}")
    with pytest.raises(ChainError) as refused:
        LocalChain(path)
    message = str(refused.value)
    assert message.startswith(f"{path} was written by a newer embedded chain (version {CHAIN_VERSION + 1}; ")
    assert "\n" not in message


def test_unregistered_hotkeys_cannot_commit_or_set_weights(chain: LocalChain, tmp_path: Path) -> None:
    stranger = new_wallet(tmp_path / "wallets", "stranger")
    with pytest.raises(ChainError, match="not registered"):
        chain.commit(stranger, 1, b"data")
    with pytest.raises(ChainError, match="not registered"):
        chain.set_weights(stranger, 1, [0], [1.0], version_key=1)
    assert chain.commitments(1) == []


def test_oversized_commitments_are_refused(chain: LocalChain, tmp_path: Path) -> None:
    miner = new_wallet(tmp_path / "wallets", "miner")
    chain.register(miner.hotkey.ss58_address, netuid=1)
    with pytest.raises(ChainError, match="over 128"):
        chain.commit(miner, 1, bytes(129))


def test_weights_are_recorded_per_validator(chain: LocalChain, tmp_path: Path) -> None:
    validator = new_wallet(tmp_path / "wallets", "validator")
    chain.register(validator.hotkey.ss58_address, netuid=1, stake=10.0, validator_permit=True)
    block = chain.set_weights(validator, 1, [0, 1], [0.75, 0.25], version_key=1)
    (recorded,) = chain.weights(1)
    assert recorded.validator == validator.hotkey.ss58_address
    assert (recorded.block, recorded.uids, recorded.weights) == (block, (0, 1), (0.75, 0.25))


def test_each_block_carries_genesis_plus_twelve_seconds_per_block(held) -> None:
    chain, clock = held
    clock.now += 10 * BLOCK + timedelta(seconds=5)
    assert chain.current_block() == 10
    stamps = [chain.block_timestamp(block) for block in range(11)]
    assert stamps[0] == GENESIS and stamps[0].utcoffset() == timedelta(0)
    assert {later - earlier for earlier, later in pairwise(stamps)} == {BLOCK}


def test_blocks_outside_the_chain_have_no_timestamp(held) -> None:
    chain, _ = held
    head = chain.advance(4)
    assert chain.block_timestamp(head) == GENESIS + head * BLOCK
    with pytest.raises(ChainError, match="block 5 does not exist yet"):
        chain.block_timestamp(head + 1)
    with pytest.raises(ChainError, match="block -1 does not exist"):
        chain.block_timestamp(-1)


def test_an_advance_runs_the_chains_time_ahead_of_the_wall_clock(held) -> None:
    chain, clock = held
    head = chain.advance(300)
    assert chain.block_timestamp(head) == GENESIS + 300 * BLOCK
    clock.now += 2 * BLOCK
    assert chain.current_block() == 302
    assert chain.block_timestamp(302) == GENESIS + 302 * BLOCK


def test_advance_to_lands_on_the_first_block_at_or_after_the_moment(held) -> None:
    chain, _ = held
    moment = GENESIS + 30 * BLOCK + timedelta(milliseconds=1)
    head = chain.advance_to(moment)
    assert head == 31
    assert chain.block_timestamp(head - 1) < moment <= chain.block_timestamp(head)
    assert chain.advance_to(GENESIS + 31 * BLOCK + timedelta(microseconds=1)) == 32  # below a millisecond counts
    assert chain.advance_to(GENESIS + 32 * BLOCK) == 32  # already there


def test_advance_to_never_moves_backwards(held) -> None:
    chain, _ = held
    chain.advance(50)
    assert chain.advance_to(GENESIS + 10 * BLOCK) == 50
    assert chain.advance_to(GENESIS - timedelta(days=1)) == 50
    assert chain.current_block() == 50


def test_advance_to_refuses_a_moment_without_a_time_zone(held) -> None:
    chain, _ = held
    with pytest.raises(ValueError, match="no time zone"):
        chain.advance_to(datetime(2026, 7, 15, 16, 0))
    assert chain.current_block() == 0


def test_two_chains_over_one_file_agree_on_blocks_and_timestamps(held, tmp_path: Path) -> None:
    chain, clock = held
    clock.now += 7 * BLOCK
    chain.advance_to(GENESIS + timedelta(hours=1))
    later = HeldClock(clock.now + timedelta(hours=5))
    same_moment, hours_later = (LocalChain(tmp_path / "held.sqlite", clock=c) for c in (clock, later))
    assert same_moment.current_block() == chain.current_block() == 300
    assert hours_later.current_block() == 300 + 5 * 300
    for block in (0, 1, 299, 300):
        assert same_moment.block_timestamp(block) == hours_later.block_timestamp(block) == chain.block_timestamp(block)
        assert hours_later.block_hash(block) == chain.block_hash(block)
