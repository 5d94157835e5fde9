"""Worker-side probes: the real checkpoint session, which also says how many cores its drawing keeps busy."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import torch

from contest.judging.checkpoint_worker import SessionRequest
from contest.judging.worker_session import CheckpointSession
from pipelines.torch_runtime import use_cpu_threads


class DrawingCores(CheckpointSession):
    """Answers ``loaded`` with ``{"threads": torch's, "busy_cores": CPU time over wall time}`` as the runtime's name,
    taken over the warm-up inputs drawn once more after the session's own load."""

    threads_after_load: int | None = None  # as the session left them

    def __init__(self, request: SessionRequest) -> None:
        super().__init__(request)
        use_cpu_threads(self.threads_after_load)
        cpu, wall = time.process_time(), time.perf_counter()
        for item in request.warmup:
            self.runtime.generate([item])
        busy_cores = (time.process_time() - cpu) / (time.perf_counter() - wall)
        found = {"threads": torch.get_num_threads(), "busy_cores": busy_cores}
        self._loaded = replace(self._loaded, runtime=json.dumps(found))


class DrawingCoresOnEveryCore(DrawingCores):
    """The same, with torch set back to one thread per core once loaded: what drawing costs without the setting."""

    threads_after_load = len(os.sched_getaffinity(0))
