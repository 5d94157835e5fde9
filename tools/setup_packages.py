"""Which ONNX Runtime build set-up installs: the GPU build and TensorRT beside an NVIDIA driver, else the CPU one.

The CPU wheel has no CUDA or TensorRT provider, so a contest device with a GPU must get ``onnxruntime-gpu``;
the two wheels ship the same ``onnxruntime`` module, so exactly one of them is installed.
``python -m tools.setup_packages`` prints the requirements for this machine, one per line, for ``make setup``.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _extra(name: str) -> tuple[str, ...]:
    """The pinned requirements of one of the project's extras: pyproject.toml is the one place they are named."""
    with PYPROJECT.open("rb") as file:
        return tuple(tomllib.load(file)["project"]["optional-dependencies"][name])


CPU_PACKAGES = _extra("cpu")
GPU_PACKAGES = _extra("gpu")


def nvidia_driver_present() -> bool:
    """Whether ``nvidia-smi`` is on PATH and lists at least one GPU (it fails without a working driver)."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return False
    try:
        listing = subprocess.run([command, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listing.returncode == 0 and "GPU " in listing.stdout


def setup_packages() -> tuple[str, ...]:
    return GPU_PACKAGES if nvidia_driver_present() else CPU_PACKAGES


if __name__ == "__main__":
    print("\n".join(setup_packages()))
