"""A cuda contest keeps ONNX Runtime's work on the GPU: at inspection, and when the session starts."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort
import pytest
import torch

from contest.definitions import get_contest, inspect_for_contest
from pipelines.checkpoint_guard import CheckpointRefused
from pipelines.manifest import MANIFEST_NAME, ExecutionProvider, Manifest, OnnxOptions, write_manifest
from pipelines.onnx_unet import OnnxModule, check_session_device, load_onnx_unet

CUDA_CONTEST = get_contest("sdxl-newdream-20")
CPU_CONTEST = get_contest("tiny-sdxl-cpu")
TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"


WithProviders = Callable[[tuple[ExecutionProvider, ...]], Path]


@pytest.fixture
def with_providers(onnx_checkpoint: Path, tmp_path: Path) -> WithProviders:
    """A copy of the ONNX checkpoint whose manifest lists ``providers``."""

    def checkpoint(providers: tuple[ExecutionProvider, ...]) -> Path:
        folder = Path(shutil.copytree(onnx_checkpoint, tmp_path / "checkpoint", dirs_exist_ok=True))
        write_manifest(folder, Manifest(runtime="onnxruntime", onnx=OnnxOptions(providers=providers)))
        return folder

    return checkpoint


@pytest.mark.parametrize(
    ("providers", "reason"),
    [
        ((CPU,), "onnx.providers ['CPUExecutionProvider'] has no provider that runs on this contest's device (cuda)"),
        ((), "onnx.providers [] has no provider that runs on this contest's device (cuda)"),
        ((CPU, CUDA), "onnx.providers lists CPUExecutionProvider ahead of CUDAExecutionProvider"),
        ((CPU, TRT, CUDA), "onnx.providers lists CPUExecutionProvider ahead of CUDAExecutionProvider"),
        ((CUDA, CPU, TRT), "onnx.providers lists CPUExecutionProvider ahead of TensorrtExecutionProvider"),
    ],
    ids=["cpu-only", "none", "cpu-before-cuda", "cpu-first", "cpu-before-tensorrt"],
)
def test_a_cuda_contest_refuses_providers_that_move_work_to_the_cpu(
    with_providers: WithProviders, providers: tuple[ExecutionProvider, ...], reason: str
) -> None:
    with pytest.raises(CheckpointRefused) as refused:
        inspect_for_contest(with_providers(providers), CUDA_CONTEST)
    assert refused.value.path == MANIFEST_NAME
    assert refused.value.reason.startswith(reason)


@pytest.mark.parametrize(
    "providers",
    [(TRT, CUDA, CPU), (CUDA,), (TRT,), (CUDA, CPU), (TRT, CUDA)],
    ids=["default", "cuda", "tensorrt", "cuda-then-cpu", "gpu-only"],
)
def test_a_cuda_contest_accepts_providers_that_run_on_the_gpu_first(
    with_providers: WithProviders, providers: tuple[ExecutionProvider, ...]
) -> None:
    assert inspect_for_contest(with_providers(providers), CUDA_CONTEST).onnx == OnnxOptions(providers=providers)


@pytest.mark.parametrize("providers", [(CPU,), (TRT, CUDA, CPU), (CPU, CUDA)], ids=["cpu-only", "default", "cpu-first"])
def test_the_cpu_contest_accepts_the_cpu(
    with_providers: WithProviders, providers: tuple[ExecutionProvider, ...]
) -> None:
    assert inspect_for_contest(with_providers(providers), CPU_CONTEST).onnx == OnnxOptions(providers=providers)


class StandInSession:
    """An ONNX Runtime session as far as the device check reads it: the providers it actually runs on."""

    def __init__(self, providers: list[str]) -> None:
        self.providers = providers

    def get_providers(self) -> list[str]:
        return self.providers


@pytest.mark.parametrize(
    ("providers", "device"),
    [([CUDA, CPU], "cuda"), ([TRT, CUDA, CPU], "cuda:0"), ([CPU], "cpu"), ([CUDA, CPU], "cpu")],
)
def test_a_session_on_its_device_is_accepted(providers: list[str], device: str) -> None:
    check_session_device(StandInSession(providers), device)  # type: ignore[arg-type]


def test_a_session_left_on_the_cpu_fails_on_cuda_instead_of_falling_back() -> None:
    session = StandInSession([CPU])  # what ONNX Runtime starts when the CUDA provider cannot
    with pytest.raises(RuntimeError, match=r"runs on \['CPUExecutionProvider'\] on device cuda: neither"):
        OnnxModule(session, {}, "cuda", torch.float16)  # type: ignore[arg-type]


@pytest.mark.skipif(CUDA in ort.get_available_providers(), reason="this ONNX Runtime has the CUDA provider")
def test_the_onnx_unet_on_cuda_fails_where_onnx_runtime_has_no_gpu_provider(onnx_checkpoint: Path) -> None:
    with pytest.raises(RuntimeError, match=r"runs on \['CPUExecutionProvider'\] on device cuda"):
        load_onnx_unet(onnx_checkpoint, OnnxOptions(), "cuda", torch.float16)
