"""Faults during a validator day, on the Bittensor adapter (in-process substrate) and the Hub store:
transient failures are retried and the day goes on; a failure that outlasts the retries loses nothing,
and the restarted day finishes without judging anything twice."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from base.chain import BittensorChain, ChainError
from base.chain import commitment as codec
from base.retry import RetryPolicy
from base.stores import GitStore, HuggingFaceStore, StoreError, submission_hash
from contest.cli.world import new_wallet
from contest.day.state import ValidatorState
from contest.day.steps import DaySetup, run_day
from tests.support.days import ONE_BLOCK_CONTEST, nudged_copy, past_the_opening, substrate_before_opening
from tests.support.hub_servers import olah_mirror, upload_hub

ENDPOINT = "ws://in-process.test:9944"
NETUID = 39
CONTEST = ONE_BLOCK_CONTEST  # what a fault costs the day, not how fast anything is
QUICK = RetryPolicy(attempts=4, first_wait_s=0.01)
ONCE = RetryPolicy(attempts=1)  # huggingface_hub resumes a cut transfer 5 times itself, a second apart


@pytest.fixture
def day(tmp_path: Path, tiny_checkpoint: Path):
    """One valid submission committed through the SDK before the day's opening; the validator has a permit."""
    substrate = substrate_before_opening()
    miner, validator = new_wallet(tmp_path / "wallets", "miner"), new_wallet(tmp_path / "wallets", "validator")
    substrate.register(NETUID, miner.hotkey.ss58_address, stake_tao=1.0)
    substrate.register(NETUID, validator.hotkey.ss58_address, stake_tao=5000.0, validator=True)
    store = GitStore(tmp_path / "repositories")
    folder = nudged_copy(tiny_checkpoint, tmp_path / "work" / "good")
    revision = store.push(folder, "miner/model", "submit")
    hotkey = miner.hotkey.ss58_address
    data = codec.Commitment(CONTEST.id, "local", "miner/model", revision, submission_hash(folder, hotkey)).encode()
    chain = BittensorChain(ENDPOINT, QUICK, substrate=substrate)
    chain.commit(miner, NETUID, data)
    past_the_opening(substrate)
    yield substrate, chain, store, validator, tmp_path / "data"


def test_transient_chain_failures_in_collection_and_weights_are_retried(day) -> None:
    substrate, chain, store, validator, data_dir = day
    substrate.fail_reads, substrate.fail_submits = QUICK.attempts - 1, QUICK.attempts - 1
    board, _ = run_day(DaySetup(chain, {"local": store}, CONTEST, NETUID, validator, data_dir))
    assert substrate.fail_reads == 0 and substrate.fail_submits == 0  # every injected fault was met
    assert [row.valid for row in board.submissions] == [True]
    (weights,) = substrate.commits_of(validator.hotkey.ss58_address, "set_mechanism_weights")
    assert weights.block == board.weights_set_at_block


def test_weights_failing_past_the_retries_lose_nothing_and_the_restart_does_not_judge_again(day) -> None:
    substrate, chain, store, validator, data_dir = day
    substrate.fail_submits = 10 * QUICK.attempts
    with pytest.raises(ChainError, match="setting weights on subnet 39: cannot reach the chain"):
        run_day(DaySetup(chain, {"local": store}, CONTEST, NETUID, validator, data_dir))
    state = ValidatorState.of(data_dir)
    interrupted = state.running_day(CONTEST.id)
    assert len(state.outcomes(interrupted.id)) == 1  # the measurement is kept

    substrate.fail_submits = 0
    lines: list[str] = []
    board, _ = run_day(DaySetup(chain, {"local": store}, CONTEST, NETUID, validator, data_dir), progress=lines.append)
    assert board.opening_block == interrupted.opening_block
    assert not any("benchmarking" in line for line in lines)
    assert sum("was judged before the restart" in line for line in lines) == 1
    assert [row.valid for row in board.submissions] == [True]
    assert substrate.commits_of(validator.hotkey.ss58_address, "set_mechanism_weights")


def test_a_download_cut_half_way_is_retried_then_reported_and_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "weights.safetensors").write_bytes(b"\x07" * 200_000)
    (folder / "model_index.json").write_text("{}")
    with olah_mirror(tmp_path) as (mirror_url, mirrors), upload_hub(mirrors, mirror_url) as hub:
        revision = hub.push_public(folder, "alice/cut", "one")
        store = HuggingFaceStore(hub.url, retry=QUICK)
        cache = tmp_path / "cache"

        hub.cut_downloads = 1  # one interrupted transfer: the retry gets the whole file
        fetched = store.fetch("alice/cut", revision, cache / "once", max_bytes=10**6)
        assert hub.cut_downloads == 0
        assert (fetched / "unet" / "weights.safetensors").read_bytes() == b"\x07" * 200_000

        hub.cut_downloads, hub.cut_keeps = 100, 0.0  # every transfer is cut before its first byte
        with pytest.raises(StoreError, match="downloading alice/cut"):
            HuggingFaceStore(hub.url, retry=ONCE).fetch("alice/cut", revision, cache / "always", max_bytes=10**6)
        assert not (cache / "always").exists()
        assert [path.name for path in cache.iterdir()] == ["once"]  # no partial download left


def test_a_cache_disk_too_small_for_a_checkpoint_leaves_it_out_with_the_reason(day) -> None:
    _, chain, store, validator, data_dir = day
    cache_root = data_dir / "validator" / "checkpoints"
    cache_root.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(cache_root)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill the cache disk: {mounted.stderr.decode().strip()}")
    try:
        (cache_root / "an-old-day").mkdir()
        (cache_root / "an-old-day" / "leftover.bin").write_bytes(b"\0" * 4 * 2**20)
        board, _ = run_day(DaySetup(chain, {"local": store}, CONTEST, NETUID, validator, data_dir))
        assert not (cache_root / "an-old-day").exists()  # cleared first, and still not enough
    finally:
        subprocess.run(["umount", str(cache_root)], check=True)
    (row,) = board.submissions
    assert not row.valid and row.reason.startswith("not fetched: the validator has ")
    assert row.reason.endswith("bytes of disk free")
    state = ValidatorState.of(data_dir)
    assert state.latest_day(CONTEST.id).status == "finished"
