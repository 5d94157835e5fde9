"""Worker-side probes for the sandbox tests: what a worker sees of its parent's environment and of the files."""

from __future__ import annotations

import ctypes
import json
import os
import sys
import tempfile
from pathlib import Path

from base.measure import probe_device
from contest.judging.checkpoint_worker import Loaded, SessionRequest

PR_GET_PDEATHSIG = 2
SECRETS = {"HF_TOKEN": "hf_sandbox_test_token", "BT_WALLET_PATH": "/wallets/of/the/validator"}


class Probe:
    """Served by a worker: each call tries one thing a checkpoint's code might, and fails as the worker would."""

    def __init__(self, _: object) -> None:
        pass

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def first_environment(self) -> str:
        """The environment the process started with, as the kernel shows it to anyone who may read /proc."""
        return Path("/proc/self/environ").read_bytes().decode(errors="replace")

    def read(self, path: Path) -> str:
        return path.read_text()

    def listing(self, folder: Path) -> list[str]:
        return sorted(os.listdir(folder))

    def write(self, path: Path) -> None:
        path.write_text("written by a worker")

    def temporary_file(self) -> str:
        with tempfile.NamedTemporaryFile(delete=False) as made:
            return made.name

    def signal(self, pid: int) -> None:
        os.kill(pid, 0)

    def parent_death_signal(self) -> int:
        signal = ctypes.c_int()
        ctypes.CDLL(None).prctl(PR_GET_PDEATHSIG, ctypes.byref(signal), 0, 0, 0)
        return signal.value

    def capabilities(self) -> int:
        """The effective capabilities, as a bit mask."""
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
        raise RuntimeError("no CapEff in /proc/self/status")


class NosySession:
    """Stands in for a checkpoint's session: reads its own checkpoint, then tries the download beside it.

    Answers ``loaded`` with what it could read, as the runtime's name: ``{path: "read" or the error}``.
    """

    NEIGHBOUR = Path("..", "..", "bob", "model", "unet.safetensors")

    def __init__(self, request: SessionRequest) -> None:
        found = {}
        for path in (request.checkpoint / "model_index.json", request.checkpoint / self.NEIGHBOUR):
            try:
                path.read_bytes()
                found[str(path)] = "read"
            except OSError as error:
                found[str(path)] = type(error).__name__
        self._loaded = Loaded(json.dumps(found), 0.0, 0.0, probe_device("cpu"))

    def loaded(self) -> Loaded:
        return self._loaded


def report_worker_environment() -> None:
    """Run as a script, with ``SECRETS`` in its environment: print, as JSON, what a worker it starts sees."""
    from base.isolation import Worker

    with Worker(Probe, None, start_timeout_s=60) as worker:
        seen = {
            "environment": worker.call(Probe.environment, timeout_s=30),
            "first_environment": worker.call(Probe.first_environment, timeout_s=30),
            "parent_keeps": {name: os.environ.get(name) for name in SECRETS},
        }
    json.dump(seen, sys.stdout)
