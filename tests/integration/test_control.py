"""The paired measurement's defences, against stand-in runtimes that misbehave between images.

Freezing the idle worker keeps whatever it leaves running off the machine while the baseline is timed; the
A/A control catches what freezing cannot reach (a process outside the worker's group) and puts the
submission out rather than credit it with the baseline's slow-down.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from base.measure import Estimate, ratio_ci, widened
from contest.baseline import ContestModels
from contest.definitions import day_inputs
from contest.judging.checkpoint_worker import CheckpointWorker
from contest.judging.judge import Judging, Measurement
from contest.judging.reasons import Reason, ReasonKind
from tests.support.days import IMAGE_SET_CONTEST, nudged_copy

CONTEST = IMAGE_SET_CONTEST  # the defences act on every run of pairs: the day's image set is one
INPUTS = day_inputs(CONTEST, b"\x07" * 32)


@pytest.fixture
def submission(tmp_path: Path, tiny_checkpoint: Path) -> Path:
    """A folder that passes the guard and is not the baseline; the stand-in runtime ignores what it holds."""
    return nudged_copy(tiny_checkpoint, tmp_path / "checkpoint" / "model")


def slowdown_beside(judging: Judging, neighbour: CheckpointWorker, frozen: bool, drift: float) -> Estimate:
    """How much slower than its reference the baseline draws right after the neighbour drew, frozen or left running.

    With its interval, as the judging's own check sees it with the machine's ``drift``.
    """
    times = []
    for item in INPUTS[:12]:
        neighbour.generate(item, timeout_s=60)
        if frozen:
            neighbour.freeze()
        started = time.perf_counter()
        judging.baseline.generate(item, timeout_s=60)
        times.append(time.perf_counter() - started)
    reference = judging.reference.baseline_samples
    ratio = widened(ratio_ci(times, reference), drift)
    return Estimate(ratio.value - 1, ratio.low - 1, ratio.high - 1)


@pytest.mark.alone  # a stand-in's slow-down is told from the machine's: nothing else may run
def test_freezing_keeps_a_runtime_that_burns_between_images_from_slowing_the_baseline(
    tiny_models: ContestModels, submission: Path
) -> None:
    session = "tests.support.standin_runtimes:BurnsBetweenImages"
    with Judging(tiny_models, CONTEST, INPUTS, submission_session=session) as judging:
        judging.control()
        with CheckpointWorker(submission, CONTEST, INPUTS, session) as burner:
            # That the burner slows the baseline when left running is shown without the drift term, which is
            # the machine's and not the burner's. Frozen, the judging's own check holds.
            unfrozen = slowdown_beside(judging, burner, frozen=False, drift=0.0)
            frozen = slowdown_beside(judging, burner, frozen=True, drift=CONTEST.control.drift)
        tolerance = CONTEST.control.slowdown_tolerance
        assert unfrozen.low > tolerance, unfrozen
        assert frozen.low <= tolerance, frozen
        outcome = judging.measure("burner", submission)  # the judging itself freezes it
    # Left running, the burner slows every attempt, and a second slow attempt puts the submission out. A noisy
    # machine may cost one attempt, so the number of attempts is not the test.
    assert isinstance(outcome, Measurement), outcome


def test_a_process_left_running_after_the_worker_closed_is_killed_and_the_submission_is_out(
    tiny_models: ContestModels, submission: Path
) -> None:
    session = "tests.support.standin_runtimes:LeavesABurnerBehind"
    with Judging(tiny_models, CONTEST, INPUTS, submission_session=session) as judging:
        judging.control()
        outcome = judging.measure("escapee", submission)
    assert isinstance(outcome, Reason) and outcome.kind == ReasonKind.LEFT_PROCESSES
    assert outcome.message.startswith("its worker left processes running: pid ")
    (pid,) = re.findall(r"pid (\d+) \(", outcome.message)
    assert f"pid {pid} ({sys.executable} -c import time" in outcome.message  # the burner it started
    assert outcome.message.endswith("they were killed")
    assert not os.path.exists(f"/proc/{pid}")  # killed and reaped


@pytest.mark.alone  # the same: the slow-down must be the stand-in's
def test_the_control_puts_out_a_submission_beside_which_the_baseline_runs_slow(
    tiny_models: ContestModels, submission: Path
) -> None:
    session = "tests.support.standin_runtimes:BurnsBesideItself"
    # The mechanism, not the calibration: without the machine's drift, any slow-down the pairs show clearly
    # above the tolerance puts it out.
    contest = replace(CONTEST, control=replace(CONTEST.control, drift=0.0))
    lines: list[str] = []
    with Judging(tiny_models, contest, INPUTS, lines.append, submission_session=session) as judging:
        judging.control()
        outcome = judging.measure("neighbour", submission)
        controls = judging.controls
    assert isinstance(outcome, Reason) and outcome.kind == ReasonKind.SLOWED_BASELINE
    assert outcome.message.startswith("the baseline ran ") and "slower beside it than beside an identical copy" in (
        outcome.message
    )
    assert sum("measuring again" in line for line in lines) == 1
    assert len(controls) == 2  # the control ran again, with nothing of the submission on the machine
