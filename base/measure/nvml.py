"""The one place that talks to NVML, so machines without an NVIDIA driver degrade to a stated reason.

Callers may pass their own module object (anything with pynvml's function names and an ``NVMLError``
class) to exercise the NVML paths without a GPU.
"""

from __future__ import annotations

import contextlib
import types
from typing import Any


def load_nvml(module: types.ModuleType | object | None = None) -> tuple[Any | None, str | None]:
    """``(nvml, None)`` once ``nvmlInit()`` succeeded, else ``(None, reason)``.

    ``module=None`` imports the real ``pynvml``. NVML counts initializations, so each successful load is
    paired with ``shutdown_nvml``.
    """
    if module is None:
        try:
            import pynvml
        except ImportError as error:
            return None, f"NVML unavailable: pynvml cannot be imported: {error}"
        module = pynvml
    nvml: Any = module
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as error:
        return None, f"NVML unavailable: {type(error).__name__}: {error}"
    return nvml, None


def shutdown_nvml(nvml: Any) -> None:
    """Release one ``load_nvml``; a failing shutdown loses nothing that was measured, so it is ignored."""
    with contextlib.suppress(nvml.NVMLError):
        nvml.nvmlShutdown()


def cuda_device_handle(nvml: Any, cuda_index: int, cuda_uuid: str | None) -> object:
    """NVML's handle of the device CUDA numbers ``cuda_index``, whose UUID CUDA reports as ``cuda_uuid``.

    NVML numbers devices in its own order and ignores CUDA_VISIBLE_DEVICES, so the device is found by UUID:
    NVML names a whole GPU ``GPU-<uuid>`` and a MIG instance ``MIG-<uuid>``. Only where CUDA gives no UUID
    is its index taken as NVML's. A UUID NVML does not know raises NVML's error rather than guessing a device.
    """
    if cuda_uuid is None:
        return nvml.nvmlDeviceGetHandleByIndex(cuda_index)
    if cuda_uuid.startswith(("GPU-", "MIG-")):
        return nvml.nvmlDeviceGetHandleByUUID(cuda_uuid)
    try:
        return nvml.nvmlDeviceGetHandleByUUID(f"GPU-{cuda_uuid}")
    except nvml.NVMLError:
        return nvml.nvmlDeviceGetHandleByUUID(f"MIG-{cuda_uuid}")


def torch_cuda_uuid(cuda_index: int) -> str:
    """The UUID CUDA reports for the device torch numbers ``cuda_index`` (after CUDA_VISIBLE_DEVICES)."""
    import torch  # here, so that processes which only talk to NVML never load torch

    return str(torch.cuda.get_device_properties(cuda_index).uuid)
