"""Judging spread over two Ray nodes (``ray.cluster_utils.Cluster``: two raylets on this machine, one device each).

The host on the second node stands for a host on another machine: the validator ships it the baseline, the
image encoder and each checkpoint through the object store, and judges it as it judges a host beside it.
Removing that node mid-submission is a machine lost: the submission is judged again on the other host. The
same submissions judged in the validator's own process must come out the same.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from contest.baseline import ContestModels
from contest.definitions import day_inputs
from contest.judging.judge import JudgingRun, judge
from contest.judging.ray_hosts import DEVICE_RESOURCE, RayFleet, devices
from contest.judging.reasons import ReasonKind
from contest.judging.shipping import Entry, ship, unpack
from tests.support.days import ONE_BLOCK_CONTEST, nudged_copy

CONTEST = ONE_BLOCK_CONTEST  # what is asserted is where and whether, not how fast
INPUTS = day_inputs(CONTEST, b"\x0d" * 32)
SHIPPED = "(another machine: each checkpoint is shipped to it)"
# A validator's own cluster (``--ray.address local``) for three CPU-contest devices: its address and device count.
STARTED_HERE = """
import ray
from contest.judging.ray_hosts import DEVICE_RESOURCE, connect
connect("local", cpu_hosts=3)
print(ray.get_runtime_context().gcs_address, int(ray.cluster_resources()[DEVICE_RESOURCE]))
ray.shutdown()
"""


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[tuple[Cluster, object]]:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {DEVICE_RESOURCE: 1}})
    second = cluster.add_node(num_cpus=1, resources={DEVICE_RESOURCE: 1})
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster, second
    ray.shutdown()
    cluster.shutdown()


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


def test_a_shipped_folder_arrives_byte_for_byte_with_its_links_and_empty_folders(two_nodes, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "unet" / "deep" / "er").mkdir(parents=True)
    (source / "empty").mkdir()
    (source / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    (source / "unet" / "deep" / "er" / "weights.bin").write_bytes(bytes(range(256)) * 1000)
    (source / "unet" / "notes.json").symlink_to("/etc/passwd")  # out of the folder: shipped as the link it is
    arrived = unpack(ship(source), tmp_path / "arrived")
    assert tree(arrived) == tree(source)
    assert tree(source)["unet/notes.json"] == ("link", "/etc/passwd")


def test_a_validator_starting_its_own_cluster_here_does_not_join_one_already_running(two_nodes) -> None:
    cluster, _ = two_nodes
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


@pytest.mark.parametrize("path", ["../escape", "/etc/cron.d/job", "a/../../b", ""])
def test_a_shipped_path_outside_its_folder_is_refused(two_nodes, tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="a shipped path must lie inside its folder"):
        unpack((Entry(path, "folder"),), tmp_path / "arrived")


@pytest.fixture(scope="module")
def submissions(tiny_checkpoint: Path, onnx_checkpoint: Path, tmp_path_factory) -> dict[str, Path]:
    """A faster model, a copy as fast as the baseline, a pickle."""
    work = tmp_path_factory.mktemp("two-nodes")
    pickle = work / "pickle"
    shutil.copytree(tiny_checkpoint, pickle)
    (pickle / "unet" / "weights.data").write_bytes(b"\x80\x04K\x01.")
    return {"onnx": onnx_checkpoint, "nudged": nudged_copy(tiny_checkpoint, work / "nudged"), "pickle": pickle}


@pytest.fixture(scope="module")
def spread_over_two_nodes(
    two_nodes, tiny_models: ContestModels, submissions: dict[str, Path]
) -> tuple[JudgingRun, list[str]]:
    """The submissions judged on two hosts, one per node; the second node is removed as its host is handed its
    first submission (at once: a submission of the image set alone may be judged within a second or two)."""
    cluster, second = two_nodes
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
    return run, lines


def test_the_host_on_the_other_node_opens_on_the_baseline_shipped_to_it(spread_over_two_nodes) -> None:
    _, lines = spread_over_two_nodes
    ready = [line for line in lines if " is ready on " in line]
    assert len(ready) == 2, lines
    assert sum(line.endswith(SHIPPED) for line in ready) == 1, ready  # the other is on the validator's node


def test_a_node_removed_mid_submission_has_it_judged_again_on_the_other_host(spread_over_two_nodes) -> None:
    run, lines = spread_over_two_nodes
    (shipped_to,) = [line.split()[0] for line in lines if line.endswith(SHIPPED)]
    (key,) = [found[1] for line in lines if (found := re.match(rf"{shipped_to} was lost while judging (\w+):", line))]
    assert any(f"{key}: its host was lost" in line and "judging it again" in line for line in lines), lines
    survivor = "host-1" if shipped_to == "host-0" else "host-0"
    assert run.judged_on == {key: survivor for key in ("onnx", "nudged", "pickle")}
    verdicts = {key: judgement.verdict for key, judgement in run.judgements.items()}
    # Judged again while the lost node's processes are torn down on the same machine: whether, not how fast.
    assert verdicts["onnx"].valid and verdicts["nudged"].valid, verdicts
    assert verdicts["pickle"].reason is not None and verdicts["pickle"].reason.kind == ReasonKind.REFUSED
    assert devices(CONTEST) == 1  # the removed node's device is gone with it


@pytest.fixture(scope="module")
def judged_in_process(tiny_models: ContestModels, submissions: dict[str, Path]) -> JudgingRun:
    """The same submissions on the same image set, judged in the validator's own process."""
    return judge(tiny_models, submissions, CONTEST, INPUTS)


def test_two_nodes_and_one_process_agree_on_each_outcome_and_on_the_top_score(
    spread_over_two_nodes, judged_in_process: JudgingRun
) -> None:
    spread, _ = spread_over_two_nodes
    expected = {"onnx": "valid", "nudged": "valid", "pickle": "refused"}
    assert spread.kinds() == judged_in_process.kinds() == expected
    assert spread.top_scored() == judged_in_process.top_scored() == "onnx"
