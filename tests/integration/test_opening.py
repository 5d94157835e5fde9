"""The day's opening is the chain's: validators started at different times open at the same block, with the
same inputs and the same commitment cut-off, on the embedded chain and through the Bittensor adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bittensor import Wallet

from base.chain import SECONDS_PER_BLOCK, BittensorChain, LocalChain
from base.chain import commitment as codec
from contest.day.candidates import collect
from contest.day.opening import chain_time, move_to_next_opening, open_day
from contest.day.schedule import latest_opening, next_opening
from contest.definitions import day_inputs, get_contest
from tests.support.days import HeldClock, past_the_opening, substrate_before_opening

CONTEST = get_contest("tiny-sdxl-cpu")
NETUID = 5
NOON_EDT = datetime(2026, 7, 15, 16, tzinfo=UTC)


def miner(tmp_path: Path, name: str) -> Wallet:
    wallet = Wallet(name=name, hotkey="default", path=str(tmp_path / "wallets"))
    wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    return wallet


def commit(chain: LocalChain, wallet: Wallet, repository: str) -> int:
    chain.register(wallet.hotkey.ss58_address, NETUID)
    data = codec.Commitment(CONTEST.id, "local", repository, "ab" * 20, b"\x01" * 32).encode()
    return chain.commit(wallet, NETUID, data)


def test_validators_started_hours_apart_open_the_day_at_the_same_block(tmp_path: Path) -> None:
    clock = HeldClock(NOON_EDT - timedelta(hours=1))
    chain = LocalChain(tmp_path / "chain.sqlite", clock=clock)
    early = commit(chain, miner(tmp_path, "early"), "early/model")
    clock.now = NOON_EDT + timedelta(minutes=3)
    first = open_day(chain, CONTEST)
    late = commit(chain, miner(tmp_path, "late"), "late/model")  # after the opening: tomorrow's business
    clock.now = NOON_EDT + timedelta(hours=5)
    second = open_day(chain, CONTEST)

    assert first == second
    assert first.opened_at >= NOON_EDT > chain.block_timestamp(first.block - 1)
    assert first.day == "2026-07-15" and first.scheduled == latest_opening(CONTEST, NOON_EDT)
    assert day_inputs(CONTEST, first.block_hash) == day_inputs(CONTEST, second.block_hash)
    assert len(day_inputs(CONTEST, first.block_hash)) == CONTEST.sampling.max_pairs
    assert early <= first.block < late
    committed = {candidate.commit_block for candidate in collect(chain, NETUID, CONTEST, second)}
    assert committed == {early}


def test_a_validator_whose_clock_runs_ahead_waits_for_the_chain(tmp_path: Path) -> None:
    clock = HeldClock(NOON_EDT - timedelta(minutes=1))
    chain = LocalChain(tmp_path / "chain.sqlite", clock=clock)
    scheduled = next_opening(CONTEST, chain_time(chain))
    looks: list[float] = []

    def sleep(seconds: float) -> None:
        looks.append(seconds)
        clock.now += timedelta(seconds=20)

    opening = open_day(chain, CONTEST, scheduled, sleep=sleep)
    assert len(looks) == 3 and opening.opened_at >= scheduled
    assert opening.opened_at - scheduled < timedelta(seconds=SECONDS_PER_BLOCK)
    with pytest.raises(TimeoutError, match="has not reached and finalized"):
        open_day(chain, CONTEST, next_opening(CONTEST, chain_time(chain)), waiting=lambda: False)


def test_the_embedded_chain_moves_to_the_next_opening_after_everything_committed(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "chain.sqlite", clock=HeldClock(NOON_EDT + timedelta(hours=2)))
    committed = commit(chain, miner(tmp_path, "miner"), "miner/model")
    move_to_next_opening(chain, CONTEST)
    opening = open_day(chain, CONTEST)
    assert opening.day == "2026-07-16" and committed < opening.block


def test_through_the_bittensor_adapter_the_opening_waits_for_finality_and_agrees() -> None:
    substrate = substrate_before_opening()
    past_the_opening(substrate, minutes=1)
    chain = BittensorChain("ws://opening.test:9944", substrate=substrate)
    substrate.finality_lag = 10  # the opening block is not final yet
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        substrate.finality_lag -= 5

    first = open_day(chain, CONTEST, sleep=sleep)
    assert len(waited) >= 1 and first.block <= chain.finalized_block()
    expected = next(b for b in range(substrate.block + 1) if substrate.timestamp_of(b) >= first.scheduled)
    assert first.block == expected
    substrate.advance(200)  # a validator started 40 minutes later
    assert open_day(chain, CONTEST) == first
