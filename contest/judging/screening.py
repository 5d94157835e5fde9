"""Whether a submission may be loaded at all, decided in a worker before any benchmark starts.

The checkpoint guard and the model digest parse untrusted files (JSON, ONNX protobufs, safetensors headers),
and a crafted file can cost gigabytes or minutes to parse. So they run in a worker of their own, cut off the
network, under the memory limit of a benchmark worker (``worker_memory_bytes``: 2 GiB on the tiny contest,
32 GiB on SDXL) and the time limit of a load (``load_timeout_s``: 30 s, 120 s): a submission whose
inspection runs past either is out, and the worker is killed with everything it started.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from base.errors import first_line
from base.isolation import Worker, WorkerCrashed, WorkerError, WorkerOverMemory, WorkerTimeout, started_once_more
from contest.definitions import Contest, inspect_for_contest
from contest.judging.checkpoint_worker import SESSION_MODULE
from contest.judging.reasons import Reason, ReasonKind
from pipelines.checkpoint_guard import CheckpointRefused
from pipelines.model_digest import model_digest

INSPECTION = f"{__name__}:Inspection"
UNMODIFIED_BASELINE = Reason(ReasonKind.UNMODIFIED_BASELINE, "the unmodified baseline")


@dataclass(frozen=True)
class ScreenRequest:
    folder: Path
    contest: Contest
    baseline_digest: bytes


class Inspection:
    """Lives in the worker: the guard, then the digest of what it accepted."""

    def __init__(self, request: ScreenRequest) -> None:
        self.request = request

    def verdict(self) -> Reason | None:
        folder, contest = self.request.folder, self.request.contest
        try:
            inspect_for_contest(folder, contest)
        except CheckpointRefused as error:
            return Reason(ReasonKind.REFUSED, f"refused: {error}")
        digest = model_digest(folder, contest.default_dtype, contest.generation.steps)
        return UNMODIFIED_BASELINE if digest == self.request.baseline_digest else None


def screen(folder: Path, contest: Contest, baseline_digest: bytes) -> Reason | None:
    """Why a submission is out before any worker loads it (None: it may be loaded).

    Refused by the guard, the unmodified baseline, or an inspection that ran past its limits; never raises
    for anything the submission makes the inspection do.
    """
    limit_s, memory = contest.load_timeout_s, contest.worker_memory_bytes
    request = ScreenRequest(folder, contest, baseline_digest)
    try:
        with _started(request) as worker:
            return worker.call(Inspection.verdict, timeout_s=limit_s)
    except WorkerTimeout:
        return Reason(ReasonKind.REFUSED, f"refused: the inspection exceeded its time limit of {limit_s:.0f} s")
    except WorkerOverMemory:
        return Reason(
            ReasonKind.REFUSED, f"refused: the inspection exceeded its memory limit of {memory / 2**20:.0f} MiB"
        )
    except WorkerCrashed as error:
        return Reason(ReasonKind.REFUSED, f"refused: the inspection crashed: {first_line(error)}")
    except WorkerError as error:
        return Reason(ReasonKind.REFUSED, f"refused: the inspection failed: {first_line(error)}")


def _started(request: ScreenRequest) -> Worker:
    """The inspection's worker. Starting it reads nothing of the submission, so a start that ran out of time (a
    busy machine, or the workers' server importing the runtimes) is tried once more, never more."""
    contest = request.contest

    def start() -> Worker:
        return Worker(
            INSPECTION,
            request,
            contest.load_timeout_s,
            preload=[SESSION_MODULE],  # the checkpoint workers' server: one server serves every worker
            memory_limit_bytes=contest.worker_memory_bytes,
            isolated=True,
            readable=[request.folder],
        )

    return started_once_more(start)
