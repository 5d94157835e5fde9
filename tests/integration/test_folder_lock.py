"""One validator per data folder: a second holder, in another process or this one, is refused with the
holder's pid; the kernel frees the lock of a killed holder; the real CLI refused in one line, touching nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bittensor import Wallet

from base.isolation import FolderLocked, hold_folder_lock, lock_path
from tests.support.paths import ROOT

HOLDER = """
import sys
from pathlib import Path
from base.isolation import hold_folder_lock
lock = hold_folder_lock(Path(sys.argv[1]))
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen]]:
    """Another process holding the lock on ``tmp_path / "data"`` until the test ends (or kills it)."""
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    yield data_dir, process
    process.kill()
    process.wait()
    process.stdin.close()
    process.stdout.close()


def test_another_process_is_refused_with_the_holders_pid(holder: tuple[Path, subprocess.Popen], tmp_path: Path) -> None:
    data_dir, process = holder
    with pytest.raises(FolderLocked) as refused:
        hold_folder_lock(data_dir)
    message = str(refused.value)
    assert message.startswith(f"another validator (pid {process.pid}, started ")
    assert str(lock_path(data_dir)) in message and "one validator per data folder" in message
    assert "\n" not in message
    with hold_folder_lock(tmp_path / "other") as other:
        assert other.held


def test_a_second_holder_in_the_same_process_is_refused(tmp_path: Path) -> None:
    lock = hold_folder_lock(tmp_path)
    with pytest.raises(FolderLocked, match=rf"\(pid {os.getpid()}, "):
        hold_folder_lock(tmp_path)
    lock.release()
    assert not lock.held
    with hold_folder_lock(tmp_path) as again:
        assert again.held


def test_a_killed_holder_leaves_no_stale_lock(holder: tuple[Path, subprocess.Popen]) -> None:
    data_dir, process = holder
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with hold_folder_lock(data_dir) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes() if path.is_file() else None for path in folder.rglob("*")
    }


def validator(data_dir: Path, wallets: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "validator/validator.py", *extra, "--data_dir", str(data_dir), "--netuid", "7",
        "--wallet.name", "validator", "--wallet.hotkey", "default", "--wallet.path", str(wallets),
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_second_validator_cli_exits_1_in_one_line_and_touches_nothing(
    holder: tuple[Path, subprocess.Popen], tmp_path: Path
) -> None:
    data_dir, process = holder
    wallets = tmp_path / "wallets"
    Wallet(name="validator", hotkey="default", path=str(wallets)).create_new_hotkey(
        use_password=False, overwrite=True, suppress=True
    )
    before = snapshot(data_dir)

    refused = validator(data_dir, wallets, "--once")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    lines = (refused.stdout + refused.stderr).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: another validator (pid {process.pid}, ")
    assert snapshot(data_dir) == before
    assert not (data_dir / "validator" / "state.sqlite").exists()

    status = validator(data_dir, wallets, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert isinstance(json.loads(status.stdout), dict)
