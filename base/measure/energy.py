"""Energy a GPU drew over a measured window, from NVML's cumulative energy counter.

Energy is reported only where it is actually measured: on a CPU, without NVML, or on a GPU whose driver
lacks the counter, the reading is None with the reason instead of an estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from base.measure.device import parse_device
from base.measure.nvml import cuda_device_handle, load_nvml, shutdown_nvml, torch_cuda_uuid

CPU_REASON = "energy is measured only on cuda devices (NVML); device is cpu"


@dataclass(frozen=True)
class EnergyReading:
    """Joules consumed over the window, or None with the reason it was not measured (exactly one is None)."""

    joules: float | None
    reason: str | None


class EnergyMeter:
    """Energy of one device between ``start()`` and ``stop()``; NVML is held only for that window."""

    def __init__(
        self, device_index: int | None, nvml_module: object | None, device_uuid: Callable[[int], str | None]
    ) -> None:
        self._device_index = device_index  # None: not a cuda device
        self._nvml_module = nvml_module
        self._device_uuid = device_uuid  # CUDA's UUID of a device index: how NVML is asked about the device
        self._started = False
        self._nvml: Any | None = None
        self._handle: object | None = None
        self._start_millijoules = 0
        self._reason: str | None = None

    def start(self) -> None:
        if self._started:
            raise RuntimeError("EnergyMeter.start() called twice without stop()")
        self._started = True
        if self._device_index is None:
            self._reason = CPU_REASON
            return
        self._nvml, self._reason = load_nvml(self._nvml_module)
        if self._nvml is None:
            return
        try:
            uuid = self._device_uuid(self._device_index)
            self._handle = cuda_device_handle(self._nvml, self._device_index, uuid)
            self._start_millijoules = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except self._nvml.NVMLError as error:
            self._reason = _counter_reason(error)

    def stop(self) -> EnergyReading:
        if not self._started:
            raise RuntimeError("EnergyMeter.stop() called without start()")
        self._started = False
        nvml, self._nvml = self._nvml, None
        if nvml is None:
            return EnergyReading(joules=None, reason=self._reason)
        try:
            return self._read_window(nvml)
        finally:
            shutdown_nvml(nvml)

    def _read_window(self, nvml: Any) -> EnergyReading:
        if self._reason is not None:
            return EnergyReading(joules=None, reason=self._reason)
        try:
            end_millijoules = nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except nvml.NVMLError as error:
            return EnergyReading(joules=None, reason=_counter_reason(error))
        return EnergyReading(joules=(end_millijoules - self._start_millijoules) / 1000, reason=None)


def _counter_reason(error: Exception) -> str:
    return f"NVML energy counter unavailable: {type(error).__name__}: {error}"


def open_energy_meter(
    device: str,
    device_index: int = 0,
    nvml_module: object | None = None,
    device_uuid: Callable[[int], str | None] = torch_cuda_uuid,
) -> EnergyMeter:
    """A meter for ``device``; the index in ``cuda:N`` takes precedence over ``device_index``.

    ``nvml_module=None`` uses the real pynvml; ``device_uuid`` gives CUDA's UUID of a device index (torch's).
    """
    spec = parse_device(device)
    if spec.kind == "cpu":
        return EnergyMeter(device_index=None, nvml_module=nvml_module, device_uuid=device_uuid)
    index = device_index if spec.index is None else spec.index
    return EnergyMeter(device_index=index, nvml_module=nvml_module, device_uuid=device_uuid)


def total_energy(readings: Sequence[EnergyReading]) -> EnergyReading:
    """The sum of several windows; unmeasured if any window was, with that window's reason."""
    measured: list[float] = []
    for reading in readings:
        if reading.joules is None:
            return reading
        measured.append(reading.joules)
    return EnergyReading(joules=sum(measured), reason=None)
