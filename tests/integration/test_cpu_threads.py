"""A contest's CPU threads: the tiny contest's checkpoints draw on one core, with torch or with ONNX Runtime.

On two cores a second thread keeps a second core busy while the tiny model draws (torch's pool spins; ONNX
Runtime's pool, which a session sizes as torch's, works), so CPU time over wall time tells the settings apart.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from contest.definitions import get_contest
from contest.judging.checkpoint_worker import CheckpointWorker
from pipelines.generation import GenerationInput

CONTEST = get_contest("tiny-sdxl-cpu")
INPUTS = [GenerationInput(f"a {colour} circle", index) for index, colour in enumerate(("red", "blue", "green"))]
PROBES = "tests.support.drawing_cores"


def drawing(checkpoint: Path, probe: str) -> dict:
    with CheckpointWorker(checkpoint, CONTEST, INPUTS, f"{PROBES}:{probe}") as worker:
        return json.loads(worker.loaded.runtime)


@pytest.mark.parametrize("checkpoint", ["tiny_checkpoint", "onnx_checkpoint"])
def test_a_tiny_contest_checkpoint_draws_on_one_core(checkpoint: str, request: pytest.FixtureRequest) -> None:
    found = drawing(request.getfixturevalue(checkpoint), "DrawingCores")
    assert CONTEST.cpu_threads == 1 and found["threads"] == 1
    assert found["busy_cores"] < 1.1, found


@pytest.mark.alone  # a second core kept busy: only where no other test holds it
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: every setting draws on it")
@pytest.mark.parametrize("checkpoint", ["tiny_checkpoint", "onnx_checkpoint"])
def test_without_the_setting_the_same_drawing_keeps_more_than_one_core_busy(
    checkpoint: str, request: pytest.FixtureRequest
) -> None:
    """The contrast, so that the figure above is the setting's and not the machine's."""
    found = drawing(request.getfixturevalue(checkpoint), "DrawingCoresOnEveryCore")
    assert found["threads"] == len(os.sched_getaffinity(0)) and found["busy_cores"] > 1.1, found


def test_a_contest_refuses_fewer_than_one_thread() -> None:
    with pytest.raises(ValueError, match="cpu_threads must be at least 1 or None, got 0"):
        replace(CONTEST, cpu_threads=0)
