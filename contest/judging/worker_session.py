"""The worker's side of the benchmark: inspect, load and warm up one checkpoint, then generate on request.

Runs only inside a worker process (see ``contest.judging.checkpoint_worker``), which is why it alone imports the models.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

from base.measure import MemoryReading, open_energy_meter, open_memory_probe, probe_device, synchronizer_for, timed
from contest.definitions import get_contest, inspect_for_contest
from contest.judging.checkpoint_worker import Loaded, Session, SessionRequest, TimedImage
from pipelines.generation import GenerationInput, check_image
from pipelines.loader import load_runtime
from pipelines.torch_runtime import use_cpu_threads


class CheckpointSession:
    """Lives in the worker: inspects and loads the checkpoint, then generates on request."""

    def __init__(self, request: SessionRequest) -> None:
        if not request.warmup:
            raise ValueError("a benchmark needs at least one warm-up input")
        contest = get_contest(request.contest_id)
        manifest = inspect_for_contest(request.checkpoint, contest)
        self.device = contest.device
        self.image_shape = (contest.generation.height, contest.generation.width, 3)
        self.synchronize = synchronizer_for(self.device)
        use_cpu_threads(contest.cpu_threads)
        self._memory = open_memory_probe(self.device)
        self._memory.start()
        started = time.perf_counter()
        self.runtime = load_runtime(
            request.checkpoint, manifest, contest.generation, self.device, default_dtype=contest.default_dtype
        )
        warm = timed(lambda: self.runtime.generate(request.warmup[:1]), self.synchronize)
        load_seconds = time.perf_counter() - started
        for item in request.warmup[1:]:
            warm = timed(partial(self.runtime.generate, [item]), self.synchronize)
        self._loaded = Loaded(manifest.runtime, load_seconds, warm.seconds, probe_device(self.device))

    def loaded(self) -> Loaded:
        return self._loaded

    def generate(self, item: GenerationInput) -> TimedImage:
        meter = open_energy_meter(self.device)
        meter.start()
        call = timed(lambda: self.runtime.generate([item])[0], self.synchronize)
        energy = meter.stop()
        check_image(call.result, self.image_shape)
        return TimedImage(call.seconds, call.result, energy)

    def memory(self) -> MemoryReading:
        """The peak so far: the parent weighs it while deciding how many more images to take."""
        return self._memory.peek()

    def finish(self) -> MemoryReading:
        return self._memory.stop()


if TYPE_CHECKING:
    _IMPLEMENTS: type[Session] = CheckpointSession  # the parent calls it through Session: any drift is a type error
