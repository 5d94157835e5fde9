"""Peak memory a checkpoint needed over a measured window.

On cuda the measure is what NVML reports the worker's processes hold on the device, whatever runtime asked for
it: torch's allocator sees only torch's own tensors, not the CUDA context, ONNX Runtime's or TensorRT's memory,
so a checkpoint that moved its work into another runtime would look almost free by it. NVML's device-wide used
memory is kept beside it; it also counts every other process on the device (the paired baseline's included).
On cpu the kernel's peak resident set of this process's address space (VmHWM) is the measure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from base.measure.device import parse_device
from base.measure.nvml import cuda_device_handle, load_nvml, shutdown_nvml, torch_cuda_uuid

log = logging.getLogger(__name__)

CUDA_SOURCE = "nvmlDeviceGetComputeRunningProcesses.usedGpuMemory"
ALLOCATOR_SOURCE = "torch.cuda.max_memory_allocated"  # on cuda only where NVML gives no per-process figures
CPU_SOURCE = "VmHWM"


@dataclass(frozen=True)
class MemoryReading:
    peak_bytes: int
    # CUDA_SOURCE, CPU_SOURCE, or ALLOCATOR_SOURCE followed by why NVML gave no per-process figures
    source: str
    device_used_bytes: int | None  # peak NVML used memory of the device over the window; None on cpu/no NVML


class CudaMemoryApi(Protocol):
    """The torch.cuda calls the probe makes, as an object so they can be replaced where there is no GPU."""

    def reset_peak_memory_stats(self, device_index: int) -> None: ...

    def max_memory_allocated(self, device_index: int) -> int: ...

    def device_uuid(self, device_index: int) -> str | None:
        """The UUID CUDA reports for the device, which is how NVML is asked about it; None where there is none."""
        ...


class TorchCudaMemory:
    def reset_peak_memory_stats(self, device_index: int) -> None:
        import torch  # here, so that code which only reads MemoryReadings never loads torch

        torch.cuda.reset_peak_memory_stats(device_index)

    def max_memory_allocated(self, device_index: int) -> int:
        import torch

        return int(torch.cuda.max_memory_allocated(device_index))

    def device_uuid(self, device_index: int) -> str | None:
        return torch_cuda_uuid(device_index)


@dataclass(frozen=True)
class NvmlPeaks:
    """What the sampler saw over the window so far."""

    device_used_bytes: int | None  # None: a device-wide read failed, so its peak is unknown
    process_bytes: int  # the largest total the process group held at once, over the samples NVML gave figures in
    process_unavailable: str | None  # why NVML's per-process figures do not cover the window; None: they do


class _NvmlSampler:
    """Polls NVML on a daemon thread, keeping the peak of the device's used memory and of this process group's.

    The group's total in one sample is the sum of ``usedGpuMemory`` over the listed processes of the group this
    process belongs to: a benchmark worker leads a group of its own (``base.isolation.worker``), so that is the
    worker and any helper a runtime started, never the paired baseline or the validator. A failed device-wide
    read leaves that peak unknown rather than understated. Once NVML fails to give per-process figures, the
    window is marked as not covered by them for good, since a sample it missed may have been the highest.
    """

    def __init__(self, nvml: Any, handle: object, interval_s: float) -> None:
        self._nvml = nvml
        self._handle = handle
        self._interval_s = interval_s
        self._group = os.getpgid(0)
        self._device_peak = 0
        self._device_failed = False
        self._process_peak = 0
        self._process_listed = False
        self._process_unavailable: str | None = None
        self._stopping = threading.Event()
        self._sample()
        self._thread = threading.Thread(target=self._poll, name="nvml-memory-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        if not self._device_failed:
            self._sample_device()
        if self._process_unavailable is None:
            self._sample_processes()

    def _sample_device(self) -> None:
        try:
            used = int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)
        except self._nvml.NVMLError:
            self._device_failed = True
            return
        self._device_peak = max(self._device_peak, used)

    def _sample_processes(self) -> None:
        try:
            processes = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except self._nvml.NVMLError as error:
            self._process_unavailable = f"{type(error).__name__}: {error}"
            return
        held = _held_by_group(processes, self._group)
        if held is None:
            self._process_unavailable = "NVML lists this process group without its usedGpuMemory"
            return
        if held:
            self._process_listed = True
        self._process_peak = max(self._process_peak, sum(held.values()))

    def _poll(self) -> None:
        while not self._stopping.wait(self._interval_s):
            if self._device_failed and self._process_unavailable is not None:
                return
            self._sample()

    def peaks(self) -> NvmlPeaks:
        unavailable = self._process_unavailable
        if unavailable is None and not self._process_listed:
            # A process with a CUDA context is listed; one NVML never lists runs in another PID namespace
            # (a container), where NVML's process ids are not this process's.
            unavailable = f"NVML never listed this process group (pid {os.getpid()}) on the device"
        return NvmlPeaks(
            device_used_bytes=None if self._device_failed else self._device_peak,
            process_bytes=self._process_peak,
            process_unavailable=unavailable,
        )

    def stop(self) -> NvmlPeaks:
        """Ends polling, takes one last reading and releases NVML."""
        self._stopping.set()
        self._thread.join()
        self._sample()
        shutdown_nvml(self._nvml)
        return self.peaks()


def _held_by_group(processes: Iterable[Any], group: int) -> dict[int, int] | None:
    """Device memory each listed process of ``group`` holds, by pid; None where NVML withholds a figure."""
    held: dict[int, int] = {}
    for process in processes:
        if not _in_group(process.pid, group):
            continue
        if process.usedGpuMemory is None:
            return None
        held[process.pid] = max(held.get(process.pid, 0), int(process.usedGpuMemory))
    return held


def _in_group(pid: int, group: int) -> bool:
    try:
        return os.getpgid(pid) == group
    except OSError:  # gone since NVML listed it, or not visible from this PID namespace
        return False


def _no_nvml(reason: str) -> NvmlPeaks:
    return NvmlPeaks(device_used_bytes=None, process_bytes=0, process_unavailable=reason)


def _start_sampler(
    device_index: int, device_uuid: str | None, nvml_module: object | None, interval_s: float
) -> _NvmlSampler | str:
    """A running sampler, or why there is none."""
    nvml, reason = load_nvml(nvml_module)
    if nvml is None:
        return str(reason)
    try:
        handle = cuda_device_handle(nvml, device_index, device_uuid)
    except nvml.NVMLError as error:
        shutdown_nvml(nvml)
        return f"NVML has no device for cuda:{device_index} (UUID {device_uuid}): {type(error).__name__}: {error}"
    return _NvmlSampler(nvml, handle, interval_s)


def _cuda_reading(allocated_peak: int, peaks: NvmlPeaks) -> MemoryReading:
    """The higher of NVML's per-process peak and the allocator's, with the source saying whether NVML covered it.

    Both are memory the process certainly held: the allocator's peak keeps a spike that fell between two samples,
    and what NVML reported before it stopped giving figures stays counted.
    """
    peak = max(peaks.process_bytes, allocated_peak)
    if peaks.process_unavailable is None:
        return MemoryReading(peak, CUDA_SOURCE, peaks.device_used_bytes)
    source = f"{ALLOCATOR_SOURCE} (NVML per-process memory unavailable: {peaks.process_unavailable})"
    return MemoryReading(peak, source, peaks.device_used_bytes)


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
    The whole process (on cuda, its process group) is measured, so the benchmark runs each checkpoint in its
    own worker process.
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
        self._sampler: _NvmlSampler | str = "not started"  # the sampler, or why there is none

    def start(self) -> None:
        if self._started:
            raise RuntimeError("PeakMemoryProbe.start() called twice without stop()")
        self._started = True
        if self._device_index is None:
            _reset_peak_rss()
            return
        self._cuda_api.reset_peak_memory_stats(self._device_index)
        uuid = self._cuda_api.device_uuid(self._device_index)
        self._sampler = _start_sampler(self._device_index, uuid, self._nvml_module, self._sample_interval_s)

    def peek(self) -> MemoryReading:
        """The peak so far, without ending the window: judging decides how long to sample with it."""
        if not self._started:
            raise RuntimeError("PeakMemoryProbe.peek() called without start()")
        if self._device_index is None:
            return MemoryReading(peak_bytes=_peak_rss_bytes(), source=CPU_SOURCE, device_used_bytes=None)
        sampler = self._sampler
        peaks = _no_nvml(sampler) if isinstance(sampler, str) else sampler.peaks()
        return _cuda_reading(self._cuda_api.max_memory_allocated(self._device_index), peaks)

    def stop(self) -> MemoryReading:
        if not self._started:
            raise RuntimeError("PeakMemoryProbe.stop() called without start()")
        self._started = False
        if self._device_index is None:
            return MemoryReading(peak_bytes=_peak_rss_bytes(), source=CPU_SOURCE, device_used_bytes=None)
        sampler, self._sampler = self._sampler, "not started"
        peaks = _no_nvml(sampler) if isinstance(sampler, str) else sampler.stop()
        reading = _cuda_reading(self._cuda_api.max_memory_allocated(self._device_index), peaks)
        if reading.source != CUDA_SOURCE:
            log.warning(
                "peak memory on cuda:%d is torch's allocator peak, which misses memory other runtimes and the CUDA "
                "context hold: NVML per-process memory unavailable: %s",
                self._device_index,
                peaks.process_unavailable,
            )
        return reading


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
