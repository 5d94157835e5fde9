"""After set-up on a machine with an NVIDIA driver: torch, ONNX Runtime and TensorRT must share one CUDA major.

A CPU build of torch, an ONNX Runtime without its CUDA provider, or a CUDA major other than the one the GPU
wheels are built for (the ``-cuNN`` of the pinned TensorRT in pyproject.toml's ``gpu`` extra) would leave the
contest's CUDA paths to fail at the first judging; ``make setup`` stops on it instead, with one line naming the
mismatch. Without a driver there is nothing to check.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from tools.setup_packages import GPU_PACKAGES, nvidia_driver_present


def wheels_cuda_major() -> str:
    """The CUDA major the GPU extra's wheels are built for, read from its TensorRT pin (``tensorrt-cu12==...``)."""
    for requirement in GPU_PACKAGES:
        if found := re.match(r"tensorrt-cu(\d+)==", requirement):
            return found[1]
    raise ValueError(f"the gpu extra pins no tensorrt-cuNN: {GPU_PACKAGES}")


@dataclass(frozen=True)
class CudaStack:
    torch_version: str
    torch_cuda: str | None  # None: a CPU build
    onnxruntime_providers: tuple[str, ...]
    onnxruntime_cuda: str | None  # from ONNX Runtime's build information, where it says
    tensorrt: str | None  # None: not importable


def installed() -> CudaStack:
    import onnxruntime
    import torch

    build = re.search(r"cuda_version=([\d.]+)", onnxruntime.get_build_info())
    try:
        import tensorrt

        tensorrt_version: str | None = tensorrt.__version__
    except ImportError:
        tensorrt_version = None
    return CudaStack(
        torch.__version__,
        torch.version.cuda,
        tuple(onnxruntime.get_available_providers()),
        build[1] if build else None,
        tensorrt_version,
    )


def mismatch(stack: CudaStack, wheels_major: str) -> str | None:
    """The first thing that does not fit, in one line; None when everything does."""
    if stack.torch_cuda is None:
        return f"torch {stack.torch_version} is a CPU build on a machine with an NVIDIA GPU (pip served the CPU wheel)"
    torch_major = stack.torch_cuda.split(".")[0]
    if torch_major != wheels_major:
        built = f"torch {stack.torch_version} is built for CUDA {stack.torch_cuda}"
        return f"{built}, ONNX Runtime and TensorRT for CUDA {wheels_major}"
    if "CUDAExecutionProvider" not in stack.onnxruntime_providers:
        providers = ", ".join(stack.onnxruntime_providers)
        return f"ONNX Runtime has no CUDA provider (it has {providers}): the CPU wheel is installed"
    if stack.onnxruntime_cuda is not None and stack.onnxruntime_cuda.split(".")[0] != torch_major:
        return f"ONNX Runtime is built for CUDA {stack.onnxruntime_cuda}, torch for CUDA {stack.torch_cuda}"
    if stack.tensorrt is None:
        return f"TensorRT is not importable (the gpu extra pins tensorrt-cu{wheels_major})"
    return None


def main() -> int:
    if not nvidia_driver_present():
        return 0
    problem = mismatch(installed(), wheels_cuda_major())
    if problem is not None:
        print(f"set-up: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
