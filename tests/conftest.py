"""Checkpoints built once per test session: building is deterministic, so sharing them is safe.

The tests run in a home of their own: the bittensor SDK fixes its ``~/.bittensor`` paths when it is
imported, and huggingface_hub reads its token and cache under ``~``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ["HOME"] = tempfile.mkdtemp(prefix="edge-tests-home-")
atexit.register(shutil.rmtree, os.environ["HOME"], ignore_errors=True)
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_ENDPOINT", None)

from pathlib import Path  # noqa: E402 - the imports below come after the home is set

import pytest  # noqa: E402

from pipelines.onnx_unet import export_onnx_checkpoint  # noqa: E402
from pipelines.tiny_sdxl import save_tiny_sdxl  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_sdxl(tmp_path_factory.mktemp("tiny") / "checkpoint", seed=0)


@pytest.fixture(scope="session")
def onnx_checkpoint(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx_checkpoint(tiny_checkpoint, tmp_path_factory.mktemp("onnx") / "checkpoint")
