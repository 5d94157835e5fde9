"""The device check as a lent GPU machine's session runs it: refused in one line where there is no GPU."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.support.paths import ROOT

CHECK = [sys.executable, str(ROOT / "benchmarks" / "device_check.py")]


def test_help_says_what_it_measures_and_how_long_it_may_take() -> None:
    shown = subprocess.run([*CHECK, "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    for promise in ("A/A control", "worker spread", "drift", "TensorRT", "torch.compile", "--budget-s", "exits 2"):
        assert promise in shown, promise


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_without_a_cuda_device_it_exits_2_with_one_line_and_writes_nothing(tmp_path) -> None:
    output = tmp_path / "check.json"
    run = subprocess.run([*CHECK, "--output", str(output)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert line.startswith("device_check: no CUDA device here (torch ") and line.endswith("with an NVIDIA GPU")
    assert not output.exists()
