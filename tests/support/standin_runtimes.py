"""Worker-side stand-ins for runtimes that misbehave between images, for the tests of the judging harness.

A checkpoint is data and the contest's runtimes are configured not to spin, so no submission can be made to
do this on purpose; these stand in for what a runtime's thread pool or helper process could still do. They
answer the same calls as ``contest.judging.worker_session.CheckpointSession``.
"""

from __future__ import annotations

import hashlib
import os
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
# Burners keep every core busy with two threads hashing (which runs outside the GIL): a baseline drawing on one
# thread then gets at most half a core, whatever the machine's number of cores, and takes twice as long or more.
BURNERS = 2 * len(os.sched_getaffinity(0))
BURN_BLOCK_BYTES = 1 << 20
BURN_BLOCK = bytes(BURN_BLOCK_BYTES)
BURN_CODE = """import time, hashlib, threading
end, block = time.monotonic() + {seconds}, bytes({block_bytes})
def burn():
    while time.monotonic() < end:
        hashlib.sha256(block)
for _ in range({threads}):
    threading.Thread(target=burn).start()
"""


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
    """After each image, threads burn every core until the next image is asked for: a pool that never sleeps."""

    def __init__(self, request: SessionRequest) -> None:
        super().__init__(request)
        self._idle = threading.Event()
        for _ in range(BURNERS):
            threading.Thread(target=self._burn, daemon=True).start()

    def _burn(self) -> None:
        while True:
            self._idle.wait()
            hashlib.sha256(BURN_BLOCK)

    def generate(self, item: GenerationInput) -> TimedImage:
        self._idle.clear()
        try:
            return super().generate(item)
        finally:
            self._idle.set()


def _start_burner(escapes: bool) -> subprocess.Popen:
    """A process out of reach of the worker's freezing (a process group of its own) that burns every core.

    One that ``escapes`` takes a session of its own too and outlives its worker; otherwise it dies with the worker
    and stays in the judging's session, where the scheduler shares the cores between its threads and the
    baseline's (where autogrouping is on, it gives each session its share, so a burner in a session of its own
    barely slows a baseline drawing on one thread).
    """
    tie = "" if escapes else "import ctypes\nctypes.CDLL(None).prctl(1, 9)\n"  # PR_SET_PDEATHSIG, KILL
    burn = tie + BURN_CODE.format(seconds=ESCAPED_BURN_S, block_bytes=BURN_BLOCK_BYTES, threads=BURNERS)
    group = None if escapes else 0  # a session of its own makes a group of its own anyway
    return subprocess.Popen([sys.executable, "-c", burn], start_new_session=escapes, process_group=group)


class LeavesABurnerBehind(_StandIn):
    """Starts a burning process that outlives its worker (and ends by itself after ``ESCAPED_BURN_S``)."""

    def __init__(self, request: SessionRequest) -> None:
        super().__init__(request)
        _start_burner(escapes=True)


class BurnsBesideItself(_StandIn):
    """Starts a burning process that runs exactly as long as its worker: nothing is left when it closes."""

    def __init__(self, request: SessionRequest) -> None:
        super().__init__(request)
        self.burner = _start_burner(escapes=False)
