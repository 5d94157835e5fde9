"""The Bittensor adapter end to end through the SDK, against an in-process substrate."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import bittensor as bt
import pytest

from base.chain import BittensorChain, ChainError, first_block_at_or_after, resolve
from base.chain import commitment as codec
from base.retry import RetryPolicy
from contest.cli.world import new_wallet
from tests.support.in_process_substrate import InProcessSubstrate

ENDPOINT = "ws://in-process.test:9944"
NETUID = 39
QUICK = RetryPolicy(attempts=3, first_wait_s=0.001)


@pytest.fixture
def network(tmp_path: Path):
    substrate = InProcessSubstrate()
    miner, validator = new_wallet(tmp_path / "wallets", "miner"), new_wallet(tmp_path / "wallets", "validator")
    substrate.register(NETUID, miner.hotkey.ss58_address, stake_tao=2.5)
    substrate.register(NETUID, validator.hotkey.ss58_address, stake_tao=4000.0, validator=True)
    yield substrate, BittensorChain(ENDPOINT, QUICK, substrate=substrate), miner, validator


def test_commitment_round_trips_through_the_sdk(network) -> None:
    substrate, chain, miner, _ = network
    data = codec.Commitment("tiny-sdxl-cpu", "huggingface", "alice/fast", "ab" * 20, bytes(range(32))).encode()
    block = chain.commit(miner, NETUID, data)
    assert block == substrate.block
    (stored,) = chain.commitments(NETUID)
    assert (stored.hotkey, stored.block, stored.data) == (miner.hotkey.ss58_address, block, data)
    assert codec.decode(stored.data).repository == "alice/fast"
    (extrinsic,) = substrate.extrinsics
    assert extrinsic.call.function == "set_commitment" and extrinsic.signer == miner.hotkey.ss58_address


def test_text_shaped_commitments_come_back_as_the_same_bytes(network) -> None:
    _, chain, miner, _ = network
    chain.commit(miner, NETUID, b"plain ascii")
    assert chain.commitments(NETUID)[0].data == b"plain ascii"


def test_metagraph_and_blocks(network) -> None:
    substrate, chain, miner, validator = network
    neurons = chain.neurons(NETUID)
    assert [(n.uid, n.hotkey, n.stake, n.validator_permit) for n in neurons] == [
        (0, miner.hotkey.ss58_address, 2.5, False),
        (1, validator.hotkey.ss58_address, 4000.0, True),
    ]
    assert chain.current_block() == substrate.block
    assert chain.tempo(NETUID) == substrate.subnet(NETUID).tempo
    assert chain.block_hash(substrate.block - 3) == bytes.fromhex(substrate.hash_of(substrate.block - 3)[2:])
    with pytest.raises(ChainError, match="subnet 40 does not exist"):
        chain.neurons(40)


def test_commitments_at_a_block_are_each_hotkeys_latest_made_at_or_before_it(network) -> None:
    _, chain, miner, validator = network
    first = chain.commit(miner, NETUID, b"\x01first")
    second = chain.commit(miner, NETUID, b"\x01second")
    late = chain.commit(validator, NETUID, b"\x01late")

    def at(block: int | None) -> list[tuple[str, int, bytes]]:
        return sorted((c.hotkey, c.block, c.data) for c in chain.commitments(NETUID, at_block=block))

    assert at(first - 1) == []
    assert at(first) == [(miner.hotkey.ss58_address, first, b"\x01first")]
    assert at(second) == [(miner.hotkey.ss58_address, second, b"\x01second")]
    assert (
        at(None)
        == at(late)
        == sorted(
            [(miner.hotkey.ss58_address, second, b"\x01second"), (validator.hotkey.ss58_address, late, b"\x01late")]
        )
    )


def test_neurons_at_a_block_are_the_hotkeys_that_held_the_uids_then(network) -> None:
    substrate, chain, miner, validator = network
    before = substrate.block
    substrate.advance(1)
    substrate.replace(NETUID, 0, "5Replacement", stake_tao=1.0)  # the miner is pruned, its uid handed on
    substrate.register(NETUID, "5Newcomer")

    def at(block: int | None) -> list[tuple[int, str]]:
        return [(n.uid, n.hotkey) for n in chain.neurons(NETUID, at_block=block)]

    assert at(before) == [(0, miner.hotkey.ss58_address), (1, validator.hotkey.ss58_address)]
    assert (
        at(None) == at(substrate.block) == [(0, "5Replacement"), (1, validator.hotkey.ss58_address), (2, "5Newcomer")]
    )


def test_reads_at_a_block_beyond_the_head_fail(network) -> None:
    substrate, chain, _, _ = network
    future = substrate.block + 1
    with pytest.raises(ChainError, match=f"reading the commitments of subnet 39 at block {future}: .*{future}"):
        chain.commitments(NETUID, at_block=future)
    with pytest.raises(ChainError, match=f"reading the metagraph of subnet 39 at block {future}: .*{future}"):
        chain.neurons(NETUID, at_block=future)


def test_on_a_lite_node_reads_at_an_hour_old_block_need_an_archive_and_say_so(network) -> None:
    substrate, chain, _, _ = network
    substrate.advance(300)
    old = substrate.block - 300
    for read in (chain.commitments, chain.neurons):
        with pytest.raises(ChainError) as raised:
            read(NETUID, at_block=old)
        message = str(raised.value)
        assert f"subnet 39 at block {old}: State discarded for " in message and "archive node" in message
        assert "\n" not in message


def test_weights_are_normalised_by_the_sdk_and_recorded(network) -> None:
    substrate, chain, _, validator = network
    block = chain.set_weights(validator, NETUID, [0, 1], [0.6, 0.2], version_key=3)
    assert block == substrate.block
    assert substrate.subnet(NETUID).weights[1] == [(0, 65535), (1, 21845)]
    (extrinsic,) = substrate.commits_of(validator.hotkey.ss58_address, "set_mechanism_weights")
    assert extrinsic.call.params["version_key"] == 3


def test_weights_go_through_timelocked_commit_reveal_where_the_subnet_requires_it(network) -> None:
    substrate, chain, _, validator = network
    substrate.subnet(NETUID).commit_reveal = True
    chain.set_weights(validator, NETUID, [0, 1], [1.0, 0.0], version_key=3)
    assert substrate.subnet(NETUID).weights == {}
    (commit,) = substrate.subnet(NETUID).timelocked_commits
    assert commit["uid"] == 1 and len(commit["commit"]) > 0 and commit["reveal_round"] > 0


def test_refusals_name_the_cause(network, tmp_path: Path) -> None:
    substrate, chain, _, validator = network
    stranger = new_wallet(tmp_path / "wallets", "stranger")
    with pytest.raises(ChainError, match="committing on subnet 39: the chain refused it: HotKeyNotRegistered"):
        chain.commit(stranger, NETUID, b"\x01data")
    with pytest.raises(ChainError, match="is not registered on netuid 39"):
        chain.set_weights(stranger, NETUID, [0], [1.0], version_key=3)
    substrate.subnet(NETUID).weights_version_key = 9
    with pytest.raises(ChainError, match="IncorrectWeightVersionKey"):
        chain.set_weights(validator, NETUID, [0], [1.0], version_key=3)
    assert chain.commitments(NETUID) == []


def test_transient_transport_failures_are_retried(network) -> None:
    substrate, chain, _, _ = network
    substrate.fail_reads = QUICK.attempts - 1
    assert chain.current_block() == substrate.block
    assert chain.tempo(NETUID) == substrate.subnet(NETUID).tempo
    assert substrate.fail_reads == 0


def test_a_chain_that_stays_down_is_one_line(network) -> None:
    substrate, chain, miner, _ = network
    substrate.reachable = False
    with pytest.raises(ChainError) as raised:
        chain.commit(miner, NETUID, b"\x01data")
    message = str(raised.value)
    assert message.startswith(f"committing on subnet 39: cannot reach the chain at {ENDPOINT}: ")
    assert "\n" not in message
    assert substrate.extrinsics == []


def test_unreachable_endpoint_through_the_real_websocket_transport() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    chain = BittensorChain(f"ws://127.0.0.1:{port}", QUICK)
    with pytest.raises(ChainError, match=f"reading the current block: cannot reach the chain at ws://127.0.0.1:{port}"):
        chain.current_block()


def test_a_blocks_timestamp_is_its_own(network) -> None:
    substrate, chain, _, _ = network
    head = substrate.block
    substrate.missed_slots = {head - 5}  # that block and every later one came a slot late
    for block in (head - 6, head - 5, head):
        assert chain.block_timestamp(block) == substrate.timestamp_of(block)
    assert chain.block_timestamp(head - 5) - chain.block_timestamp(head - 6) == timedelta(seconds=24)
    assert chain.block_timestamp(head).utcoffset() == timedelta(0)


def test_blocks_outside_the_chain_have_no_timestamp(network) -> None:
    substrate, chain, _, _ = network
    with pytest.raises(ChainError, match=f"block {substrate.block + 1} is not known to {ENDPOINT}"):
        chain.block_timestamp(substrate.block + 1)
    with pytest.raises(ChainError, match="block -1 does not exist"):
        chain.block_timestamp(-1)


def test_the_in_process_node_discards_old_state_like_a_lite_node(network) -> None:
    substrate, _, _, _ = network
    substrate.advance(8000)
    sdk = bt.Subtensor(ENDPOINT, substrate=substrate)
    old, recent = substrate.block - 7200, substrate.block - 200
    assert sdk.timestamp(block=recent) == substrate.timestamp_of(recent)
    assert sdk.block_info(recent).timestamp == substrate.timestamp_of(recent)
    with pytest.raises(bt.ChainError, match=r"State discarded for .* archive node"):
        sdk.timestamp(block=old)  # Timestamp.Now: storage at that block
    with pytest.raises(bt.ChainError, match=r"State discarded for .* archive node"):
        sdk.block_info(old)  # decoding the block needs its parent's runtime version: state too


def test_on_a_lite_node_a_day_old_block_needs_an_archive_and_says_so(network) -> None:
    substrate, chain, _, _ = network
    substrate.advance(8000)
    recent = substrate.block - 200
    assert chain.block_timestamp(recent) == substrate.timestamp_of(recent)
    old = substrate.block - 7200
    with pytest.raises(ChainError) as raised:
        chain.block_timestamp(old)
    message = str(raised.value)
    assert message.startswith(f"reading block {old}: State discarded for ") and "archive node" in message
    assert "\n" not in message


@pytest.fixture
def archive():
    """A node that keeps every block's state: an archive, or a lite node with the SDK's archive pool."""
    substrate = InProcessSubstrate(genesis_block=20_000, state_pruning=None)
    yield substrate, BittensorChain(ENDPOINT, QUICK, substrate=substrate)


def test_an_archive_gives_the_timestamp_of_a_day_old_block(archive) -> None:
    substrate, chain = archive
    old = substrate.block - 7200
    assert chain.block_timestamp(old) == substrate.timestamp_of(old)
    assert chain.block_hash(old) == bytes.fromhex(substrate.hash_of(old)[2:])


def test_the_opening_block_a_day_back_is_found_in_a_few_reads(archive) -> None:
    substrate, chain = archive
    head = substrate.block
    substrate.missed_slots = {head - 7000, head - 6999, head - 4000, head - 3000, head - 10}
    moment = substrate.timestamp_of(head) - timedelta(days=1, milliseconds=-5)
    expected = next(block for block in range(head + 1) if substrate.timestamp_of(block) >= moment)
    reads = substrate.reads
    assert first_block_at_or_after(chain, moment) == expected
    assert substrate.timestamp_of(expected - 1) < moment <= substrate.timestamp_of(expected)
    assert substrate.reads - reads <= 2 * head.bit_length() + 4


def test_a_validator_on_time_finds_the_opening_on_a_lite_node(network) -> None:
    substrate, chain, _, _ = network
    substrate.missed_slots = {substrate.block - 30}
    moment = substrate.timestamp_of(substrate.block - 50) + timedelta(seconds=1)
    assert first_block_at_or_after(chain, moment) == substrate.block - 49
    assert first_block_at_or_after(chain, substrate.timestamp_of(substrate.block) + timedelta(seconds=1)) is None


def test_network_names_resolve_like_the_sdk() -> None:
    assert resolve("finney", None).startswith("wss://")
    assert resolve("local", "ws://10.0.0.2:9944") == "ws://10.0.0.2:9944"
    assert resolve("ws://node:9944", None) == "ws://node:9944"
    with pytest.raises(ChainError, match="unknown network 'mainnet'"):
        resolve("mainnet", None)
