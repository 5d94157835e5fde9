"""Set-up installs the ONNX Runtime build that fits the machine; a stand-in ``nvidia-smi`` plays the driver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tools.setup_packages import CPU_PACKAGES, GPU_PACKAGES


def packages_with(tmp_path: Path, nvidia_smi: str | None) -> list[str]:
    """What ``python -m tools.setup_packages`` prints with only ``nvidia_smi`` (a shell body) on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if nvidia_smi is not None:
        script = bin_dir / "nvidia-smi"
        script.write_text(f"#!/bin/sh\n{nvidia_smi}\n")
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "tools.setup_packages"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return run.stdout.split()


def test_a_machine_without_nvidia_smi_gets_the_cpu_build(tmp_path: Path) -> None:
    assert packages_with(tmp_path, None) == list(CPU_PACKAGES)


def test_a_machine_with_a_working_driver_gets_the_gpu_build_and_tensorrt(tmp_path: Path) -> None:
    listed = packages_with(tmp_path, 'echo "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-1234)"')
    assert listed == list(GPU_PACKAGES)
    assert any(name.startswith("onnxruntime-gpu==") for name in listed)
    assert any(name.startswith("tensorrt") for name in listed)


@pytest.mark.parametrize(
    "body",
    ['echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver"; exit 9', "exit 0"],
    ids=["driver-missing", "no-gpu-listed"],
)
def test_nvidia_smi_without_a_working_gpu_gets_the_cpu_build(tmp_path: Path, body: str) -> None:
    assert packages_with(tmp_path, body) == list(CPU_PACKAGES)
