"""The benchmark: one checkpoint on the day's inputs, measured the same way for miner and validator.

``benchmark_checkpoint`` is the body that runs inside a worker process; ``run_benchmark`` spawns that
worker and adds the wall time the harness spent around it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from base.device import DeviceInfo, probe_device
from base.energy import EnergyReading, open_energy_meter
from base.inputs import GenerationInput
from base.memory import MemoryReading, open_memory_probe
from base.timing import synchronizer_for, time_each, timed
from base.worker import run_in_worker
from contest.definitions import get_contest
from pipelines.checkpoint_guard import inspect_checkpoint
from pipelines.loader import load_runtime


@dataclass(frozen=True)
class BenchmarkRequest:
    checkpoint: Path
    contest_id: str
    inputs: tuple[GenerationInput, ...]


@dataclass(frozen=True)
class BenchmarkResult:
    runtime: str
    load_seconds: float  # from the start of loading to the first finished image
    sample_seconds: tuple[float, ...]
    images: tuple[np.ndarray, ...]
    memory: MemoryReading
    energy: EnergyReading  # over the whole timed window
    device: DeviceInfo
    wall_seconds: float | None = None  # the whole worker round trip, set by ``run_benchmark``

    @property
    def joules_per_image(self) -> float | None:
        return None if self.energy.joules is None else self.energy.joules / len(self.sample_seconds)

    @property
    def timed_seconds(self) -> float:
        return float(sum(self.sample_seconds))

    @property
    def harness_share(self) -> float | None:
        """Share of the wall time spent outside timed generation (spawn, imports, load, warm-up)."""
        if not self.wall_seconds:
            return None
        return max(0.0, 1.0 - self.timed_seconds / self.wall_seconds)


def benchmark_checkpoint(request: BenchmarkRequest) -> BenchmarkResult:
    """Inspect, load, warm up, then time each input; runs in the worker process."""
    contest = get_contest(request.contest_id)
    if not request.inputs:
        raise ValueError("a benchmark needs at least one input")
    manifest = inspect_checkpoint(request.checkpoint, contest.allowed_runtimes, contest.max_checkpoint_bytes)
    device = contest.device
    synchronize = synchronizer_for(device)
    memory = open_memory_probe(device)
    memory.start()

    started = time.perf_counter()
    runtime = load_runtime(
        request.checkpoint, manifest, contest.generation, device, default_dtype=contest.default_dtype
    )
    warmup = request.inputs[: max(1, contest.warmup_samples)]
    timed(lambda: runtime.generate(warmup[:1]), synchronize)
    load_seconds = time.perf_counter() - started
    for item in warmup[1:]:
        runtime.generate([item])

    energy = open_energy_meter(device)
    energy.start()
    calls = time_each(lambda item: runtime.generate([item])[0], request.inputs, synchronize)
    energy_reading = energy.stop()
    return BenchmarkResult(
        runtime=manifest.runtime,
        load_seconds=load_seconds,
        sample_seconds=tuple(call.seconds for call in calls),
        images=tuple(call.result for call in calls),
        memory=memory.stop(),
        energy=energy_reading,
        device=probe_device(device),
    )


def run_benchmark(request: BenchmarkRequest) -> BenchmarkResult:
    """Benchmark in a fresh worker process, bounded by the contest's load limit plus a per-image allowance."""
    contest = get_contest(request.contest_id)
    limit_s = contest.load_timeout_s * 2 + 60.0 * len(request.inputs)
    started = time.perf_counter()
    result = run_in_worker(benchmark_checkpoint, request, timeout_s=limit_s)
    return replace(result, wall_seconds=time.perf_counter() - started)
