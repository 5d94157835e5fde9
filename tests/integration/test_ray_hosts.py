"""Judging spread over Ray actors on a real local Ray instance: two hosts stand for two CPU-contest devices.

Each host starts its own baseline, image encoder and A/A control; the tests hand them checkpoints through
``judge`` as a validator's day does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
import ray

from base.measure.device import probe_device
from contest.baseline import ContestModels
from contest.definitions import day_inputs
from contest.judging.hosts import HostActivity, HostReport
from contest.judging.judge import HostSetup, JudgingRun, Outcome, judge
from contest.judging.pairing import BaselineFailed
from contest.judging.ray_hosts import (
    DEVICE_RESOURCE,
    RECEIVED_PREFIX,
    HostActor,
    Kept,
    RayFleet,
    RayHosts,
    devices,
    received_folder,
)
from contest.judging.reasons import Reason, ReasonKind
from contest.judging.shipping import Shipment
from tests.support.days import ONE_BLOCK_CONTEST

CONTEST = ONE_BLOCK_CONTEST  # what is asserted is where and whether, not how fast
INPUTS = day_inputs(CONTEST, b"\x0c" * 32)


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, resources={DEVICE_RESOURCE: 2}, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def pickled(checkpoint: Path, folder: Path) -> Path:
    """The checkpoint with a pickle beside its UNet: refused when screened."""
    shutil.copytree(checkpoint, folder)
    (folder / "unet" / "weights.data").write_bytes(b"\x80\x04K\x01.")
    return folder


@pytest.fixture(scope="module")
def spread_day(
    cluster: None, tiny_models: ContestModels, onnx_checkpoint: Path, tiny_checkpoint: Path, tmp_path_factory
) -> tuple[JudgingRun, list[str]]:
    """Two hosts judge a faster model and a pickle; host-0 is killed as soon as it is handed the faster model."""
    opened: list[RayHosts] = []
    lines: list[str] = []

    def hosts(setup: HostSetup) -> RayHosts:
        opened.append(RayFleet()(setup))
        return opened[0]

    def progress(line: str) -> None:
        lines.append(line)
        if line.endswith("onnx: on host-0"):
            threading.Thread(target=ray.kill, args=[opened[0].actors["host-0"]]).start()

    pickle = pickled(tiny_checkpoint, tmp_path_factory.mktemp("pickle") / "checkpoint")
    run = judge(
        tiny_models, {"onnx": onnx_checkpoint, "pickle": pickle}, CONTEST, INPUTS, progress=progress, hosts=hosts
    )
    return run, lines


def test_each_host_opens_with_its_own_baseline_and_control(spread_day: tuple[JudgingRun, list[str]]) -> None:
    assert devices(CONTEST) == 2
    run, lines = spread_day
    assert any(line.startswith("host-0 is ready on ") for line in lines), lines
    assert any(line.startswith("host-1 is ready on ") for line in lines), lines
    assert len(run.controls) == 1  # the surviving host's: the lost one took its own with it
    assert run.controls[0].pairs >= CONTEST.sampling.min_pairs


def test_submissions_go_to_free_hosts_and_are_judged_as_in_process(spread_day: tuple[JudgingRun, list[str]]) -> None:
    run, lines = spread_day
    onnx, refused = run.judgements["onnx"].verdict, run.judgements["pickle"].verdict
    assert onnx.valid and onnx.score is not None and onnx.score > CONTEST.minimum_improvement, onnx
    assert refused.reason is not None and refused.reason.kind == ReasonKind.REFUSED
    assert any(line.endswith("pickle: on host-1") for line in lines), lines


def test_a_host_killed_mid_submission_has_it_judged_again_on_the_other(
    spread_day: tuple[JudgingRun, list[str]],
) -> None:
    run, lines = spread_day
    assert any("host-0 was lost while judging onnx" in line for line in lines), lines
    assert any("onnx: its host was lost" in line and "judging it again" in line for line in lines), lines
    assert lines.index(next(line for line in lines if line.endswith("onnx: on host-1"))) > lines.index(
        next(line for line in lines if "host-0 was lost" in line)
    )
    assert run.judgements["onnx"].verdict.valid
    assert run.judged_on == {"onnx": "host-1", "pickle": "host-1"}
    (survivor,) = run.hosts  # the lost host's report went with it
    assert survivor.name == "host-1" and survivor.machine.endswith(f": {survivor.baseline.device.name}")


def test_every_host_is_ended_after_the_run_and_no_worker_of_theirs_is_left(
    spread_day: tuple[JudgingRun, list[str]],
) -> None:
    assert devices_free_within(10.0) == 2
    deadline = time.monotonic() + 10.0
    while (left := host_workers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == []


def test_hosts_on_another_device_than_the_contests_refuse_before_any_worker_starts(
    spread_day: tuple[JudgingRun, list[str]], tiny_models: ContestModels
) -> None:
    """Each host checks its device first and says so in one line; with none left, nothing can be judged."""
    elsewhere = replace(CONTEST, device_name="NVIDIA GeForce RTX 4090")
    lines: list[str] = []
    setup = HostSetup(tiny_models, elsewhere, INPUTS, lines.append, keep_images=None, scratch_in=None)
    with pytest.raises(BaselineFailed, match=r"^no judging host opened \(host-0 did not open: host-0 on ") as refused:
        RayFleet()(setup)
    assert f"has a {probe_device('cpu').name}, not NVIDIA GeForce RTX 4090; host-1 did not open" in str(refused.value)
    assert [line.split(":")[0] for line in lines] == ["host-0 did not open", "host-1 did not open"], lines
    assert host_workers() == []
    assert devices_free_within(10.0) == 2


def host_workers() -> list[str]:
    """The hosts' checkpoint and encoder workers: started by Ray's worker processes through multiprocessing."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            command = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if "multiprocessing" in command and any(_ray_worker(parent) for parent in process.parents()):
            found.append(f"{process.pid}: {command[:80]}")
    return found


def devices_free_within(seconds: float) -> float:
    deadline = time.monotonic() + seconds
    while (free := ray.available_resources().get(DEVICE_RESOURCE, 0.0)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    return free


def _ray_worker(process: psutil.Process) -> bool:
    """Ray titles its worker processes ``ray::<actor or task>``."""
    try:
        return " ".join(process.cmdline()).startswith("ray::")
    except psutil.Error:
        return False


class DriftingHost(HostActor):
    """A host whose every outcome is a reason naming it, and whose machine drifts after its first submission
    where it is host-0: a drift on cue, which a real machine gives only by chance."""

    def open(self, shipped_models: tuple[Shipment, Shipment] | None = None) -> tuple[str, Kept]:
        self.machine = "stand-in: cpu"
        return self.machine, []

    def judge(self, key: str, folder: str | Shipment, at: str) -> tuple[Outcome, Kept, str | None]:
        drifted = "its baseline ran 40% slower" if self.name == "host-0" else None
        return Reason(ReasonKind.FAILED, f"judged on {self.name}"), [], drifted

    def report(self) -> HostReport:
        return HostReport(self.name, self.machine, (), None, 0.0)  # type: ignore[arg-type]

    def close(self) -> None:
        pass


def test_a_host_whose_machine_drifts_is_drained_and_the_others_judge_the_rest(
    spread_day: tuple[JudgingRun, list[str]], tiny_models: ContestModels
) -> None:
    lines: list[str] = []
    activities: list[HostActivity] = []
    keys = [f"miner-{number}" for number in range(4)]
    run = judge(
        tiny_models,
        {key: Path("/nonexistent") / key for key in keys},
        CONTEST,
        INPUTS,
        progress=lines.append,
        hosts=lambda setup: RayHosts(2, setup, DriftingHost),
        watch_hosts=activities.append,
    )
    drained_on = [key for key, host in run.judged_on.items() if host == "host-0"]
    assert len(drained_on) == 1, run.judged_on  # its first submission is kept: measured on one device throughout
    assert set(run.judged_on) == set(keys) and list(run.judged_on.values()).count("host-1") == 3
    assert "host-0 is drained: its baseline ran 40% slower" in lines, lines
    assert {report.name: report.drained for report in run.hosts} == {
        "host-0": "its baseline ran 40% slower",
        "host-1": None,
    }
    assert devices_free_within(10.0) == 2
    (drained,) = drained_on
    assert [(a.doing, a.submission) for a in activities if a.name == "host-0"] == [
        ("opening", None),
        ("ready", None),
        ("judging", drained),
        ("drained", drained),
    ]
    assert {a.machine for a in activities if a.doing != "opening"} == {"stand-in: cpu"}


def test_a_hosts_folder_left_by_one_that_died_is_removed_by_the_next_host_on_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost node's host never closes: what was shipped to it (7 GB for SDXL) would stay on its machine."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen(["true"])
    ended.wait()  # a process id that no longer runs
    dead = tmp_path / f"{RECEIVED_PREFIX}{ended.pid}-abc"
    (dead / "shipped-1").mkdir(parents=True)
    alive = tmp_path / f"{RECEIVED_PREFIX}{os.getppid()}-def"
    alive.mkdir()
    other = tmp_path / "edge-other-1"
    other.mkdir()
    new = received_folder()
    assert new.parent == tmp_path and new.name.startswith(f"{RECEIVED_PREFIX}{os.getpid()}-")
    assert not dead.exists() and alive.is_dir() and other.is_dir()
