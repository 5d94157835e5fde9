"""Random commitments through the chain and the validator's collection: each becomes a candidate with a
commitment or a documented reason, or waits for another contest's day; nothing else happens."""

from __future__ import annotations

from datetime import UTC, datetime
from string import ascii_lowercase, digits

import pytest
from bittensor import Wallet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base.chain import MAX_COMMITMENT_BYTES, LocalChain
from base.chain import commitment as codec
from contest.day.candidates import collect
from contest.day.opening import DayOpening
from contest.definitions import CONTESTS, get_contest

NETUID = 7
CONTEST = get_contest("tiny-sdxl-cpu")
REASONS = ("invalid commitment: ", "unknown contest ")

# What [a-z][a-z0-9-]{0,10} and [a-z][a-z0-9_-]{0,10} match, drawn from their alphabets: regex strategies took
# most of the test's time.
owners, names = (
    st.builds(str.__add__, st.sampled_from(ascii_lowercase), st.text(ascii_lowercase + digits + tail, max_size=10))
    for tail in ("-", "_-")
)
valid = st.builds(
    codec.Commitment,
    contest_id=st.sampled_from([*CONTESTS, "sdxl-next-99"]),
    provider=st.sampled_from(codec.PROVIDERS),
    repository=st.builds("{}/{}".format, owners, names),
    revision=st.binary(min_size=20, max_size=20).map(bytes.hex),
    content_hash=st.binary(min_size=32, max_size=32),
).map(lambda commitment: commitment.encode())
payloads = st.one_of(st.binary(min_size=1, max_size=MAX_COMMITMENT_BYTES), valid)


@pytest.fixture(scope="module")
def chain_with_miner(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalChain, Wallet]:
    root = tmp_path_factory.mktemp("fuzz")
    chain = LocalChain(root / "chain.sqlite", clock=lambda: 1_000_000.0)
    miner = Wallet(name="miner", hotkey="default", path=str(root / "wallets"))
    miner.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    chain.register(miner.hotkey.ss58_address, NETUID)
    return chain, miner


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=payloads)
def test_random_commitments_are_collected_or_given_a_reason(chain_with_miner, data: bytes) -> None:
    chain, miner = chain_with_miner
    block = chain.commit(miner, NETUID, data)
    at = datetime(2026, 7, 15, 16, tzinfo=UTC)
    opening = DayOpening(CONTEST.id, at, block, b"\x00" * 32, at, "2026-07-15")
    candidates = collect(chain, NETUID, CONTEST, opening)
    try:
        decoded = codec.decode(data)
    except codec.InvalidCommitment:
        decoded = None
    if decoded is not None and decoded.contest_id in CONTESTS and decoded.contest_id != CONTEST.id:
        assert candidates == []  # it waits for its own contest's day
        return
    (candidate,) = candidates
    assert candidate.alive == (decoded is not None and decoded.contest_id == CONTEST.id)
    if candidate.alive:
        assert candidate.commitment == decoded
    else:
        assert candidate.reason is not None and candidate.reason.message.startswith(REASONS)
