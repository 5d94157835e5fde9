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


class StandInNvml:
    """Mimics pynvml for one device; the test moves the energy counter and used memory by hand."""

    NVMLError = StandInNVMLError

    def __init__(self, init_error: Exception | None = None, energy_error: Exception | None = None) -> None:
        self.init_error = init_error
        self.energy_error = energy_error
        self.memory_error: Exception | None = None
        self.initialized = 0
        self.handle_indices: list[int] = []
        self.energy_millijoules = 5_000_000
        self.used_bytes = 1 * GIB
        self.memory_reads_at: dict[int, threading.Event] = {}

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self.initialized -= 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> tuple[str, int]:
        self.handle_indices.append(index)
        return ("handle", index)

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

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlDeviceGetName(self, handle: object) -> str:
        return "Stand-in GPU"
