"""Judging hosts as Ray actors: one per contest device, each with its own baseline workers and A/A control.

A host claims one device: ``num_gpus=1`` on a CUDA contest; on the CPU contest a custom resource
(``DEVICE_RESOURCE``), so that one machine can stand for several hosts. The validator checks each submission
out (download, hash, duplicate check: once, whatever the number of hosts) and hands it to the first free
host: its folder to a host on the validator's own node, the folder shipped through Ray's object store to a
host on another (``contest.judging.shipping``), which also gets the baseline and the image encoder so. A host
that dies or loses its connection mid-submission is dropped, and the submission is judged again on another
(``judge``). A host whose baseline drifts beyond what the contest allows (``drift_beyond``) finishes its
submission and is drained: it is given no more, and the leaderboard says why.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from base.errors import first_line
from base.isolation import owned_folder
from base.measure.device import probe_device
from base.removal import remove_tree
from contest.baseline import ContestModels
from contest.definitions import Contest
from contest.judging.hosts import Doing, Finished, HostActivity, HostLost, HostReport, judge_checked_out, report_of
from contest.judging.judge import HostSetup, Judging, Outcome
from contest.judging.pairing import BaselineFailed
from contest.judging.scoring import FaceToFace
from contest.judging.shipping import Shipment, ship, unpack
from pipelines.generation import GenerationInput

log = logging.getLogger(__name__)
DEVICE_RESOURCE = "contest_device"
# A host's folder for what the validator ships to it: ``edge-received-<pid>-<random>`` in the machine's temporary
# folder, removed when the host closes, or by the next host on the machine where it died without closing.
RECEIVED_PREFIX = "edge-received-"
Kept = list[tuple[str | None, list[np.ndarray]]]


class HostRefused(RuntimeError):
    """A host could not judge for this contest: its device is not the contest's, or its workers did not start."""


def received_folder() -> Path:
    """A new folder for what is shipped to this host, after those of hosts that died on this machine without
    closing (a node lost mid-day) are removed: a shipped SDXL is 7 GB."""
    return owned_folder(RECEIVED_PREFIX)


class HostActor:
    """One host's side, in its Ray worker: a ``Judging`` whose images go back with each outcome."""

    def __init__(
        self,
        name: str,
        models: ContestModels,
        contest: Contest,
        inputs: Sequence[GenerationInput],
        scratch_in: Path | None,
    ) -> None:
        self.name, self.kept = name, []  # type: tuple[str, Kept]
        self._opening = (models, contest, inputs, scratch_in)
        self.machine, self.opened = "", None  # type: tuple[str, Judging | None]
        self.received: Path | None = None  # where shipped folders are written, on another machine than the validator's
        self._shipments = 0

    def node(self) -> str:
        """The Ray node this host runs on: another than the validator's means its folders are shipped to it."""
        return str(ray.get_runtime_context().get_node_id())

    def open(self, shipped_models: tuple[Shipment, Shipment] | None = None) -> tuple[str, Kept]:
        """The device checked before any worker starts, then the baseline and the first A/A control:
        ``hostname: device`` and the control's images. ``shipped_models``: the baseline and the image encoder,
        for a host on another machine than the validator's."""
        models, contest, inputs, scratch_in = self._opening
        device = probe_device(contest.device)
        self.machine = f"{socket.gethostname()}: {device.name}"
        if contest.device_name and device.name != contest.device_name:
            raise HostRefused(f"{self.name} on {socket.gethostname()} has a {device.name}, not {contest.device_name}")
        if shipped_models is not None:
            self.received = scratch_in = received_folder()
            baseline, encoder = (self._receive(shipment) for shipment in shipped_models)
            models = replace(models, baseline=baseline, image_encoder=encoder)
        self.opened = Judging(models, contest, inputs, self._progress, self._keep, scratch_in=scratch_in)
        self.opened.fresh_control()
        return self.machine, self._drain()

    def _receive(self, shipment: Shipment) -> Path:
        assert self.received is not None
        self._shipments += 1
        return unpack(shipment, self.received / f"shipped-{self._shipments}")

    @contextmanager
    def _folder(self, given: str | Shipment) -> Iterator[Path]:
        """The folder the validator named, or the one it shipped, written here for as long as it is judged."""
        if isinstance(given, str):
            yield Path(given)
            return
        folder = self._receive(given)
        try:
            yield folder
        finally:
            remove_tree(folder)

    def _progress(self, message: str) -> None:
        print(f"{self.name}: {message}", flush=True)  # Ray shows a worker's output in the validator's

    def _keep(self, key: str | None, images: Sequence[np.ndarray]) -> None:
        self.kept.append((key, [np.asarray(image) for image in images]))

    def _drain(self) -> Kept:
        kept, self.kept = self.kept, []
        return kept

    def judge(self, key: str, folder: str | Shipment, at: str) -> tuple[Outcome, Kept, str | None]:
        """The outcome, the images it kept, and why this host should take no more (``Judging.drifted``)."""
        with self._folder(folder) as checkpoint:
            outcome = judge_checked_out(self.judging, key, checkpoint, at)
        return outcome, self._drain(), self.judging.drifted

    def face_to_face(
        self, earlier: str, earlier_folder: str | Shipment, later: str, later_folder: str | Shipment
    ) -> FaceToFace:
        with self._folder(earlier_folder) as earlier_checkpoint, self._folder(later_folder) as later_checkpoint:
            return self.judging.face_to_face(earlier, earlier_checkpoint, later, later_checkpoint)

    def report(self) -> HostReport:
        return report_of(self.judging, self.name, self.machine)

    @property
    def judging(self) -> Judging:
        if self.opened is None:
            raise HostRefused(f"{self.name} was not opened")
        return self.opened

    def close(self) -> None:
        if self.opened is not None:
            self.opened.close()
        if self.received is not None:
            remove_tree(self.received)


@dataclass(frozen=True)
class RayFleet:
    """Opens a host on every contest device of the Ray cluster this process is connected to (``connect``)."""

    def __call__(self, setup: HostSetup) -> RayHosts:
        count = devices(setup.contest)
        if count < 1:
            raise BaselineFailed(f"the Ray cluster has no {setup.contest.device} device for the contest's hosts")
        return RayHosts(count, setup)


def connect(address: str, cpu_hosts: int = 1) -> None:
    """Join the cluster at ``address`` (``auto``, ``ray://host:port``), or start one of its own here (``local``,
    whatever else runs on this machine) that stands for ``cpu_hosts`` CPU-contest devices (Ray counts a machine's
    GPUs itself)."""
    if ray.is_initialized():
        return
    if address == "local":
        ray.init(address="local", resources={DEVICE_RESOURCE: cpu_hosts}, include_dashboard=False, log_to_driver=True)
    else:
        ray.init(address=address, log_to_driver=True)


def devices(contest: Contest) -> int:
    """How many hosts the cluster has room for: its GPUs on a CUDA contest, its device resource on the CPU one,
    over every live node."""
    resource = "GPU" if contest.device == "cuda" else DEVICE_RESOURCE
    return sum(int(node["Resources"].get(resource, 0)) for node in ray.nodes() if node["Alive"])


def _claim(contest: Contest) -> dict[str, Any]:
    """One device per host, wherever Ray finds one; the host's own processes are the device's, not Ray's CPUs
    to share."""
    if contest.device == "cuda":
        return {"num_gpus": 1, "num_cpus": 0}
    return {"resources": {DEVICE_RESOURCE: 1}, "num_cpus": 0}


def _cause(error: RayError) -> str:
    """The first line of what a host raised, without Ray's wrapping; Ray's own line where the host died."""
    return first_line(error.cause if isinstance(error, RayTaskError) else error)


class RayHosts:
    """The run's hosts on a Ray cluster, fed by ``judge``'s queue: the next submission to the first free one."""

    def __init__(self, count: int, setup: HostSetup, actor: type[HostActor] = HostActor) -> None:
        self.progress, self.keep_images, self.watch = setup.progress, setup.keep_images, setup.watch
        self.machines: dict[str, str] = {}
        models, contest, inputs, scratch_in = setup.models, setup.contest, setup.inputs, setup.scratch_in
        remote = ray.remote(max_restarts=0, max_task_retries=0)(actor).options(**_claim(contest))
        # Ray's handles proxy each method as ``.remote``, which its type stubs do not describe.
        names = [f"host-{number}" for number in range(count)]
        self.actors: dict[str, Any] = {name: remote.remote(name, models, contest, inputs, scratch_in) for name in names}
        for name in names:
            self._tell(name, "opening")
        self.running: dict[Any, tuple[str, str]] = {}  # the call's reference -> (host, key)
        self.idle: list[str] = []
        self.drained: dict[str, str] = {}  # host -> why it takes no more submissions
        self._reports: list[HostReport] = []
        self.elsewhere: set[str] = set()  # hosts on another node than the validator's: folders are shipped to them
        refused: list[str] = []
        try:
            here = ray.get_runtime_context().get_node_id()
            nodes = {name: actor.node.remote() for name, actor in self.actors.items()}
            for name, call in nodes.items():
                try:
                    if ray.get(call) != here:
                        self.elsewhere.add(name)
                except RayError as error:
                    self._refuse(name, error, refused)
            shipped = (ship(models.baseline), ship(models.image_encoder)) if self.elsewhere else None
            opened = {
                name: actor.open.remote(shipped if name in self.elsewhere else None)
                for name, actor in self.actors.items()
            }
            for name, call in opened.items():
                try:
                    facts, kept = ray.get(call)
                except RayError as error:  # this host is dropped; the others judge the day
                    self._refuse(name, error, refused)
                    continue
                where = " (another machine: each checkpoint is shipped to it)" if name in self.elsewhere else ""
                self.progress(f"{name} is ready on {facts}{where}")
                self.machines[name] = facts
                self._tell(name, "ready")
                self._keep(kept)
                self.idle.append(name)
        except BaseException:
            self.close()
            raise
        if not self.idle:
            raise BaselineFailed(f"no judging host opened ({'; '.join(refused)})")

    def _refuse(self, name: str, error: RayError, refused: list[str]) -> None:
        refused.append(f"{name} did not open: {_cause(error)}")
        self.progress(refused[-1])
        self._tell(name, "refused", note=_cause(error))
        ray.kill(self.actors.pop(name))

    def _payload(self, name: str, folder: Path) -> str | Shipment:
        """What host ``name`` is handed for ``folder``: its path on this machine, or the folder shipped."""
        return ship(folder) if name in self.elsewhere else str(folder)

    def _tell(self, name: str, doing: Doing, submission: str | None = None, note: str | None = None) -> None:
        if self.watch is not None:
            self.watch(HostActivity(name, doing, self.machines.get(name, ""), submission, note))

    def _get(self, call: Any, what: str) -> Any:
        try:
            return ray.get(call)
        except RayError as error:
            raise BaselineFailed(f"{what}: {first_line(error)}") from error

    def _keep(self, kept: Kept) -> None:
        if self.keep_images is not None:
            for key, images in kept:
                self.keep_images(key, images)

    @property
    def free(self) -> int:
        return len(self.idle)

    @property
    def busy(self) -> int:
        return len(self.running)

    def start(self, key: str, folder: Path, at: str) -> None:
        name = self.idle.pop(0)
        self.progress(f"{at}: on {name}")
        self.running[self.actors[name].judge.remote(key, self._payload(name, folder), at)] = (name, key)
        self._tell(name, "judging", key)

    def finished(self) -> list[Finished]:
        ready, _ = ray.wait(list(self.running), num_returns=1)
        done: list[Finished] = []
        for call in ready:
            name, key = self.running.pop(call)
            try:
                outcome, kept, drifted = ray.get(call)
            except RayActorError as error:
                self.progress(f"{name} was lost while judging {key}: {first_line(error)}")
                self._tell(name, "lost", key, first_line(error))
                del self.actors[name]
                done.append(Finished(key, name, HostLost(f"{name}: {first_line(error)}")))
                continue
            self._keep(kept)
            if drifted is None:
                self.idle.append(name)
                self._tell(name, "ready")
            else:
                self.progress(f"{name} is drained: {drifted}")
                self.drained[name] = drifted
                self._tell(name, "drained", key, drifted)
            done.append(Finished(key, name, outcome))
        return done

    def face_to_face(self, earlier: str, earlier_folder: Path, later: str, later_folder: Path) -> FaceToFace:
        if not self.idle:  # the last host was lost with the last submission
            raise BaselineFailed("no judging host is left for a face-to-face run")
        name = self.idle[0]
        self._tell(name, "judging", f"{later} against {earlier}")
        call = self.actors[name].face_to_face.remote(
            earlier, self._payload(name, earlier_folder), later, self._payload(name, later_folder)
        )
        faced: FaceToFace = self._get(call, f"{name} failed a face-to-face run")
        self._tell(name, "ready")
        return faced

    def reports(self) -> Sequence[HostReport]:
        if not self._reports:
            calls = [actor.report.remote() for actor in self.actors.values()]
            reports: list[HostReport] = [self._get(call, "a host's report was lost") for call in calls]
            self._reports = [replace(report, drained=self.drained.get(report.name)) for report in reports]
        return self._reports

    def close(self) -> None:
        """Every host's workers closed, then the actors ended: nothing of a run stays on the cluster."""
        closes = [actor.close.remote() for actor in self.actors.values()]
        ray.wait(closes, num_returns=len(closes), timeout=60)
        for actor in self.actors.values():
            ray.kill(actor)
        self.actors.clear()
