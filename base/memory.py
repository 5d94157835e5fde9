"""Peak memory a checkpoint needed over a measured window.

On cuda, torch's allocator peak is what the model itself asked for, while NVML's device-wide used memory
also counts the CUDA context, library workspaces and allocations torch never sees (an onnxruntime session).
On cpu the kernel's peak resident set of this process's address space (VmHWM) is the measure.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from base.device import parse_device
from base.nvml import load_nvml, shutdown_nvml

CUDA_SOURCE = "torch.cuda.max_memory_allocated"
CPU_SOURCE = "VmHWM"


@dataclass(frozen=True)
class MemoryReading:
    peak_bytes: int
    source: str  # CUDA_SOURCE or CPU_SOURCE
    device_used_bytes: int | None  # peak NVML used memory of the device over the window; None on cpu/no NVML


class CudaMemoryApi(Protocol):
    """The torch.cuda calls the probe makes, as an object so they can be replaced where there is no GPU."""

    def reset_peak_memory_stats(self, device_index: int) -> None: ...

    def max_memory_allocated(self, device_index: int) -> int: ...


class TorchCudaMemory:
    def reset_peak_memory_stats(self, device_index: int) -> None:
        import torch  # here, so that code which only reads MemoryReadings never loads torch

        torch.cuda.reset_peak_memory_stats(device_index)

    def max_memory_allocated(self, device_index: int) -> int:
        import torch

        return int(torch.cuda.max_memory_allocated(device_index))


class _UsedMemorySampler:
    """Polls NVML's used memory on a daemon thread and keeps the maximum.

    A failed read leaves the peak unknown (None) rather than understated.
    """

    def __init__(self, nvml: Any, handle: object, interval_s: float) -> None:
        self._nvml = nvml
        self._handle = handle
        self._interval_s = interval_s
        self._peak = 0
        self._failed = False
        self._stopping = threading.Event()
        self._sample()
        self._thread = threading.Thread(target=self._poll, name="nvml-memory-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        try:
            used = int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)
        except self._nvml.NVMLError:
            self._failed = True
            return
        self._peak = max(self._peak, used)

    def _poll(self) -> None:
        while not self._failed and not self._stopping.wait(self._interval_s):
            self._sample()

    def peak_so_far(self) -> int | None:
        return None if self._failed else self._peak

    def stop(self) -> int | None:
        """Ends polling, takes one last reading and releases NVML."""
        self._stopping.set()
        self._thread.join()
        if not self._failed:
            self._sample()
        shutdown_nvml(self._nvml)
        return None if self._failed else self._peak


def _start_sampler(device_index: int, nvml_module: object | None, interval_s: float) -> _UsedMemorySampler | None:
    nvml, _ = load_nvml(nvml_module)
    if nvml is None:
        return None
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(device_index)
    except nvml.NVMLError:
        shutdown_nvml(nvml)
        return None
    return _UsedMemorySampler(nvml, handle, interval_s)


def _reset_peak_rss() -> None:
    """Start a new peak window: writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).

    Where that is refused, the peak counts from the process's start, which in a worker is still its own.
    """
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError("no VmHWM line in /proc/self/status")


class PeakMemoryProbe:
    """Peak memory between ``start()`` and ``stop()``.

    On cpu the peak is VmHWM rather than ``ru_maxrss``: a spawned worker's ``ru_maxrss`` starts at its
    parent's peak (Linux carries it across fork and exec), which would charge the validator's own memory to
    the checkpoint, while VmHWM belongs to the worker's address space and can be reset at ``start()``.
    The whole process is measured, so the benchmark runs each checkpoint in its own worker process.
    """

    def __init__(
        self,
        device_index: int | None,
        nvml_module: object | None,
        sample_interval_s: float,
        cuda_api: CudaMemoryApi,
    ) -> None:
        self._device_index = device_index  # None: cpu
        self._nvml_module = nvml_module
        self._sample_interval_s = sample_interval_s
        self._cuda_api = cuda_api
        self._started = False
        self._sampler: _UsedMemorySampler | None = None

    def start(self) -> None:
        if self._started:
            raise RuntimeError("PeakMemoryProbe.start() called twice without stop()")
        self._started = True
        if self._device_index is None:
            _reset_peak_rss()
            return
        self._cuda_api.reset_peak_memory_stats(self._device_index)
        self._sampler = _start_sampler(self._device_index, self._nvml_module, self._sample_interval_s)

    def peek(self) -> MemoryReading:
        """The peak so far, without ending the window: judging decides how long to sample with it."""
        if not self._started:
            raise RuntimeError("PeakMemoryProbe.peek() called without start()")
        if self._device_index is None:
            return MemoryReading(peak_bytes=_peak_rss_bytes(), source=CPU_SOURCE, device_used_bytes=None)
        return MemoryReading(
            peak_bytes=self._cuda_api.max_memory_allocated(self._device_index),
            source=CUDA_SOURCE,
            device_used_bytes=None if self._sampler is None else self._sampler.peak_so_far(),
        )

    def stop(self) -> MemoryReading:
        if not self._started:
            raise RuntimeError("PeakMemoryProbe.stop() called without start()")
        self._started = False
        if self._device_index is None:
            return MemoryReading(peak_bytes=_peak_rss_bytes(), source=CPU_SOURCE, device_used_bytes=None)
        sampler, self._sampler = self._sampler, None
        device_used = None if sampler is None else sampler.stop()
        return MemoryReading(
            peak_bytes=self._cuda_api.max_memory_allocated(self._device_index),
            source=CUDA_SOURCE,
            device_used_bytes=device_used,
        )


def open_memory_probe(
    device: str,
    device_index: int = 0,
    nvml_module: object | None = None,
    sample_interval_s: float = 0.02,
    cuda_api: CudaMemoryApi | None = None,
) -> PeakMemoryProbe:
    """A probe for ``device``; the index in ``cuda:N`` takes precedence over ``device_index``.

    ``nvml_module=None`` uses the real pynvml and ``cuda_api=None`` the real torch.cuda.
    """
    spec = parse_device(device)
    index = None if spec.kind == "cpu" else (device_index if spec.index is None else spec.index)
    return PeakMemoryProbe(
        device_index=index,
        nvml_module=nvml_module,
        sample_interval_s=sample_interval_s,
        cuda_api=TorchCudaMemory() if cuda_api is None else cuda_api,
    )
