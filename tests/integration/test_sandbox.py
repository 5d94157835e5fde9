"""What a worker sees: none of its parent's secrets, and, confined, only its job's files, the libraries and its scratch.

The folders stand for a validator's data folder: the checkpoint being judged, another miner's download beside it,
a wallet and the state; a token stands in the home folder.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from base.isolation import Worker, WorkerError, landlock, sandbox
from contest.definitions import get_contest
from contest.judging.checkpoint_worker import SESSION, CheckpointWorker
from pipelines.generation import GenerationInput
from tests.support.paths import ROOT
from tests.support.sandbox_jobs import SECRETS, NosySession, Probe

CONTEST = get_contest("tiny-sdxl-cpu")
INPUTS = [GenerationInput(f"prompt {index}", index) for index in range(CONTEST.warmup_samples)]
REFUSED = "PermissionError: .*Permission denied"
PRELOAD = [SESSION.split(":")[0]]  # the server the judging starts, whichever worker starts it first


def landlock_missing() -> str | None:
    """Why this kernel cannot confine a worker's files, or None where it can."""
    try:
        landlock.abi_version()
    except landlock.LandlockUnavailable as error:
        return str(error)
    return None


needs_landlock = pytest.mark.skipif(landlock_missing() is not None, reason=f"{landlock_missing()}")


def abi() -> int:
    return 0 if landlock_missing() else landlock.abi_version()


class DataFolder:
    """A validator's data folder in miniature."""

    def __init__(self, root: Path) -> None:
        self.root = root / "data"
        self.checkpoint = self.root / "downloads" / "alice" / "model"
        self.neighbour = self.root / "downloads" / "bob" / "model" / "unet.safetensors"
        self.wallet = self.root / "wallets" / "validator" / "hotkeys" / "default"
        self.state = self.root / "state.json"
        self.scratch_in = self.root / "cache" / "day"
        self.home_token = Path.home() / ".cache" / "huggingface" / "token"
        for path, text in (
            (self.checkpoint / "model_index.json", "{}"),
            (self.neighbour, "bob's weights"),
            (self.wallet, "a hotkey's secret"),
            (self.state, "{}"),
            (self.home_token, "hf_token_in_home"),
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


@pytest.fixture
def data(tmp_path: Path) -> DataFolder:
    return DataFolder(tmp_path)


def test_a_worker_sees_none_of_its_parents_secrets() -> None:
    """The parent holds them from its start: the worker server it starts would inherit them if it were not cleaned."""
    parent = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tests.support.sandbox_jobs import report_worker_environment\nreport_worker_environment()",
        ],
        cwd=ROOT,
        env=os.environ | SECRETS,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    seen = json.loads(parent.stdout)
    for name, value in SECRETS.items():
        assert name not in seen["environment"]
        assert value not in seen["first_environment"]
        assert seen["parent_keeps"][name] == value  # the parent's own environment is as it was
    assert seen["environment"]["PATH"] == os.environ["PATH"]
    assert seen["environment"]["HF_HUB_OFFLINE"] == "1"


def test_a_worker_runs_in_a_scratch_folder_of_its_own_that_goes_with_it(data: DataFolder) -> None:
    with Worker(Probe, None, 60, preload=PRELOAD, scratch_in=data.scratch_in) as worker:
        (scratch,) = data.scratch_in.iterdir()
        environment = worker.call(Probe.environment, timeout_s=30)
        assert environment["TMPDIR"] == environment["HOME"] == str(scratch)
        assert Path(worker.call(Probe.temporary_file, timeout_s=30)).parent == scratch
    assert not scratch.exists()


@needs_landlock
def test_a_confined_worker_reads_its_checkpoint_and_nothing_else_of_the_data_folder(data: DataFolder) -> None:
    with Worker(Probe, None, 60, preload=PRELOAD, readable=[data.checkpoint], scratch_in=data.scratch_in) as worker:
        assert worker.call(Probe.read, data.checkpoint / "model_index.json", timeout_s=30) == "{}"
        assert worker.call(Probe.listing, data.checkpoint, timeout_s=30) == ["model_index.json"]
        for secret in (data.neighbour, data.wallet, data.state, data.home_token):
            with pytest.raises(WorkerError, match=REFUSED):
                worker.call(Probe.read, secret, timeout_s=30)
        with pytest.raises(WorkerError, match=REFUSED):
            worker.call(Probe.listing, data.root, timeout_s=30)


def test_an_unconfined_worker_reads_the_whole_data_folder(data: DataFolder) -> None:
    """What the confined worker is refused is there to read: the refusals are the confinement's."""
    with Worker(Probe, None, 60, preload=PRELOAD) as worker:
        assert worker.call(Probe.read, data.neighbour, timeout_s=30) == "bob's weights"
        assert worker.call(Probe.read, data.wallet, timeout_s=30) == "a hotkey's secret"


@needs_landlock
def test_a_confined_worker_writes_only_its_scratch_folder(data: DataFolder, tmp_path: Path) -> None:
    with Worker(Probe, None, 60, preload=PRELOAD, readable=[data.checkpoint], scratch_in=data.scratch_in) as worker:
        made = Path(worker.call(Probe.temporary_file, timeout_s=30))
        assert made.exists() and made.is_relative_to(data.scratch_in)
        for outside in (data.checkpoint / "planted.json", data.root / "planted", tmp_path / "planted"):
            with pytest.raises(WorkerError, match=REFUSED):
                worker.call(Probe.write, outside, timeout_s=30)
            assert not outside.exists()


@needs_landlock
def test_a_confined_worker_cannot_read_its_parents_environment_nor_keep_root_powers(data: DataFolder) -> None:
    with Worker(Probe, None, 60, preload=PRELOAD, readable=[data.checkpoint], scratch_in=data.scratch_in) as worker:
        with pytest.raises(WorkerError, match=REFUSED):
            worker.call(Probe.read, Path(f"/proc/{os.getpid()}/environ"), timeout_s=30)
        assert worker.call(Probe.capabilities, timeout_s=30) == 0
        assert worker.call(Probe.parent_death_signal, timeout_s=30) == signal.SIGKILL  # still dies with the validator


@pytest.mark.skipif(abi() < 6, reason=f"Landlock scopes signals from ABI 6; this kernel has ABI {abi()}")
def test_a_confined_worker_cannot_signal_a_process_outside_it(data: DataFolder) -> None:
    with (
        Worker(Probe, None, 60, preload=PRELOAD, readable=[data.checkpoint], scratch_in=data.scratch_in) as worker,
        pytest.raises(WorkerError, match="PermissionError"),
    ):
        worker.call(Probe.signal, os.getpid(), timeout_s=30)


@needs_landlock
def test_a_checkpoint_worker_is_confined_to_its_checkpoint(data: DataFolder) -> None:
    with CheckpointWorker(data.checkpoint, CONTEST, INPUTS, "tests.support.sandbox_jobs:NosySession") as worker:
        found = json.loads(worker.loaded.runtime)
    assert found == {
        str(data.checkpoint / "model_index.json"): "read",
        str(data.checkpoint / NosySession.NEIGHBOUR): "PermissionError",
    }


def test_the_tiny_checkpoint_loads_and_generates_in_a_confined_worker(tiny_checkpoint: Path, tmp_path: Path) -> None:
    scratch_in = tmp_path / "cache"
    with CheckpointWorker(tiny_checkpoint, CONTEST, INPUTS, scratch_in=scratch_in) as worker:
        image = worker.generate(GenerationInput("a lighthouse", 7), timeout_s=120).image
        assert len(list(scratch_in.iterdir())) == 1
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8 and image.std() > 0
    assert list(scratch_in.iterdir()) == []


def test_an_onnx_checkpoint_loads_and_generates_in_a_confined_worker(onnx_checkpoint: Path) -> None:
    with CheckpointWorker(onnx_checkpoint, CONTEST, INPUTS) as worker:
        image = worker.generate(GenerationInput("a lighthouse", 7), timeout_s=120).image
    assert image.shape == (128, 128, 3) and image.std() > 0


@pytest.fixture
def no_landlock(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's view of a kernel without Landlock."""

    def missing() -> int:
        raise landlock.LandlockUnavailable(errno.ENOSYS, "this kernel has no Landlock (ENOSYS)")

    monkeypatch.setattr(landlock, "abi_version", missing)
    sandbox.warn_once_without_landlock.cache_clear()
    yield
    sandbox.warn_once_without_landlock.cache_clear()


def test_without_landlock_a_worker_runs_unconfined_and_the_log_says_so_once(
    no_landlock: None, data: DataFolder, caplog: pytest.LogCaptureFixture
) -> None:
    child = os.fork()  # a worker's side, where this process's stand-in kernel is seen
    if child == 0:
        try:
            sandbox.confine_files([data.checkpoint], data.scratch_in)
            os._exit(0 if data.neighbour.read_text() == "bob's weights" else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with caplog.at_level(logging.WARNING, logger=sandbox.__name__):
        sandbox.warn_once_without_landlock()
        sandbox.warn_once_without_landlock()
    assert [record.getMessage() for record in caplog.records] == [
        "this kernel has no Landlock (ENOSYS): benchmark workers can read every file this user can, wallets included"
    ]
