"""Screening in a worker: the guard's and the digest's verdicts come back, and a submission that makes the
inspection exhaust its memory or time limit is out within seconds, with nothing of it left running."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

import pytest

from base.isolation import Worker, WorkerTimeout
from contest.baseline import ContestModels
from contest.definitions import get_contest
from contest.judging import screening
from contest.judging.reasons import Reason, ReasonKind
from contest.judging.screening import UNMODIFIED_BASELINE, screen
from pipelines.manifest import Manifest, write_manifest

CONTEST = get_contest("tiny-sdxl-cpu")
LARGE = dataclasses.replace(CONTEST, max_checkpoint_bytes=8 * 1024**3)
WEIGHTS = Path("unet") / "diffusion_pytorch_model.safetensors"


@pytest.fixture
def checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_checkpoint, tmp_path / "checkpoint"))


@pytest.fixture(scope="module", autouse=True)
def warm_server(tiny_models: ContestModels) -> None:
    """The workers' server imports the runtimes once, so limits below measure the inspection, not that."""
    screen(tiny_models.baseline, CONTEST, tiny_models.baseline_digest)


def descendants() -> set[int]:
    """Every live process below this one (the workers' server, the workers), from /proc."""
    parents: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def empty_nodes_onnx(count: int) -> bytes:
    """An ONNX model whose graph is ``count`` empty nodes: 2 bytes each on disk, about 160 once parsed."""
    graph = b"\x0a\x00" * count  # GraphProto.node, field 1: an empty NodeProto
    return b"\x3a" + _varint(len(graph)) + graph  # ModelProto.graph, field 7


def test_the_baseline_is_the_unmodified_baseline(tiny_models: ContestModels) -> None:
    assert screen(tiny_models.baseline, CONTEST, tiny_models.baseline_digest) == UNMODIFIED_BASELINE


def test_a_dressed_baseline_is_still_the_baseline(checkpoint: Path, tiny_models: ContestModels) -> None:
    (checkpoint / "unet" / "LICENSE").write_text("MIT\n")
    write_manifest(checkpoint, Manifest.model_validate({"generation": {"steps": CONTEST.generation.steps}}))
    assert screen(checkpoint, CONTEST, tiny_models.baseline_digest) == UNMODIFIED_BASELINE


def test_a_changed_checkpoint_may_be_loaded(checkpoint: Path, tiny_models: ContestModels) -> None:
    write_manifest(checkpoint, Manifest.model_validate({"generation": {"steps": 4}}))
    assert screen(checkpoint, CONTEST, tiny_models.baseline_digest) is None


def test_a_guard_refusal_comes_back_with_the_file_and_reason(checkpoint: Path, tiny_models: ContestModels) -> None:
    (checkpoint / "unet" / "weights.data").write_bytes(b"\x80\x04K\x01.")
    assert screen(checkpoint, CONTEST, tiny_models.baseline_digest) == Reason(
        ReasonKind.REFUSED,
        "refused: unet/weights.data: pickle files are not accepted (only safetensors and ONNX weights)",
    )


def test_the_contests_limits_are_applied(checkpoint: Path, tiny_models: ContestModels) -> None:
    write_manifest(checkpoint, Manifest.model_validate({"generation": {"steps": CONTEST.generation.steps + 1}}))
    reason = screen(checkpoint, CONTEST, tiny_models.baseline_digest)
    assert reason is not None and reason.kind is ReasonKind.REFUSED and "above the contest's" in reason.message


def test_an_inspection_over_its_memory_limit_is_out_and_leaves_nothing(checkpoint: Path) -> None:
    """The issue's bomb: empty ONNX nodes, 50 MB on disk and about 4 GB once parsed."""
    (checkpoint / "unet" / "model.onnx").write_bytes(empty_nodes_onnx(25_000_000))
    contest = dataclasses.replace(LARGE, worker_memory_bytes=1536 * 2**20)
    before = descendants()
    started = time.monotonic()
    reason = screen(checkpoint, contest, b"")
    assert time.monotonic() - started < 20
    assert reason == Reason(ReasonKind.REFUSED, "refused: the inspection exceeded its memory limit of 1536 MiB")
    assert descendants() == before


def test_an_inspection_over_its_time_limit_is_out_and_leaves_nothing(checkpoint: Path) -> None:
    """Weights of 2 GiB (a sparse file: no disk) take the digest longer than the 2 s given, in little memory."""
    with (checkpoint / WEIGHTS).open("r+b") as weights:
        weights.truncate(2 * 1024**3)
    contest = dataclasses.replace(LARGE, load_timeout_s=2.0)
    before = descendants()
    started = time.monotonic()
    reason = screen(checkpoint, contest, b"")
    assert time.monotonic() - started < 10
    assert reason == Reason(ReasonKind.REFUSED, "refused: the inspection exceeded its time limit of 2 s")
    assert descendants() == before


@pytest.mark.parametrize(("timeouts", "expected"), [(1, UNMODIFIED_BASELINE), (2, None)])
def test_a_start_that_runs_out_of_time_is_tried_once_more_never_more(
    tiny_models: ContestModels, monkeypatch: pytest.MonkeyPatch, timeouts: int, expected: Reason | None
) -> None:
    """Starting reads nothing of the submission: a slow start is the machine's, so it gets a second chance."""
    starts: list[float] = []

    def slow_at_first(factory: str, request: object, start_timeout_s: float, **options: object) -> Worker:
        starts.append(start_timeout_s)
        if len(starts) <= timeouts:
            raise WorkerTimeout(f"start exceeded its {start_timeout_s:.0f} s limit and the worker was killed")
        return Worker(factory, request, start_timeout_s, **options)

    monkeypatch.setattr(screening, "Worker", slow_at_first)
    reason = screen(tiny_models.baseline, CONTEST, tiny_models.baseline_digest)
    assert starts == [CONTEST.load_timeout_s] * 2
    assert reason == (expected or Reason(ReasonKind.REFUSED, "refused: the inspection exceeded its time limit of 30 s"))
