"""The day's set is the chain's state at the opening block: a validator that collects at the opening and one
that starts an hour later judge the same commitments, whatever miners commit or register after the opening,
on the embedded chain and through the Bittensor adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from base.chain import SECONDS_PER_BLOCK, BittensorChain, LocalChain
from base.chain import commitment as codec
from contest.cli.world import new_wallet
from contest.day.candidates import Candidate, collect
from contest.day.opening import open_day
from contest.definitions import get_contest
from tests.support.days import HeldClock, past_the_opening, substrate_before_opening

CONTEST = get_contest("tiny-sdxl-cpu")
NETUID = 5
NOON_EDT = datetime(2026, 7, 15, 16, tzinfo=UTC)
AN_HOUR = 300  # blocks of 12 s


def submission(repository: str) -> bytes:
    return codec.Commitment(CONTEST.id, "local", repository, "ab" * 20, b"\x01" * 32).encode()


def judged(candidates: list[Candidate]) -> list[tuple[str, int | None, int, str | None]]:
    """What the day judges of each candidate: who, at which uid, on which commitment."""
    return sorted(
        (c.hotkey, c.uid, c.commit_block, c.commitment.repository if c.commitment else None) for c in candidates
    )


def test_on_the_embedded_chain_what_happens_after_the_opening_is_not_in_the_day(tmp_path: Path) -> None:
    clock = HeldClock(NOON_EDT - timedelta(hours=1))
    chain = LocalChain(tmp_path / "chain.sqlite", clock=clock)
    miner, quiet, newcomer = (new_wallet(tmp_path / "wallets", name) for name in ("miner", "quiet", "newcomer"))
    miner_uid = chain.register(miner.hotkey.ss58_address, NETUID)
    chain.register(quiet.hotkey.ss58_address, NETUID)
    earlier = chain.commit(miner, NETUID, submission("miner/a"))

    clock.now = NOON_EDT
    at_the_opening = open_day(chain, CONTEST)
    assert at_the_opening.block == chain.current_block()  # this validator collects at the opening block itself
    collected_at_the_opening = collect(chain, NETUID, CONTEST, at_the_opening)

    clock.now += timedelta(seconds=SECONDS_PER_BLOCK)
    chain.commit(miner, NETUID, submission("miner/b"))  # for tomorrow, or on purpose
    chain.register(newcomer.hotkey.ss58_address, NETUID)
    chain.commit(newcomer, NETUID, submission("newcomer/model"))
    chain.commit(quiet, NETUID, submission("quiet/model"))  # its first commitment

    clock.now += timedelta(seconds=SECONDS_PER_BLOCK * AN_HOUR)
    an_hour_later = open_day(chain, CONTEST)
    assert an_hour_later == at_the_opening and chain.current_block() > at_the_opening.block + AN_HOUR
    expected = [(miner.hotkey.ss58_address, miner_uid, earlier, "miner/a")]
    assert judged(collected_at_the_opening) == expected
    assert judged(collect(chain, NETUID, CONTEST, an_hour_later)) == expected


def test_through_the_bittensor_adapter_what_happens_after_the_opening_is_not_in_the_day(tmp_path: Path) -> None:
    substrate = substrate_before_opening(state_pruning=None)  # an archive, or a lite node with the SDK's archives
    chain = BittensorChain("ws://day-set.test:9944", substrate=substrate)
    miner, pruned, quiet, newcomer, replacement = (
        new_wallet(tmp_path / "wallets", name) for name in ("miner", "pruned", "quiet", "newcomer", "replacement")
    )
    miner_uid = substrate.register(NETUID, miner.hotkey.ss58_address)
    pruned_uid = substrate.register(NETUID, pruned.hotkey.ss58_address)
    substrate.register(NETUID, quiet.hotkey.ss58_address)
    earlier = chain.commit(miner, NETUID, submission("miner/a"))
    pruned_block = chain.commit(pruned, NETUID, submission("pruned/model"))

    past_the_opening(substrate, minutes=0)
    at_the_opening = open_day(chain, CONTEST)
    collected_at_the_opening = collect(chain, NETUID, CONTEST, at_the_opening)

    chain.commit(miner, NETUID, submission("miner/b"))
    substrate.replace(NETUID, pruned_uid, replacement.hotkey.ss58_address)  # deregistered, its uid handed on
    chain.commit(replacement, NETUID, submission("replacement/model"))
    substrate.register(NETUID, newcomer.hotkey.ss58_address)
    chain.commit(newcomer, NETUID, submission("newcomer/model"))
    chain.commit(quiet, NETUID, submission("quiet/model"))

    substrate.advance(AN_HOUR)
    an_hour_later = open_day(chain, CONTEST)
    assert an_hour_later == at_the_opening
    expected = sorted(
        [
            (miner.hotkey.ss58_address, miner_uid, earlier, "miner/a"),
            (pruned.hotkey.ss58_address, pruned_uid, pruned_block, "pruned/model"),
        ]
    )
    assert judged(collected_at_the_opening) == expected
    assert judged(collect(chain, NETUID, CONTEST, an_hour_later)) == expected
