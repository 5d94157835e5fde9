"""Worker-side stand-ins for runtimes that misbehave between images, for the tests of the judging harness.

A checkpoint is data and the contest's runtimes are configured not to spin, so no submission can be made to
do this on purpose; these stand in for what a runtime's thread pool or helper process could still do. They
answer the same calls as ``contest.judging.worker_session.CheckpointSession``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np

from base.measure import EnergyReading, MemoryReading, open_memory_probe, probe_device
from contest.definitions import get_contest
from contest.judging.checkpoint_worker import Loaded, SessionRequest, TimedImage
from pipelines.generation import GenerationInput

WORK = np.random.default_rng(0).standard_normal((384, 384))
ESCAPED_BURN_S = 120  # a detached burner ends by itself, so a failed test leaves nothing running for long
# Burners spin one core in plain Python, half the time (busy this long, then asleep as long): that doubles the
# baseline's time on a 2-core machine, where a core taken all the time makes torch's threads wait on each other
# a hundredfold.
DUTY_S = 0.002


def _work(rounds: int = 10) -> None:
    product = WORK
    for _ in range(rounds):
        product = np.tanh(product @ WORK / 384)


class _StandIn:
    """Draws blank images after a fixed amount of matrix work; loads in no time."""

    def __init__(self, request: SessionRequest) -> None:
        contest = get_contest(request.contest_id)
        self.shape = (contest.generation.height, contest.generation.width, 3)
        self.memory_probe = open_memory_probe("cpu")
        self.memory_probe.start()
        started = time.perf_counter()
        _work()
        warm = time.perf_counter() - started
        self._loaded = Loaded("stand-in", warm, warm, probe_device("cpu"))

    def loaded(self) -> Loaded:
        return self._loaded

    def generate(self, item: GenerationInput) -> TimedImage:
        started = time.perf_counter()
        _work()
        seconds = time.perf_counter() - started
        return TimedImage(seconds, np.zeros(self.shape, np.uint8), EnergyReading(None, "cpu"))

    def memory(self) -> MemoryReading:
        return self.memory_probe.peek()

    def finish(self) -> MemoryReading:
        return self.memory_probe.stop()


class BurnsBetweenImages(_StandIn):
    """After each image, a thread burns until the next image is asked for: a pool that never goes to sleep."""

    def __init__(self, request: SessionRequest) -> None:
        super().__init__(request)
        self._idle = threading.Event()
        threading.Thread(target=self._burn, daemon=True).start()

    def _burn(self) -> None:
        while True:
            self._idle.wait()
            busy = time.perf_counter() + DUTY_S
            while time.perf_counter() < busy:
                pass
            time.sleep(DUTY_S)

    def generate(self, item: GenerationInput) -> TimedImage:
        self._idle.clear()
        try:
            return super().generate(item)
        finally:
            self._idle.set()


def _start_burner(dies_with_parent: bool) -> subprocess.Popen:
    """A process in a session of its own, out of reach of the worker's freezing, that burns half a core."""
    tie = "import ctypes\nctypes.CDLL(None).prctl(1, 9)\n" if dies_with_parent else ""  # PR_SET_PDEATHSIG, KILL
    burn = (
        f"{tie}import time\nend = time.monotonic() + {ESCAPED_BURN_S}\nwhile time.monotonic() < end:\n"
        f"    busy = time.perf_counter() + {DUTY_S}\n    while time.perf_counter() < busy: pass\n"
        f"    time.sleep({DUTY_S})"
    )
    return subprocess.Popen([sys.executable, "-c", burn], start_new_session=True)


class LeavesABurnerBehind(_StandIn):
    """Starts a burning process that outlives its worker (and ends by itself after ``ESCAPED_BURN_S``)."""

    def __init__(self, request: SessionRequest) -> None:
        super().__init__(request)
        _start_burner(dies_with_parent=False)


class BurnsBesideItself(_StandIn):
    """Starts a burning process that runs exactly as long as its worker: nothing is left when it closes."""

    def __init__(self, request: SessionRequest) -> None:
        super().__init__(request)
        self.burner = _start_burner(dies_with_parent=True)
