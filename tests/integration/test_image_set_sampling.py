"""The tests' switch that has a command measure image sets alone reaches the command and stops at its workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from base.isolation.worker import kept_environment
from contest.definitions import get_contest
from tests.support.image_set import ONE_BLOCK, SWITCH, image_set_environment

READ = "from contest.definitions import get_contest; sampling = get_contest('tiny-sdxl-cpu').sampling; print({})"


def sampling_in_a_new_process(field: str, environment: dict[str, str], folder: Path) -> float:
    """``field`` of the CPU contest's sampling, as a command started with ``environment`` reads it."""
    run = subprocess.run(
        [sys.executable, "-c", READ.format(f"sampling.{field}")],
        cwd=folder, env=environment, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(run.stdout)


def test_a_command_started_with_the_switch_measures_the_image_set_alone(tmp_path: Path) -> None:
    assert sampling_in_a_new_process("max_seconds", image_set_environment(), tmp_path) == 0.0
    assert sampling_in_a_new_process("min_pairs", image_set_environment(), tmp_path) == 8  # two ABBA blocks


def test_a_command_started_with_one_block_measures_that_block_alone(tmp_path: Path) -> None:
    environment = image_set_environment(blocks=ONE_BLOCK)
    assert sampling_in_a_new_process("max_seconds", environment, tmp_path) == 0.0
    assert sampling_in_a_new_process("min_pairs", environment, tmp_path) == 4


def test_a_command_started_without_it_measures_as_the_contest_says(tmp_path: Path) -> None:
    contest_seconds = get_contest("tiny-sdxl-cpu").sampling.max_seconds
    assert contest_seconds > 0
    assert sampling_in_a_new_process("max_seconds", dict(os.environ), tmp_path) == contest_seconds


def test_the_workers_a_command_starts_do_not_keep_the_switch() -> None:
    assert SWITCH not in kept_environment(image_set_environment())
