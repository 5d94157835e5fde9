"""A stand-in for pynvml: the same function names, with the counters moved by the tests."""

import threading
from types import SimpleNamespace

GIB = 1024**3


class StandInNVMLError(Exception):
    pass


class StandInNotSupported(StandInNVMLError):
    pass


class StandInLibraryNotFound(StandInNVMLError):
    pass


class StandInNotFound(StandInNVMLError):
    pass


class StandInNvml:
    """Mimics pynvml; the test moves the energy counter, the used memory and the processes' memory by hand.

    ``uuids`` maps the UUIDs NVML knows to its own device indices; ``processes`` maps each pid NVML lists on
    the device to its ``usedGpuMemory`` (None: NVML withholds the figure); a test assigns a new dict to change
    it, since the sampler reads it from another thread.
    """

    NVMLError = StandInNVMLError

    def __init__(self, init_error: Exception | None = None, energy_error: Exception | None = None) -> None:
        self.init_error = init_error
        self.energy_error = energy_error
        self.memory_error: Exception | None = None
        self.processes_error: Exception | None = None
        self.initialized = 0
        self.handle_indices: list[int] = []
        self.handle_uuids: list[str] = []
        self.uuids: dict[str, int] = {}
        self.energy_millijoules = 5_000_000
        self.used_bytes = 1 * GIB
        self.processes: dict[int, int | None] = {}
        self.memory_reads_at: dict[int, threading.Event] = {}
        self._process_reads = 0
        self._process_read = threading.Condition()

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self.initialized -= 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> tuple[str, int]:
        self.handle_indices.append(index)
        return ("handle", index)

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> tuple[str, int]:
        self.handle_uuids.append(uuid)
        if uuid not in self.uuids:
            raise StandInNotFound("Not Found")
        return ("handle", self.uuids[uuid])

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        if self.energy_error is not None:
            raise self.energy_error
        return self.energy_millijoules

    def nvmlDeviceGetMemoryInfo(self, handle: object) -> SimpleNamespace:
        if self.memory_error is not None:
            raise self.memory_error
        used = self.used_bytes
        if used in self.memory_reads_at:
            self.memory_reads_at[used].set()
        return SimpleNamespace(used=used, total=80 * GIB)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> list[SimpleNamespace]:
        if self.processes_error is not None:
            raise self.processes_error
        listed = [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in self.processes.items()]
        with self._process_read:
            self._process_reads += 1
            self._process_read.notify_all()
        return listed

    def wait_for_process_reads(self, reads: int, timeout_s: float = 10) -> bool:
        """Wait until the processes have been read ``reads`` more times.

        Two reads after a change guarantee that one began after it, so the sampler has seen it.
        """
        with self._process_read:
            target = self._process_reads + reads
            return self._process_read.wait_for(lambda: self._process_reads >= target, timeout=timeout_s)

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlDeviceGetName(self, handle: object) -> str:
        return "Stand-in GPU"
