"""A validator whose own side fails exits in seconds and leaves nothing running.

Each case runs the judging in a process of its own, in a session of its own, so that what it leaves behind
can be found: every worker it started is in that session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from contest.baseline import ContestModels
from contest.definitions import day_inputs
from contest.judging.judge import Judging, Measurement
from tests.support.days import ONE_BLOCK_CONTEST, nudged_copy
from tests.support.paths import ROOT

EXIT_LIMIT_S = 10.0

PREAMBLE = """
import sys
from pathlib import Path
from contest.baseline import ContestModels
from contest.definitions import day_inputs, get_contest
from contest.judging import judge as judging
from contest.judging.judge import Judging
from tests.support.days import nudged_copy

contest = get_contest("tiny-sdxl-cpu")
models = ContestModels.of(contest, Path(sys.argv[1]), Path(sys.argv[2]))
inputs = day_inputs(contest, b"\\x07" * 32)
print("ready", flush=True)
"""


def left_in(session: int) -> list[psutil.Process]:
    """Processes still alive in ``session`` (zombies waiting for a dead parent's reaper are gone already)."""
    alive = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getsid(process.pid) == session and process.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return alive


def run_failing(script: str, models: ContestModels) -> tuple[subprocess.CompletedProcess[str], float, list]:
    """Run ``script`` after the preamble; how it ended, the seconds from its failure to its exit, what it left."""
    process = subprocess.Popen(
        [sys.executable, "-c", PREAMBLE + textwrap.dedent(script), str(models.baseline), str(models.image_encoder)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.communicate()
        pytest.fail("the judging process did not exit")
    failed_at = float(next(line.split()[1] for line in stdout.splitlines() if line.startswith("failing")))
    seconds = time.time() - failed_at
    time.sleep(0.5)  # the kernel's delivery of the parent's death to the workers
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), seconds, left_in(process.pid)


def test_an_error_while_the_baseline_is_frozen_exits_in_seconds_and_leaves_no_worker(
    tiny_models: ContestModels,
) -> None:
    result, seconds, left = run_failing(
        """
        import time
        with judging.Judging(models, contest, inputs) as j:
            j.baseline.freeze()
            j.encoder._worker.freeze()
            print("failing", time.time(), flush=True)
            raise RuntimeError("the validator trips")
        """,
        tiny_models,
    )
    assert result.returncode == 1 and "the validator trips" in result.stderr
    assert seconds < EXIT_LIMIT_S, seconds
    assert left == [], left


def test_a_control_that_keeps_failing_fails_the_day_in_seconds_and_leaves_no_worker(
    tiny_models: ContestModels,
) -> None:
    result, seconds, left = run_failing(
        """
        import time
        from base.isolation import WorkerTimeout
        from contest.judging.checkpoint_worker import CheckpointWorker

        def times_out(self, item, timeout_s):
            raise WorkerTimeout("generate exceeded its 1 s limit and the worker was killed")

        CheckpointWorker.generate = times_out
        print("failing", time.time(), flush=True)
        judging.judge(models, {"miner": Path(sys.argv[1])}, contest, inputs, progress=print)
        """,
        tiny_models,
    )
    assert result.returncode == 1
    assert "BaselineFailed: the baseline failed: generate exceeded" in result.stderr
    assert result.stdout.count("restarting the validator's workers") == 1  # one fresh try, then the day's error
    assert left == [], left
    # Two starts of the workers and two failed controls: seconds, not minutes.
    assert seconds < 3 * EXIT_LIMIT_S, seconds


def test_a_baseline_that_dies_mid_day_is_restarted_and_the_submission_is_judged_not_blamed(
    tiny_models: ContestModels, tmp_path: Path
) -> None:
    """The baseline's worker is killed between two submissions: the next is measured on fresh workers."""
    contest = ONE_BLOCK_CONTEST  # whether it is judged, not how fast
    submission = nudged_copy(tiny_models.baseline, tmp_path / "nudged")
    lines: list[str] = []
    with Judging(tiny_models, contest, day_inputs(contest, b"\x07" * 32), lines.append) as judging:
        judging.fresh_control()
        os.kill(judging.baseline._worker._process.pid, 9)
        outcome = judging.judge_one("nudged", submission)
        controls = len(judging.controls)
    assert isinstance(outcome, Measurement), outcome
    assert sum("restarting it, measuring again" in line for line in lines) == 1
    assert controls == 2  # the control ran again on the fresh workers
