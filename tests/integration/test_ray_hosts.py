"""Judging spread over Ray hosts on two nodes (``ray.cluster_utils.Cluster``: two raylets on this machine, one
CPU-contest device each).

Each host opens its own baseline, image encoder and A/A control; the host on the second node stands for a host on
another machine, so the validator ships it the models and each checkpoint through the object store. One day is
judged, as a validator's day hands out checkpoints through ``judge``, and every test below reads it: the second
node is removed as soon as its host is handed a submission, a machine lost, and that submission is judged again on
the other host. The same submissions judged in the validator's own process must come out the same.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
import ray
from ray.cluster_utils import Cluster

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
from contest.judging.shipping import Entry, Shipment, ship, unpack
from tests.support.days import ONE_BLOCK_CONTEST, nudged_copy

pytestmark = pytest.mark.slow  # a whole day judged over a Ray cluster, and the cluster itself
CONTEST = ONE_BLOCK_CONTEST  # what is asserted is where and whether, not how fast
INPUTS = day_inputs(CONTEST, b"\x0d" * 32)
SHIPPED = "(another machine: each checkpoint is shipped to it)"
HOSTS = ("host-0", "host-1")
NODE = {"num_cpus": 1, "resources": {DEVICE_RESOURCE: 1}}  # each node: one CPU-contest device
# A validator's own cluster (``--ray.address local``) for three CPU-contest devices: its address and device count.
STARTED_HERE = """
import ray
from contest.judging.ray_hosts import DEVICE_RESOURCE, connect
connect("local", cpu_hosts=3)
print(ray.get_runtime_context().gcs_address, int(ray.cluster_resources()[DEVICE_RESOURCE]))
ray.shutdown()
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster(initialize_head=True, head_node_args=NODE)
    cluster.add_node(**NODE)
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture
def two_devices(cluster: Cluster) -> Cluster:
    """The cluster with both its devices: a node removed by the day is given back (the tests that need two hosts
    come first in this file, so this is only needed where they are run in another order)."""
    if devices(CONTEST) < 2:
        cluster.add_node(**NODE)  # returns once the node is up
    return cluster


def tree(folder: Path) -> dict[str, object]:
    """Every entry under ``folder``, walked without the code under test: bytes, link targets, folders."""
    found: dict[str, object] = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[relative] = ("link", os.readlink(path))
            elif path.is_dir():
                found[relative] = "folder"
            else:
                found[relative] = path.read_bytes()
    return found


def test_a_shipped_folder_arrives_byte_for_byte_with_its_links_and_empty_folders(cluster, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "unet" / "deep" / "er").mkdir(parents=True)
    (source / "empty").mkdir()
    (source / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    (source / "unet" / "deep" / "er" / "weights.bin").write_bytes(bytes(range(256)) * 1000)
    (source / "unet" / "notes.json").symlink_to("/etc/passwd")  # out of the folder: shipped as the link it is
    arrived = unpack(ship(source), tmp_path / "arrived")
    assert tree(arrived) == tree(source)
    assert tree(source)["unet/notes.json"] == ("link", "/etc/passwd")


@pytest.mark.parametrize("path", ["../escape", "/etc/cron.d/job", "a/../../b", ""])
def test_a_shipped_path_outside_its_folder_is_refused(cluster, tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="a shipped path must lie inside its folder"):
        unpack((Entry(path, "folder"),), tmp_path / "arrived")


def test_a_validator_starting_its_own_cluster_here_does_not_join_one_already_running(cluster: Cluster) -> None:
    own = subprocess.run(
        [sys.executable, "-c", STARTED_HERE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert own.returncode == 0, own.stderr[-3000:]
    address, device_count = own.stdout.split()
    assert address != cluster.address and device_count == "3", own.stdout


def test_hosts_on_another_device_than_the_contests_refuse_before_any_worker_starts(
    two_devices: Cluster, tiny_models: ContestModels
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
    assert devices_free_within(10.0, 2) == 2


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
    two_devices: Cluster, tiny_models: ContestModels
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
    assert devices_free_within(10.0, 2) == 2
    (drained,) = drained_on
    assert [(a.doing, a.submission) for a in activities if a.name == "host-0"] == [
        ("opening", None),
        ("ready", None),
        ("judging", drained),
        ("drained", drained),
    ]
    assert {a.machine for a in activities if a.doing != "opening"} == {"stand-in: cpu"}


@pytest.fixture(scope="module")
def submissions(tiny_checkpoint: Path, onnx_checkpoint: Path, tmp_path_factory) -> dict[str, Path]:
    """A faster model, a copy as fast as the baseline, a pickle beside a UNet (refused when screened)."""
    work = tmp_path_factory.mktemp("two-nodes")
    pickle = work / "pickle"
    shutil.copytree(tiny_checkpoint, pickle)
    (pickle / "unet" / "weights.data").write_bytes(b"\x80\x04K\x01.")
    return {"onnx": onnx_checkpoint, "nudged": nudged_copy(tiny_checkpoint, work / "nudged"), "pickle": pickle}


@pytest.fixture(scope="module")
def spread_day(
    cluster: Cluster, tiny_models: ContestModels, submissions: dict[str, Path]
) -> tuple[JudgingRun, list[str]]:
    """The submissions judged on two hosts, one per node; the second node is removed as its host is handed its
    first submission (at once: a submission of the image set alone may be judged within a second or two)."""
    assert devices(CONTEST) == 2
    (second,) = cluster.worker_nodes
    lines: list[str] = []
    elsewhere: list[str] = []
    removal: list[threading.Timer] = []

    def progress(line: str) -> None:
        lines.append(line)
        if line.endswith(SHIPPED):
            elsewhere.append(line.split()[0])
        if elsewhere and line.endswith(f": on {elsewhere[0]}") and not removal:
            removal.append(threading.Timer(0.0, cluster.remove_node, [second]))
            removal[0].start()

    run = judge(tiny_models, submissions, CONTEST, INPUTS, progress=progress, hosts=RayFleet())
    assert removal, lines  # the second node's host was handed a submission
    removal[0].join()
    return run, lines


def lost_and_survivor(lines: list[str]) -> tuple[str, str, str]:
    """The host on the removed node, the submission it was judging, and the host that judged on."""
    (lost,) = [line.split()[0] for line in lines if line.endswith(SHIPPED)]
    (key,) = [found[1] for line in lines if (found := re.match(rf"{lost} was lost while judging (\w+):", line))]
    (survivor,) = set(HOSTS) - {lost}
    return lost, key, survivor


def test_each_host_opens_with_its_own_baseline_and_control(spread_day: tuple[JudgingRun, list[str]]) -> None:
    run, lines = spread_day
    assert all(any(line.startswith(f"{host} is ready on ") for line in lines) for host in HOSTS), lines
    assert len(run.controls) == 1  # the surviving host's: the lost one took its own with it
    assert run.controls[0].pairs >= CONTEST.sampling.min_pairs


def test_the_host_on_the_other_node_opens_on_the_baseline_shipped_to_it(spread_day) -> None:
    _, lines = spread_day
    ready = [line for line in lines if " is ready on " in line]
    assert len(ready) == 2, lines
    assert sum(line.endswith(SHIPPED) for line in ready) == 1, ready  # the other is on the validator's node


def test_submissions_go_to_free_hosts_and_are_judged_as_in_process(spread_day: tuple[JudgingRun, list[str]]) -> None:
    run, lines = spread_day
    handed = [found[1] for line in lines if (found := re.search(r": on (host-\d)$", line))]
    assert set(handed[:2]) == set(HOSTS), lines  # the first two went to the two free hosts, not one after another
    onnx, refused = run.judgements["onnx"].verdict, run.judgements["pickle"].verdict
    assert onnx.valid and onnx.score is not None and onnx.score > CONTEST.minimum_improvement, onnx
    assert refused.reason is not None and refused.reason.kind == ReasonKind.REFUSED


def test_a_node_removed_mid_submission_has_it_judged_again_on_the_other_host(spread_day) -> None:
    run, lines = spread_day
    lost, key, survivor = lost_and_survivor(lines)
    assert any(f"{key}: its host was lost" in line and "judging it again" in line for line in lines), lines
    lost_at = lines.index(next(line for line in lines if f"{lost} was lost" in line))
    assert lines.index(next(line for line in lines if line.endswith(f"{key}: on {survivor}"))) > lost_at
    assert run.judged_on == {key: survivor for key in ("onnx", "nudged", "pickle")}
    verdicts = {key: judgement.verdict for key, judgement in run.judgements.items()}
    # Judged again while the lost node's processes are torn down on the same machine: whether, not how fast.
    assert verdicts["onnx"].valid and verdicts["nudged"].valid, verdicts
    assert verdicts["pickle"].reason is not None and verdicts["pickle"].reason.kind == ReasonKind.REFUSED


def test_a_lost_host_takes_its_device_and_its_report_with_it(spread_day: tuple[JudgingRun, list[str]]) -> None:
    run, lines = spread_day
    _, _, survivor = lost_and_survivor(lines)
    (report,) = run.hosts
    assert report.name == survivor and report.machine.endswith(f": {report.baseline.device.name}")
    assert devices(CONTEST) == 1


def test_every_host_is_ended_after_the_run_and_no_worker_of_theirs_is_left(
    spread_day: tuple[JudgingRun, list[str]],
) -> None:
    assert devices_free_within(10.0, 1) == 1  # the surviving node's device, given back
    deadline = time.monotonic() + 10.0
    while (left := host_workers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == []


@pytest.fixture(scope="module")
def judged_in_process(tiny_models: ContestModels, submissions: dict[str, Path]) -> JudgingRun:
    """The same submissions on the same image set, judged in the validator's own process."""
    return judge(tiny_models, submissions, CONTEST, INPUTS)


def test_two_nodes_and_one_process_agree_on_each_outcome_and_on_the_top_score(
    spread_day, judged_in_process: JudgingRun
) -> None:
    spread, _ = spread_day
    expected = {"onnx": "valid", "nudged": "valid", "pickle": "refused"}
    assert spread.kinds() == judged_in_process.kinds() == expected
    assert spread.top_scored() == judged_in_process.top_scored() == "onnx"


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


def devices_free_within(seconds: float, expected: int) -> float:
    deadline = time.monotonic() + seconds
    while (free := ray.available_resources().get(DEVICE_RESOURCE, 0.0)) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return free


def _ray_worker(process: psutil.Process) -> bool:
    """Ray titles its worker processes ``ray::<actor or task>``."""
    try:
        return " ".join(process.cmdline()).startswith("ray::")
    except psutil.Error:
        return False


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
