from base.measure.device import DeviceInfo, DeviceSpec, parse_device, probe_device
from base.measure.energy import CPU_REASON, EnergyReading, open_energy_meter, total_energy
from base.measure.memory import ALLOCATOR_SOURCE, CPU_SOURCE, CUDA_SOURCE, MemoryReading, open_memory_probe
from base.measure.nvml import cuda_device_handle, load_nvml, shutdown_nvml, torch_cuda_uuid
from base.measure.stats import Estimate, median_ci, ratio_ci, widened
from base.measure.timing import synchronizer_for, timed

__all__ = [
    "ALLOCATOR_SOURCE",
    "CPU_REASON",
    "CPU_SOURCE",
    "CUDA_SOURCE",
    "DeviceInfo",
    "DeviceSpec",
    "EnergyReading",
    "Estimate",
    "MemoryReading",
    "cuda_device_handle",
    "load_nvml",
    "median_ci",
    "open_energy_meter",
    "open_memory_probe",
    "parse_device",
    "probe_device",
    "ratio_ci",
    "shutdown_nvml",
    "synchronizer_for",
    "timed",
    "torch_cuda_uuid",
    "total_energy",
    "widened",
]
