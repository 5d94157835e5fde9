"""Bad input to the CLIs: one clear line and a non-zero exit, and nothing committed."""

import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from bittensor import Wallet

from base.chain import LocalChain
from tests.support.paths import ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, LocalChain]:
    wallet = Wallet(name="miner", hotkey="default", path=str(tmp_path / "wallets"))
    wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    return tmp_path, LocalChain(tmp_path / "chain.sqlite")


def flags(data_dir: Path, *extra: str) -> list[str]:
    return [
        "--data_dir", str(data_dir), "--wallet.name", "miner", "--wallet.hotkey", "default",
        "--wallet.path", str(data_dir / "wallets"), "--netuid", "7", *extra,
    ]  # fmt: skip


def test_unregistered_hotkey_is_refused_before_any_work(setup) -> None:
    data_dir, chain = setup
    result = run("miner/miner.py", "--repository", "me/model", *flags(data_dir))
    assert result.returncode == 1
    assert "is not registered on subnet 7" in result.stdout
    assert chain.commitments(7) == []
    assert not (data_dir / "repositories").exists()


def test_missing_wallet_is_one_clear_line(setup) -> None:
    data_dir, _ = setup
    result = run("miner/miner.py", "--repository", "me/model", *flags(data_dir, "--wallet.hotkey", "nobody"))
    assert result.returncode != 0
    assert "hotkey file" in (result.stdout + result.stderr) and "does not exist" in result.stderr + result.stdout


def test_unknown_contest_lists_the_known_ones(setup) -> None:
    data_dir, _ = setup
    result = run("validator/validator.py", "--once", "--contest", "nope", *flags(data_dir))
    assert result.returncode == 1
    assert "unknown contest 'nope'" in result.stdout and "tiny-sdxl-cpu" in result.stdout


def test_no_commit_on_a_missing_repository_commits_nothing(setup) -> None:
    data_dir, chain = setup
    chain.register(Wallet(name="miner", hotkey="default", path=str(data_dir / "wallets")).hotkey.ss58_address, 7)
    result = run("miner/miner.py", "--repository", "me/absent", "--no_commit", *flags(data_dir))
    assert result.returncode == 1
    assert "repository 'me/absent' does not exist" in result.stdout
    assert chain.commitments(7) == []


def test_help_lists_the_miner_flags() -> None:
    result = run("miner/miner.py", "--help")
    assert result.returncode == 0
    expected = "--repository --no_optimizations --no_commit --revision --commit_message --check_only --store"
    others = "--subtensor.chain_endpoint --huggingface.endpoint --wallet.name --wallet.hotkey --wallet.path"
    for flag in (*expected.split(), *others.split(), "--logging.debug", "--logging.trace"):
        assert flag in result.stdout


def test_revision_without_no_commit_is_refused(setup) -> None:
    data_dir, chain = setup
    result = run("miner/miner.py", "--repository", "me/model", "--revision", "a" * 40, *flags(data_dir))
    assert result.returncode == 1
    assert "--revision names an existing commit: it goes with --no_commit" in result.stdout
    assert chain.commitments(7) == []


def test_submitting_without_a_repository_says_what_is_missing(setup) -> None:
    data_dir, chain = setup
    result = run("miner/miner.py", *flags(data_dir))
    assert result.returncode == 1
    assert "--repository is needed to submit (or pass --check_only" in result.stdout
    assert chain.commitments(7) == []


def test_a_refused_checkpoint_says_why_and_starts_no_workers_server(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """The checkpoint is screened first: the workers' server, with the runtimes' imports, starts only for one that
    is measured."""
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_checkpoint, pickled)
    (pickled / "unet" / "extra.bin").write_bytes(b"\x80\x04K\x01.")
    command = ["miner/miner.py", "--check_only", "--no_optimizations", "--model_dir", str(pickled)]
    miner = psutil.Popen(
        [sys.executable, *command, "--data_dir", str(tmp_path / "data")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    servers: set[int] = set()
    while miner.poll() is None:
        with contextlib.suppress(psutil.Error):
            children = miner.children(recursive=True)
            servers |= {child.pid for child in children if "forkserver" in " ".join(child.cmdline())}
        time.sleep(0.02)
    output = miner.stdout.read()
    assert miner.returncode == 1, output
    assert output.strip().splitlines()[-1] == (
        "error: the checkpoint would be refused: unet/extra.bin: pickle files are not accepted (only safetensors and"
        " ONNX weights)"
    )
    assert servers == set()
