"""The benchmark, the same for the miner's self-check and the validator: the parent's side of a worker.

Each checkpoint is loaded once in its own worker process (``contest.judging.worker_session.CheckpointSession``); the
parent then asks workers for one image at a time (see ``contest.judging.pairing``), freezing the one that is not
generating. The parent never loads a model, so it never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from base.isolation import Worker, WorkerHandle, start_worker_server
from base.measure import DeviceInfo, EnergyReading, MemoryReading, total_energy
from contest.definitions import Contest
from pipelines.generation import GenerationInput

SESSION = "contest.judging.worker_session:CheckpointSession"
SESSION_MODULE = SESSION.split(":")[0]  # what the workers' server imports once: every worker of a run forks from it
# A submission slower than this many times the baseline per image can never score, so it is not waited for.
IMAGE_LIMIT_FACTOR = 4.0
MIN_IMAGE_LIMIT_S = 10.0
ANSWER_LIMIT_S = 60.0


def start_judging_server() -> None:
    """Start the checkpoint workers' server now: a command that will judge calls this first, so the server's
    imports overlap the command's own start."""
    start_worker_server([SESSION_MODULE])


@dataclass(frozen=True)
class SessionRequest:
    checkpoint: Path
    contest_id: str
    warmup: tuple[GenerationInput, ...]


@dataclass(frozen=True)
class Loaded:
    runtime: str
    load_seconds: float  # from the start of loading to the first finished image
    warm_image_seconds: float  # the last warm-up image: a first idea of the time per image
    device: DeviceInfo


@dataclass(frozen=True)
class TimedImage:
    seconds: float
    image: np.ndarray
    energy: EnergyReading


@dataclass(frozen=True)
class Timings:
    """What is kept of a run of timed images once their similarity is known: the images are dropped."""

    sample_seconds: tuple[float, ...]
    energy: EnergyReading  # summed over the images

    @classmethod
    def of(cls, images: Sequence[TimedImage]) -> Timings:
        return cls(tuple(timed.seconds for timed in images), total_energy([timed.energy for timed in images]))

    @classmethod
    def joined(cls, runs: Sequence[Timings]) -> Timings:
        """Several runs as one: every image each of them timed."""
        seconds = tuple(value for run in runs for value in run.sample_seconds)
        return cls(seconds, total_energy([run.energy for run in runs]))


@dataclass(frozen=True)
class BenchmarkResult:
    runtime: str
    load_seconds: float
    sample_seconds: tuple[float, ...]
    memory: MemoryReading
    energy: EnergyReading  # summed over the timed images
    device: DeviceInfo

    @property
    def joules_per_image(self) -> float | None:
        return None if self.energy.joules is None else self.energy.joules / len(self.sample_seconds)

    @property
    def timed_seconds(self) -> float:
        return float(sum(self.sample_seconds))


class Session(Protocol):
    """What the worker's checkpoint session answers (``worker_session.CheckpointSession`` implements it, checked
    by mypy there); the parent calls it through these methods, so it never imports the models itself."""

    def loaded(self) -> Loaded: ...

    def generate(self, item: GenerationInput) -> TimedImage: ...

    def memory(self) -> MemoryReading: ...

    def finish(self) -> MemoryReading: ...


class CheckpointWorker(WorkerHandle):
    """The parent's handle on one checkpoint's worker process.

    ``session`` names the worker-side class; it is the contest's session everywhere but in tests of the
    harness itself, which stand in runtimes that misbehave in ways a checkpoint cannot be made to. The worker
    reads no file but the checkpoint's and the libraries', and writes only its own scratch folder, made in
    ``scratch_in`` (the system's temporary folder by default) and deleted when it closes.
    """

    def __init__(
        self,
        checkpoint: Path,
        contest: Contest,
        inputs: Sequence[GenerationInput],
        session: str = SESSION,
        start_timeout_s: float | None = None,
        scratch_in: Path | None = None,
    ) -> None:
        """``start_timeout_s`` bounds loading and warming up (default: the contest's load limit)."""
        warmup = tuple(inputs[: max(1, contest.warmup_samples)])
        request = SessionRequest(checkpoint, contest.id, warmup)
        self._worker = Worker(
            session,
            request,
            contest.load_timeout_s if start_timeout_s is None else start_timeout_s,
            preload=[SESSION_MODULE],
            memory_limit_bytes=contest.worker_memory_bytes,
            isolated=True,
            readable=[checkpoint],
            scratch_in=scratch_in,
        )
        try:
            self.loaded: Loaded = self._worker.call(Session.loaded, timeout_s=ANSWER_LIMIT_S)
        except BaseException:
            self._worker.close()
            raise

    def image_limit_s(self) -> float:
        """A per-image limit for others, from this (the baseline's) warm time per image."""
        return max(MIN_IMAGE_LIMIT_S, IMAGE_LIMIT_FACTOR * self.loaded.warm_image_seconds)

    def generate(self, item: GenerationInput, timeout_s: float) -> TimedImage:
        return self._worker.call(Session.generate, item, timeout_s=timeout_s)

    def freeze(self) -> None:
        """Nothing of this worker runs until its next call."""
        self._worker.freeze()

    def memory(self) -> MemoryReading:
        """The peak memory so far."""
        return self._worker.call(Session.memory, timeout_s=ANSWER_LIMIT_S)

    def result(self, timings: Timings, memory: MemoryReading) -> BenchmarkResult:
        return BenchmarkResult(
            runtime=self.loaded.runtime,
            load_seconds=self.loaded.load_seconds,
            sample_seconds=timings.sample_seconds,
            memory=memory,
            energy=timings.energy,
            device=self.loaded.device,
        )

    def finish(self) -> MemoryReading:
        """The peak memory over the worker's whole life, which ends its measurement."""
        return self._worker.call(Session.finish, timeout_s=ANSWER_LIMIT_S)
