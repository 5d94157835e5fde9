"""Where submissions are judged: hosts, each with its own baseline and A/A control, fed from one queue.

In process there is one host, the validator itself, and judging runs one submission after the other. Spread
over a Ray cluster (``contest.judging.ray_hosts``) each host holds one contest device, and the next
submission goes to the first free host. Every ratio is measured on one device: a submission is paired with
the baseline of the host that judges it, never with another host's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from contest.judging.checkpoint_worker import BenchmarkResult, Timings
from contest.judging.scoring import FaceToFace
from contest.judging.screening import screen

if TYPE_CHECKING:
    from contest.judging.judge import Judging, Outcome, Reference


class HostLost(RuntimeError):
    """A host died or lost its connection while it judged a submission: the submission is not to blame."""


IN_PROCESS = "in process"  # the validator itself as the one host: nothing of its machine is published


@dataclass(frozen=True)
class Finished:
    """A submission back from its host: its outcome, or the loss of the host."""

    key: str
    host: str
    outcome: Outcome | HostLost


Doing = Literal["opening", "refused", "ready", "judging", "drained", "lost"]


@dataclass(frozen=True)
class HostActivity:
    """What one host is doing now, as ``validator.py status`` shows it while a day runs on several."""

    name: str
    doing: Doing
    machine: str = ""  # its hostname and device, once it has opened
    submission: str | None = None  # the submission it is judging, or the one it was lost or drained with
    note: str | None = None  # why it was refused, lost or drained


@dataclass(frozen=True)
class HostReport:
    """What one host measured of the validator's own side over a run."""

    name: str
    machine: str  # its hostname and device, as the leaderboard shows it
    controls: tuple[Reference, ...]
    baseline: BenchmarkResult  # its baseline over every pair it ran, with its reference copy's load and memory
    timed_seconds: float  # every timed image either side of every pair
    drained: str | None = None  # why the host was given no more submissions: its machine drifted


class Hosts(Protocol):
    """A run's judging hosts, each started with its workers and its first A/A control."""

    @property
    def free(self) -> int: ...  # hosts with nothing to judge now

    @property
    def busy(self) -> int: ...  # hosts judging a submission now

    def start(self, key: str, folder: Path, at: str) -> None: ...  # on a free host

    def finished(self) -> list[Finished]: ...  # waits until at least one is done

    def face_to_face(self, earlier: str, earlier_folder: Path, later: str, later_folder: Path) -> FaceToFace: ...

    def reports(self) -> Sequence[HostReport]: ...  # the first is the host whose baseline the run publishes

    def close(self) -> None: ...


def judge_checked_out(judging: Judging, key: str, folder: Path, at: str) -> Outcome:
    """A checked-out submission on one host: screened in a worker of its own, then paired with its baseline."""
    refused = screen(folder, judging.contest, judging.models.baseline_digest)
    if refused is not None:
        judging.progress(f"{at} is out: {refused}")
        return refused
    judging.control_if_due()
    judging.progress(f"{at}: benchmarking against the baseline")
    outcome = judging.judge_one(key, folder)
    judging.judged += 1
    return outcome


def report_of(judging: Judging, name: str, machine: str) -> HostReport:
    baseline = judging.baseline_result(Timings.joined(judging.baseline_runs))
    return HostReport(name, machine, tuple(judging.controls), baseline, judging.timed_seconds)


class InProcessHost:
    """The validator itself as the one host: each submission is judged when it is started."""

    def __init__(self, judging: Judging) -> None:
        self.judging = judging
        self._done: list[Finished] = []

    @property
    def free(self) -> int:
        return 0 if self._done else 1

    @property
    def busy(self) -> int:
        return len(self._done)

    def start(self, key: str, folder: Path, at: str) -> None:
        self._done.append(Finished(key, IN_PROCESS, judge_checked_out(self.judging, key, folder, at)))

    def finished(self) -> list[Finished]:
        done, self._done = self._done, []
        return done

    def face_to_face(self, earlier: str, earlier_folder: Path, later: str, later_folder: Path) -> FaceToFace:
        return self.judging.face_to_face(earlier, earlier_folder, later, later_folder)

    def reports(self) -> Sequence[HostReport]:
        return [report_of(self.judging, IN_PROCESS, "")]

    def close(self) -> None:
        self.judging.close()
