"""The CUDA stack's check at set-up: each mismatch named in one line; a matching stack and a CPU machine pass."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from tests.support.paths import ROOT
from tools.check_cuda_stack import CudaStack, mismatch, wheels_cuda_major

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
MATCHING = CudaStack("2.13.0+cu128", "12.8", GPU_PROVIDERS, "12.6", "10.16.1.11")


def test_the_wheels_cuda_major_comes_from_the_pinned_tensorrt() -> None:
    assert wheels_cuda_major() == "12"  # pyproject.toml pins tensorrt-cu12


def test_a_matching_stack_passes() -> None:
    assert mismatch(MATCHING, "12") is None
    assert mismatch(replace(MATCHING, onnxruntime_cuda=None), "12") is None  # a build that does not say


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        (replace(MATCHING, torch_version="2.13.0+cpu", torch_cuda=None), "torch 2.13.0+cpu is a CPU build"),
        (replace(MATCHING, torch_version="2.13.0+cu130", torch_cuda="13.0"),
         "torch 2.13.0+cu130 is built for CUDA 13.0, ONNX Runtime and TensorRT for CUDA 12"),
        (replace(MATCHING, onnxruntime_providers=("CPUExecutionProvider",)), "ONNX Runtime has no CUDA provider"),
        (replace(MATCHING, onnxruntime_cuda="11.8"), "ONNX Runtime is built for CUDA 11.8, torch for CUDA 12.8"),
        (replace(MATCHING, tensorrt=None), "TensorRT is not importable (the gpu extra pins tensorrt-cu12)"),
    ],
)  # fmt: skip
def test_each_mismatch_is_named_in_one_line(stack: CudaStack, expected: str) -> None:
    found = mismatch(stack, "12")
    assert found is not None and found.startswith(expected) and "\n" not in found


def test_without_a_driver_there_is_nothing_to_check(tmp_path) -> None:
    env = {"PATH": str(tmp_path)}  # no nvidia-smi
    run = subprocess.run([sys.executable, "-m", "tools.check_cuda_stack"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=False)  # fmt: skip
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")
