from pathlib import Path

import pytest
from bittensor import Wallet

from base.chain import ChainError
from base.local_chain import LocalChain


@pytest.fixture
def chain(tmp_path: Path) -> LocalChain:
    return LocalChain(tmp_path / "chain.sqlite")


def wallet(tmp_path: Path, name: str) -> Wallet:
    made = Wallet(name=name, hotkey="default", path=str(tmp_path / "wallets"))
    made.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    return made


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
    miner = wallet(tmp_path, "miner")
    chain.register(miner.hotkey.ss58_address, netuid=1)
    first = chain.commit(miner, 1, b"first")
    chain.advance(2)
    second = chain.commit(miner, 1, b"second")
    (entry,) = chain.commitments(1)
    assert (entry.hotkey, entry.data, entry.block) == (miner.hotkey.ss58_address, b"second", second)
    assert second == first + 2


def test_unregistered_hotkeys_cannot_commit_or_set_weights(chain: LocalChain, tmp_path: Path) -> None:
    stranger = wallet(tmp_path, "stranger")
    with pytest.raises(ChainError, match="not registered"):
        chain.commit(stranger, 1, b"data")
    with pytest.raises(ChainError, match="not registered"):
        chain.set_weights(stranger, 1, [0], [1.0], version_key=1)
    assert chain.commitments(1) == []


def test_oversized_commitments_are_refused(chain: LocalChain, tmp_path: Path) -> None:
    miner = wallet(tmp_path, "miner")
    chain.register(miner.hotkey.ss58_address, netuid=1)
    with pytest.raises(ChainError, match="over 128"):
        chain.commit(miner, 1, bytes(129))


def test_weights_are_recorded_per_validator(chain: LocalChain, tmp_path: Path) -> None:
    validator = wallet(tmp_path, "validator")
    chain.register(validator.hotkey.ss58_address, netuid=1, stake=10.0, validator_permit=True)
    block = chain.set_weights(validator, 1, [0, 1], [0.75, 0.25], version_key=1)
    (recorded,) = chain.weights(1)
    assert recorded.validator == validator.hotkey.ss58_address
    assert (recorded.block, recorded.uids, recorded.weights) == (block, (0, 1), (0.75, 0.25))
