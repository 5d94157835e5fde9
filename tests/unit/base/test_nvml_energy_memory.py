import ctypes
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from base.measure import (
    ALLOCATOR_SOURCE,
    CPU_REASON,
    CPU_SOURCE,
    CUDA_SOURCE,
    EnergyReading,
    MemoryReading,
    load_nvml,
    open_energy_meter,
    open_memory_probe,
)
from tests.support.nvml_standin import StandInLibraryNotFound, StandInNotSupported, StandInNvml, StandInNVMLError

MIB = 1024**2
GIB = 1024**3


class Untouchable:
    """Fails the test on any use: for paths that must not reach NVML or torch.cuda."""

    NVMLError = StandInNVMLError

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"{name} must not be used here")


class StandInCudaMemory:
    """torch.cuda as the probe sees it; ``uuid`` None is a CUDA that reports no UUID, so NVML is asked by index."""

    def __init__(self, peak: int, uuid: str | None = None) -> None:
        self.peak = peak
        self.uuid = uuid
        self.calls: list[tuple[str, int]] = []

    def reset_peak_memory_stats(self, device_index: int) -> None:
        self.calls.append(("reset", device_index))

    def max_memory_allocated(self, device_index: int) -> int:
        self.calls.append(("max", device_index))
        return self.peak

    def device_uuid(self, device_index: int) -> str | None:
        return self.uuid


def no_uuid(device_index: int) -> None:
    """A CUDA that reports no UUID: the energy meter asks NVML by index."""
    return None


def sleeper(new_session: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "600"], start_new_session=new_session)


@pytest.fixture
def group_helper() -> Iterator[int]:
    """A process in this process's group, as a helper a runtime started would be."""
    process = sleeper(new_session=False)
    yield process.pid
    process.kill()
    process.wait()


@pytest.fixture
def other_process() -> Iterator[int]:
    """A process of another group, as the paired baseline's worker is."""
    process = sleeper(new_session=True)
    yield process.pid
    process.kill()
    process.wait()


def real_nvml_library_present() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


needs_no_nvml = pytest.mark.skipif(real_nvml_library_present(), reason="this machine has an NVIDIA driver")


# --- load_nvml


def test_load_nvml_initializes_a_working_module() -> None:
    nvml = StandInNvml()
    assert load_nvml(nvml) == (nvml, None)
    assert nvml.initialized == 1


def test_load_nvml_reports_why_init_failed() -> None:
    module, reason = load_nvml(StandInNvml(init_error=StandInLibraryNotFound("no libnvidia-ml")))
    assert module is None
    assert reason == "NVML unavailable: StandInLibraryNotFound: no libnvidia-ml"


def test_load_nvml_does_not_swallow_unrelated_errors() -> None:
    with pytest.raises(KeyError):
        load_nvml(StandInNvml(init_error=KeyError("bug")))


@needs_no_nvml
def test_load_nvml_imports_the_real_pynvml_and_reports_the_missing_driver() -> None:
    sys.modules.pop("pynvml", None)
    module, reason = load_nvml()
    assert module is None
    assert "pynvml" in sys.modules
    assert reason is not None and "NVMLError_LibraryNotFound" in reason


# --- energy


def test_energy_is_the_counter_delta_in_joules() -> None:
    nvml = StandInNvml()
    meter = open_energy_meter("cuda:1", nvml_module=nvml, device_uuid=no_uuid)
    meter.start()
    nvml.energy_millijoules += 4_250
    assert meter.stop() == EnergyReading(joules=4.25, reason=None)
    assert nvml.handle_indices == [1]
    assert nvml.initialized == 0


def test_energy_meter_measures_each_window_separately() -> None:
    nvml = StandInNvml()
    meter = open_energy_meter("cuda", device_index=2, nvml_module=nvml, device_uuid=no_uuid)
    meter.start()
    nvml.energy_millijoules += 1_000
    first = meter.stop()
    nvml.energy_millijoules += 50_000  # between windows: not counted
    meter.start()
    nvml.energy_millijoules += 3_000
    assert (first.joules, meter.stop().joules) == (1.0, 3.0)
    assert nvml.handle_indices == [2, 2]
    assert nvml.initialized == 0


def test_energy_without_nvml_gives_the_reason() -> None:
    meter = open_energy_meter("cuda", nvml_module=StandInNvml(init_error=StandInLibraryNotFound("gone")))
    meter.start()
    reading = meter.stop()
    assert reading.joules is None
    assert reading.reason is not None and "StandInLibraryNotFound: gone" in reading.reason


def test_energy_counter_not_supported_gives_the_reason() -> None:
    nvml = StandInNvml(energy_error=StandInNotSupported("Not Supported"))
    meter = open_energy_meter("cuda", nvml_module=nvml, device_uuid=no_uuid)
    meter.start()
    reading = meter.stop()
    assert reading.joules is None
    assert reading.reason is not None and "StandInNotSupported: Not Supported" in reading.reason
    assert nvml.initialized == 0


def test_energy_counter_failing_at_stop_gives_the_reason() -> None:
    nvml = StandInNvml()
    meter = open_energy_meter("cuda", nvml_module=nvml, device_uuid=no_uuid)
    meter.start()
    nvml.energy_error = StandInNotSupported("lost")
    reading = meter.stop()
    assert reading == EnergyReading(joules=None, reason="NVML energy counter unavailable: StandInNotSupported: lost")
    assert nvml.initialized == 0


def test_energy_on_cpu_never_touches_nvml() -> None:
    meter = open_energy_meter("cpu", nvml_module=Untouchable())
    meter.start()
    assert meter.stop() == EnergyReading(joules=None, reason=CPU_REASON)
    assert CPU_REASON == "energy is measured only on cuda devices (NVML); device is cpu"


@needs_no_nvml
def test_energy_with_the_real_pynvml_here_gives_the_reason() -> None:
    meter = open_energy_meter("cuda")
    meter.start()
    reading = meter.stop()
    assert reading.joules is None
    assert reading.reason is not None and "NVMLError_LibraryNotFound" in reading.reason


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_stop_without_start_is_an_error(device: str) -> None:
    energy = open_energy_meter(device, nvml_module=StandInNvml())
    memory = open_memory_probe(device, nvml_module=StandInNvml(), cuda_api=StandInCudaMemory(0))
    with pytest.raises(RuntimeError, match="without start"):
        energy.stop()
    with pytest.raises(RuntimeError, match="without start"):
        memory.stop()


def test_unknown_device_is_rejected() -> None:
    with pytest.raises(ValueError):
        open_energy_meter("gpu")
    with pytest.raises(ValueError):
        open_memory_probe("tpu:0")


# --- memory


def test_cuda_memory_counts_what_the_process_holds_beyond_the_allocator() -> None:
    nvml = StandInNvml()
    nvml.processes = {os.getpid(): 6 * GIB}  # an onnxruntime session's memory, which torch never allocated
    cuda = StandInCudaMemory(peak=1 * GIB)
    probe = open_memory_probe("cuda:1", nvml_module=nvml, sample_interval_s=3600, cuda_api=cuda)
    probe.start()
    assert cuda.calls == [("reset", 1)]
    reading = probe.stop()
    assert (reading.peak_bytes, reading.source) == (6 * GIB, CUDA_SOURCE)
    assert cuda.calls == [("reset", 1), ("max", 1)]
    assert nvml.handle_indices == [1]
    assert nvml.initialized == 0


def test_cuda_memory_counts_its_process_group_and_no_other_process(group_helper: int, other_process: int) -> None:
    nvml = StandInNvml()
    nvml.processes = {os.getpid(): 2 * GIB, group_helper: 3 * GIB, other_process: 20 * GIB}
    probe = open_memory_probe("cuda", nvml_module=nvml, sample_interval_s=3600, cuda_api=StandInCudaMemory(1))
    probe.start()
    assert probe.stop().peak_bytes == 5 * GIB


def test_cuda_memory_reports_the_peak_not_the_last_value() -> None:
    nvml = StandInNvml()
    probe = open_memory_probe("cuda", nvml_module=nvml, sample_interval_s=0.001, cuda_api=StandInCudaMemory(1))
    nvml.processes = {os.getpid(): 1 * GIB}
    probe.start()
    nvml.processes = {os.getpid(): 9 * GIB}  # only the polling thread can see this value
    assert nvml.wait_for_process_reads(2), "the sampler never polled"
    nvml.processes = {os.getpid(): 2 * GIB}
    reading = probe.stop()
    assert (reading.peak_bytes, reading.source) == (9 * GIB, CUDA_SOURCE)


def test_cuda_memory_is_never_below_the_allocator_peak() -> None:
    nvml = StandInNvml()
    nvml.processes = {os.getpid(): 2 * GIB}  # a spike between two samples reaches only the allocator's peak
    probe = open_memory_probe("cuda", nvml_module=nvml, sample_interval_s=3600, cuda_api=StandInCudaMemory(3 * GIB))
    probe.start()
    assert probe.stop() == MemoryReading(peak_bytes=3 * GIB, source=CUDA_SOURCE, device_used_bytes=1 * GIB)


def test_cuda_memory_polls_the_device_wide_peak_beside_the_process_peak() -> None:
    nvml = StandInNvml()
    nvml.processes = {os.getpid(): 1 * GIB}
    probe = open_memory_probe("cuda", nvml_module=nvml, sample_interval_s=0.001, cuda_api=StandInCudaMemory(1))
    polled_at_peak = threading.Event()
    nvml.memory_reads_at[9 * GIB] = polled_at_peak
    probe.start()
    nvml.used_bytes = 9 * GIB  # only the polling thread can see this value
    assert polled_at_peak.wait(timeout=10), "the sampler never polled"
    nvml.used_bytes = 2 * GIB
    assert probe.stop().device_used_bytes == 9 * GIB


def test_cuda_memory_reads_once_more_at_stop() -> None:
    nvml = StandInNvml()
    probe = open_memory_probe("cuda", nvml_module=nvml, sample_interval_s=3600, cuda_api=StandInCudaMemory(1))
    probe.start()
    nvml.used_bytes = 5 * GIB
    nvml.processes = {os.getpid(): 4 * GIB}
    reading = probe.stop()
    assert (reading.device_used_bytes, reading.peak_bytes, reading.source) == (5 * GIB, 4 * GIB, CUDA_SOURCE)


def withheld_figure(nvml: StandInNvml) -> None:
    nvml.processes = {os.getpid(): None}


def not_supported(nvml: StandInNvml) -> None:
    nvml.processes_error = StandInNotSupported("Not Supported")


def not_listed(nvml: StandInNvml) -> None:
    nvml.processes = {}  # as in a container, whose pids NVML does not know


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        (withheld_figure, "NVML lists this process group without its usedGpuMemory"),
        (not_supported, "StandInNotSupported: Not Supported"),
        (not_listed, f"NVML never listed this process group (pid {os.getpid()}) on the device"),
    ],
    ids=["usedGpuMemory-unavailable", "not-supported", "not-listed"],
)
def test_cuda_memory_without_per_process_figures_names_the_allocator_and_why(
    missing: Callable[[StandInNvml], None], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    nvml = StandInNvml()
    missing(nvml)
    probe = open_memory_probe("cuda", nvml_module=nvml, sample_interval_s=3600, cuda_api=StandInCudaMemory(7))
    probe.start()
    with caplog.at_level(logging.WARNING, logger="base.measure.memory"):
        reading = probe.stop()
    expected = f"{ALLOCATOR_SOURCE} (NVML per-process memory unavailable: {reason})"
    assert reading == MemoryReading(peak_bytes=7, source=expected, device_used_bytes=1 * GIB)
    assert [record.getMessage() for record in caplog.records] == [
        "peak memory on cuda:0 is torch's allocator peak, which misses memory other runtimes and the CUDA context "
        f"hold: NVML per-process memory unavailable: {reason}"
    ]


def test_cuda_memory_keeps_what_nvml_reported_before_its_figures_stopped() -> None:
    nvml = StandInNvml()
    nvml.processes = {os.getpid(): 6 * GIB}
    probe = open_memory_probe("cuda", nvml_module=nvml, sample_interval_s=3600, cuda_api=StandInCudaMemory(1))
    probe.start()
    nvml.processes_error = StandInNotSupported("lost")
    reading = probe.stop()
    assert reading.peak_bytes == 6 * GIB
    assert reading.source == f"{ALLOCATOR_SOURCE} (NVML per-process memory unavailable: StandInNotSupported: lost)"


def test_cuda_memory_without_nvml_names_the_allocator_and_has_no_device_use() -> None:
    nvml = StandInNvml(init_error=StandInLibraryNotFound("gone"))
    probe = open_memory_probe("cuda", nvml_module=nvml, cuda_api=StandInCudaMemory(peak=7))
    probe.start()
    reading = probe.stop()
    source = f"{ALLOCATOR_SOURCE} (NVML per-process memory unavailable: NVML unavailable: StandInLibraryNotFound: gone)"
    assert reading == MemoryReading(peak_bytes=7, source=source, device_used_bytes=None)


def test_cuda_memory_with_a_failed_device_read_has_no_device_use_but_keeps_the_process_peak() -> None:
    nvml = StandInNvml()
    nvml.processes = {os.getpid(): 2 * GIB}
    probe = open_memory_probe("cuda", nvml_module=nvml, sample_interval_s=3600, cuda_api=StandInCudaMemory(7))
    probe.start()
    nvml.memory_error = StandInNotSupported("lost")
    assert probe.stop() == MemoryReading(peak_bytes=2 * GIB, source=CUDA_SOURCE, device_used_bytes=None)
    assert nvml.initialized == 0


def test_cuda_memory_finds_the_device_by_its_uuid_not_cuda_index() -> None:
    nvml = StandInNvml()
    nvml.uuids = {"GPU-5f0c1d2e-0000-4000-8000-000000000001": 3}  # CUDA_VISIBLE_DEVICES made NVML's 3 CUDA's 0
    nvml.processes = {os.getpid(): 2 * GIB}
    cuda = StandInCudaMemory(1, uuid="5f0c1d2e-0000-4000-8000-000000000001")
    probe = open_memory_probe("cuda:0", nvml_module=nvml, sample_interval_s=3600, cuda_api=cuda)
    probe.start()
    assert probe.stop().source == CUDA_SOURCE
    assert (nvml.handle_uuids, nvml.handle_indices) == (["GPU-5f0c1d2e-0000-4000-8000-000000000001"], [])


def test_cuda_memory_finds_a_mig_instance_by_its_uuid() -> None:
    nvml = StandInNvml()
    nvml.uuids = {"MIG-77aa": 2}
    nvml.processes = {os.getpid(): 2 * GIB}
    probe = open_memory_probe("cuda", nvml_module=nvml, cuda_api=StandInCudaMemory(1, uuid="77aa"))
    probe.start()
    assert probe.stop().source == CUDA_SOURCE
    assert (nvml.handle_uuids, nvml.handle_indices) == (["GPU-77aa", "MIG-77aa"], [])


def test_cuda_memory_never_guesses_a_device_nvml_does_not_know() -> None:
    nvml = StandInNvml()
    nvml.processes = {os.getpid(): 2 * GIB}  # on some device, but not one NVML has this UUID for
    probe = open_memory_probe("cuda", nvml_module=nvml, cuda_api=StandInCudaMemory(7, uuid="0bad"))
    probe.start()
    reading = probe.stop()
    assert reading.peak_bytes == 7 and reading.device_used_bytes is None
    assert reading.source == (
        f"{ALLOCATOR_SOURCE} (NVML per-process memory unavailable: "
        "NVML has no device for cuda:0 (UUID 0bad): StandInNotFound: Not Found)"
    )
    assert (nvml.handle_indices, nvml.initialized) == ([], 0)


def test_energy_finds_the_device_by_its_uuid() -> None:
    nvml = StandInNvml()
    nvml.uuids = {"GPU-abcd": 4}
    meter = open_energy_meter("cuda", nvml_module=nvml, device_uuid=lambda index: "abcd")
    meter.start()
    nvml.energy_millijoules += 2_000
    assert meter.stop() == EnergyReading(joules=2.0, reason=None)
    assert (nvml.handle_uuids, nvml.handle_indices) == (["GPU-abcd"], [])


def test_cpu_memory_never_touches_nvml_or_cuda() -> None:
    probe = open_memory_probe("cpu", nvml_module=Untouchable(), cuda_api=Untouchable())  # type: ignore[arg-type]
    probe.start()
    reading = probe.stop()
    assert reading.source == CPU_SOURCE
    assert reading.peak_bytes > 0
    assert reading.device_used_bytes is None


# Run in a fresh interpreter, as a worker is fresh: a process that once held more (a test process after a full-size
# model) may serve the array from pages it still holds, and its resident set would not grow.
PEAK_WINDOWS = """
import numpy as np
from base.measure import open_memory_probe
probe = open_memory_probe("cpu")
probe.start()
array = np.ones(200 * 2**20, dtype=np.uint8)  # written, so every page is resident
with_array = probe.stop().peak_bytes
del array
probe.start()
print(with_array, probe.stop().peak_bytes)
"""


def test_cpu_memory_peak_covers_each_window_only() -> None:
    run = subprocess.run([sys.executable, "-c", PEAK_WINDOWS], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    with_array, after_release = map(int, run.stdout.split())
    assert with_array >= 200 * MIB
    # A process-lifetime peak (ru_maxrss) would not drop once the array is gone.
    assert with_array - after_release >= 190 * MIB


def test_total_energy_adds_windows_or_keeps_the_first_reason() -> None:
    from base.measure import total_energy

    measured = [EnergyReading(joules=1.5, reason=None), EnergyReading(joules=2.0, reason=None)]
    assert total_energy(measured) == EnergyReading(joules=3.5, reason=None)
    gap = EnergyReading(joules=None, reason="counter not supported")
    assert total_energy([*measured, gap]) == gap


def test_cuda_memory_peek_reads_the_peak_so_far_and_keeps_the_window_open() -> None:
    nvml = StandInNvml()
    probe = open_memory_probe("cuda", nvml_module=nvml, sample_interval_s=3600, cuda_api=StandInCudaMemory(1))
    nvml.used_bytes = 4 * GIB
    nvml.processes = {os.getpid(): 3 * GIB}
    probe.start()  # the sampler reads once as it starts
    assert probe.peek() == MemoryReading(peak_bytes=3 * GIB, source=CUDA_SOURCE, device_used_bytes=4 * GIB)
    nvml.used_bytes = 6 * GIB
    nvml.processes = {os.getpid(): 5 * GIB}
    # the window went on after the peek
    assert probe.stop() == MemoryReading(peak_bytes=5 * GIB, source=CUDA_SOURCE, device_used_bytes=6 * GIB)
    with pytest.raises(RuntimeError, match="without start"):
        probe.peek()


def test_cpu_memory_peek_sees_what_the_window_has_used_so_far() -> None:
    probe = open_memory_probe("cpu")
    probe.start()
    array = np.ones(200 * MIB, dtype=np.uint8)
    peeked = probe.peek()
    del array
    assert peeked.peak_bytes >= 200 * MIB and probe.stop().peak_bytes >= 200 * MIB
