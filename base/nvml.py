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
