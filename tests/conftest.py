"""Checkpoints built once per test session: building is deterministic, so sharing them is safe.

Tests come in tiers by folder: ``unit/`` (one module, in process, seconds in all), ``integration/`` (workers,
servers, the chain adapters) and ``e2e/`` (whole days and the commands as users run them, marked ``slow``);
``support/`` holds the fakes and the world they build. Tests that install a tool on the host are marked
``host_tool``.

The tests run in a home of their own: the bittensor SDK fixes its ``~/.bittensor`` paths when it is
imported, and huggingface_hub reads its token and cache under ``~``.
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import tempfile

os.environ["HOME"] = tempfile.mkdtemp(prefix="edge-tests-home-")
atexit.register(shutil.rmtree, os.environ["HOME"], ignore_errors=True)
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_ENDPOINT", None)

import json  # noqa: E402 - the imports below come after the home is set
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402

if TYPE_CHECKING:
    from contest.baseline import ContestModels

# The libraries load where a fixture needs them, not here: pytest-xdist's controlling process reads this file too,
# and starts the test processes only once it has.

SPREAD = bool(os.environ.get("PYTEST_XDIST_WORKER"))  # one of several test processes that pytest-xdist started


def own_cores(worker: str, workers: int, cores: list[int]) -> set[int]:
    """The cores test process ``worker`` (``gw0``, ``gw1``, ...) of ``workers`` keeps to: every ``workers``-th from
    its own index on, so the processes share none; all of ``cores`` where there are fewer cores than processes."""
    if workers > len(cores):
        return set(cores)
    return set(cores[int(worker.removeprefix("gw")) :: workers])


if SPREAD:
    # Each test process keeps to cores of its own, and what it starts inherits them: a day timed in one process is
    # not slowed by the other's work in the middle of a pair, so the tests that read who is faster read the same
    # as when run alone. Torch's pool in the test process itself takes one thread.
    os.sched_setaffinity(
        0,
        own_cores(
            os.environ["PYTEST_XDIST_WORKER"],
            int(os.environ["PYTEST_XDIST_WORKER_COUNT"]),
            sorted(os.sched_getaffinity(0)),
        ),
    )
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> ContestModels:
    """The embedded default's models, as shipped: the baseline and the similarity gate's image encoder."""
    from contest.baseline import ensure_models
    from contest.definitions import get_contest

    return ensure_models(get_contest("tiny-sdxl-cpu"), tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_models: ContestModels) -> Path:
    return tiny_models.baseline


@pytest.fixture(scope="session")
def onnx_checkpoint(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipelines.onnx_unet import export_onnx_checkpoint

    return export_onnx_checkpoint(tiny_checkpoint, tmp_path_factory.mktemp("onnx") / "checkpoint")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo's whole contest day (``python -m contest.cli.demo``): its data folder and all it printed.

    Its self-checks and its day measure the image set alone: the tests read ranks, kinds and reasons of models
    far apart, not interval widths (``make demo`` runs the contest's whole sampling). One day per run: where
    pytest-xdist runs the tests in several processes, the first to need it runs it and the others read it."""
    from tests.support.image_set import image_set_environment

    shared = tmp_path_factory.getbasetemp()
    if SPREAD:
        shared = shared.parent  # the run's folder, above each process's own
    data_dir, ran = shared / "demo", shared / "demo.json"
    with FileLock(shared / "demo.lock"):
        if not ran.exists():
            data_dir.mkdir()
            run = subprocess.run(
                [sys.executable, "-m", "contest.cli.demo", "--data_dir", str(data_dir)],
                cwd=Path(__file__).resolve().parent.parent,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
                env=image_set_environment(),
            )
            ran.write_text(json.dumps({"returncode": run.returncode, "printed": run.stdout + run.stderr}))
    day = json.loads(ran.read_text())
    assert day["returncode"] == 0, day["printed"][-8000:]
    return data_dir, day["printed"]


@pytest.fixture(scope="session")
def leaderboard(demo: tuple[Path, str]) -> dict:
    """The demo day's leaderboard, as parsed JSON."""
    data_dir, _ = demo
    (path,) = (data_dir / "leaderboards" / "tiny-sdxl-cpu").glob("*.json")
    return json.loads(path.read_text())


@pytest.hookimpl(wrapper=True)
def pytest_collection() -> object:
    """Collection imports the test modules and, through them, the libraries: the collector stays off meanwhile, as
    it would walk the new objects again and again as they load."""
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under ``e2e/`` runs whole days or commands: ``slow``.

    Spread over processes (``make test``: pytest-xdist, ``--dist loadfile``), the slow files start first, so that
    the quick ones fill the gaps at the end instead of one slow file running by itself; the first file that reads
    the demo's day starts before them all, and the others that read it come last, when it is ready.
    """
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.slow)
    if SPREAD:
        items.sort(key=_start_order(items))


def _start_order(items: list[pytest.Item]) -> Callable[[pytest.Item], int]:
    reading_the_demo = list(dict.fromkeys(item.path for item in items if "demo" in item.fixturenames))

    def order(item: pytest.Item) -> int:
        if reading_the_demo and item.path == reading_the_demo[0]:
            return 0
        if item.path in reading_the_demo:
            return 3
        return 1 if item.get_closest_marker("slow") else 2

    return order
