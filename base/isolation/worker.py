"""Worker processes that the caller can time out and kill.

A ``Worker`` builds one object in a fresh spawned process and serves method calls on it, each bounded
by a timeout. A fresh process per checkpoint keeps submissions apart (a crash, a leak or a hang stays
in the worker) and makes process-level measurements such as peak RSS belong to that checkpoint alone;
keeping it alive lets two checkpoints be measured in alternation.

A worker can be frozen (SIGSTOP to its process group) while another is timed: whatever a runtime
leaves running between calls (spinning thread pools, background threads, helper processes it started)
then cannot take the machine from the worker being measured. Each worker leads its own process group
and dies with the server it was forked from, so a frozen worker never outlives the validator.

A worker sees only what it needs: an environment reduced to what the interpreter and the libraries use (no
token, no wallet path), a scratch folder of its own as its home and temporary folder (whatever a runtime
caches, TensorRT engines included, lands there and is deleted when the worker closes) and, when given the
folders its job reads, no other files (``base.isolation.sandbox``).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from multiprocessing import forkserver, spawn
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Self, TypeVar

import psutil

from base.isolation import quiet, sandbox
from base.isolation.owned_folders import owned_folder
from base.removal import remove_tree

A = TypeVar("A")
W = TypeVar("W")
R = TypeVar("R")
MEMORY_CHECK_S = 0.1
STOPPED_CHECK_S = 0.001
PR_SET_PDEATHSIG = 1
SCRATCH_PREFIX = "worker-"  # each worker's scratch folder: its home and temporary folder

# The environment the worker server starts with, read once at process start (with ``base.isolation.quiet``'s switches):
# - huggingface_hub/transformers read the offline flags at import: a worker never reaches the network;
# - glibc otherwise raises its mmap threshold as a process frees large blocks, so a young worker pays
#   page faults an older one no longer does (measured here: a fresh worker ran 3-6% slower than a
#   long-lived one for its first 60 images). Fixed thresholds make a worker's speed independent of
#   its age, which matters when two workers are timed against each other.
WORKER_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "MALLOC_MMAP_THRESHOLD_": str(256 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(512 * 1024 * 1024),
}
# What a worker keeps of the environment it was started from: what the interpreter, the libraries and the
# drivers read to find their files and devices, and the switches above. Nothing else passes: not a token, not
# a wallet path, none of the validator's own settings.
KEPT_VARIABLES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONNOUSERSITE",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONHASHSEED",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONUNBUFFERED",
        quiet.DEBUG_VARIABLE,
        *quiet.QUIET_ENVIRONMENT,
        *WORKER_ENVIRONMENT,
    }
)
# OPENBLAS_: some processors need OpenBLAS's core type set, or its kernels compute wrong results or crash.
KEPT_PREFIXES = ("LC_", "CUDA_", "NVIDIA_", "OMP_", "MKL_", "OPENBLAS_")
# multiprocessing runs the parent's main module again in each process it starts (as ``__mp_main__``, its
# ``if __name__ == "__main__"`` block skipped) unless the process that forked it holds that module already, and
# the forkserver's own preload of ``"__main__"`` never receives the main's path on Python 3.11 to 3.13. The server
# therefore imports the main itself (``SERVER_MAIN_MODULE``, preloaded right after ``quiet``), from the reference
# in ``MAIN_VARIABLE``: otherwise each worker would import the whole command on its own (the CLI, the chain's SDK,
# Ray on a Ray host), two to three seconds of CPU per worker here.
MAIN_VARIABLE = "EDGE_WORKER_SERVER_MAIN"
SERVER_MAIN_MODULE = "base.isolation.server_main"
_PATH, _NAME = "path:", "name:"
_server_start = threading.Lock()


class WorkerError(RuntimeError):
    """The call raised inside the worker; the message carries the worker's traceback."""


class WorkerTimeout(WorkerError):
    """The call ran past its limit and the worker was killed."""


class WorkerCrashed(WorkerError):
    """The worker died without answering (a signal, the OOM killer, a hard exit)."""


class WorkerOverMemory(WorkerError):
    """The worker's resident memory went over its limit and the worker was killed."""


def resident_bytes(pid: int) -> int | None:
    """A process's resident set size (None when the process is gone)."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def _failure(error: BaseException) -> tuple[str, str]:
    return ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}")


def _resolve(factory: Callable[[A], Any] | str) -> Callable[[A], Any]:
    if not isinstance(factory, str):
        return factory
    module, _, name = factory.partition(":")
    return getattr(importlib.import_module(module), name)


def _network_failure() -> tuple[str, str] | None:
    if sandbox.attempts:
        return ("error", f"NetworkRefused: the worker tried to reach the network ({', '.join(sandbox.attempts)})")
    return None


def _own_process_group() -> None:
    """Lead a process group of its own (so it can be frozen whole) and die with the server that forked it.

    The server exits when the parent does, once nothing holds its "parent alive" pipe open; every child
    inherits the pipe's writing end, so a worker closes it here: otherwise a frozen worker would keep the
    server, and so itself, alive forever after the parent was killed.
    """
    os.setpgid(0, 0)
    alive = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
    if alive is not None:
        with contextlib.suppress(OSError):
            os.close(alive)
        forkserver._forkserver._forkserver_alive_fd = None  # type: ignore[attr-defined]  # undeclared private attribute
    if os.uname().sysname == "Linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def kept_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """``environment`` less every variable a worker has no use for."""
    return {
        name: value for name, value in environment.items() if name in KEPT_VARIABLES or name.startswith(KEPT_PREFIXES)
    }


def main_reference() -> str | None:
    """This process's main module as ``MAIN_VARIABLE`` holds it, or None where a child never imports it again
    (``python -c``, an interactive session, a package's ``__main__`` such as pytest's)."""
    main = sys.modules["__main__"]
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None:
        return None if name == "__main__" or name.endswith(".__main__") else _NAME + name
    path = getattr(main, "__file__", None)
    return None if path is None else _PATH + os.path.abspath(path)


def import_main(reference: str) -> None:
    """Import the main module ``reference`` names as a child of this process would.

    A script is run as ``__mp_main__`` and becomes this process's ``__main__``, so a child forked from here finds
    it and imports nothing; a module is imported by name, so a child that runs it again finds its imports done.
    """
    if reference.startswith(_PATH):
        spawn.import_main_path(reference.removeprefix(_PATH))
    elif reference.startswith(_NAME):
        importlib.import_module(reference.removeprefix(_NAME))


def server_environment() -> dict[str, str]:
    """The environment the worker server starts with: the kept part of this process's, the workers' switches and
    the main module to import."""
    main = main_reference()
    named_main = {} if main is None else {MAIN_VARIABLE: main}
    return kept_environment(os.environ) | WORKER_ENVIRONMENT | quiet.worker_environment() | named_main


@contextlib.contextmanager
def _environment(environment: Mapping[str, str]) -> Iterator[None]:
    """``environment`` as this process's whole environment, until the block ends."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _server_running() -> bool:
    """Whether the worker server was started and has not exited (an exited one is left for its own reaping)."""
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    return pid is not None and os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def start_worker_server(preload: Sequence[str] = ()) -> None:
    """Start the server workers fork from, with ``preload`` imported in it, where it is not running.

    The first worker does this itself; a program that will start workers calls it first thing, so that the
    server's imports (seconds, for torch) overlap the program's own start instead of following it.
    """
    multiprocessing.get_context("forkserver").set_forkserver_preload([quiet.__name__, SERVER_MAIN_MODULE, *preload])
    _start_server()


def _start_server() -> None:
    """Start the worker server, where it is not running, from the workers' environment alone.

    Every worker is forked from it, and a process's first environment stays readable in /proc/<pid>/environ
    whatever it does to its ``os.environ`` later: a server started with this process's environment would hand
    its secrets to every worker. This process's own environment is swapped only while the server starts.
    """
    with _server_start:
        if not _server_running():
            with _environment(server_environment()):
                forkserver.ensure_running()


def _enter_scratch(scratch: Path) -> None:
    """Keep only the kept environment, and make ``scratch`` the home and temporary folder of all that runs here."""
    environment = kept_environment(os.environ) | {"HOME": str(scratch), "TMPDIR": str(scratch)}
    os.environ.clear()
    os.environ.update(environment)
    tempfile.tempdir = str(scratch)  # read once and kept by ``tempfile``: the server may have read it already


def _stopped(pid: int) -> bool:
    """Whether every thread of ``pid`` is stopped (True where /proc cannot tell)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("T", "t", "Z", "X"):
            return False
    return True


def _serve(
    factory: Callable[[A], Any] | str,
    argument: A,
    channel: Connection,
    isolated: bool,
    scratch: Path,
    readable: Sequence[Path] | None,
) -> None:
    gc.freeze()  # what the server imported is never garbage: no collection here walks it (base.isolation.server_main)
    gc.enable()
    _own_process_group()
    _enter_scratch(scratch)
    if isolated:
        sandbox.isolate_network()
    try:
        build = _resolve(factory)  # imported before the files are confined: the code is the validator's own
        if readable is not None:
            sandbox.confine_files(readable, scratch)
        target = build(argument)
    except BaseException as error:  # everything goes back to the parent as text
        channel.send(_network_failure() or _failure(error))
        return
    if refused := _network_failure():
        channel.send(refused)
        return
    channel.send(("ok", None))
    while True:
        try:
            request = channel.recv()
        except EOFError:
            return
        if request is None:
            return
        method, arguments = request
        try:
            answer = ("ok", getattr(target, method)(*arguments))
        except BaseException as error:
            answer = _failure(error)
        if refused := _network_failure():  # a caught refusal still fails the checkpoint
            channel.send(refused)
            return
        channel.send(answer)


class Worker:
    """``factory(argument)`` built in a fresh process.

    ``factory`` is a module-level callable, or ``"module:name"`` so that the parent need not import
    the (heavy) module itself.

    Workers fork from a server process that has imported ``preload`` once (the first worker starts
    it), so each worker starts in a fraction of a second instead of importing torch anew; the server
    never runs a job, so every worker still starts clean.
    """

    def __init__(
        self,
        factory: Callable[[A], Any] | str,
        argument: A,
        start_timeout_s: float,
        preload: Sequence[str] = (),
        memory_limit_bytes: int | None = None,
        isolated: bool = False,
        readable: Sequence[Path] | None = None,
        scratch_in: Path | None = None,
    ) -> None:
        """``memory_limit_bytes`` bounds the worker's resident memory; ``isolated`` cuts it off the network.

        ``readable``, where given, are the folders the job reads: the worker then sees no other file but the
        interpreter's and the libraries' (``base.isolation.sandbox``). Its scratch folder is made in ``scratch_in`` (the
        system's temporary folder by default), its own, never shared: no worker can leave anything, a built
        engine say, for another to run.
        """
        self._memory_limit = memory_limit_bytes
        self._frozen = False
        if readable is not None:
            sandbox.warn_once_without_landlock()
        context = multiprocessing.get_context("forkserver")
        start_worker_server(preload)
        if scratch_in is not None:
            scratch_in.mkdir(parents=True, exist_ok=True)
        self._scratch = owned_folder(SCRATCH_PREFIX, scratch_in)
        self._channel, child_end = context.Pipe()
        confined = None if readable is None else tuple(readable)
        arguments = (factory, argument, child_end, isolated, self._scratch, confined)
        self._process = context.Process(target=_serve, args=arguments, daemon=True)
        try:
            self._process.start()
        except BaseException:
            remove_tree(self._scratch)
            raise
        finally:
            child_end.close()
        try:
            self._answer(start_timeout_s, "start")
        except BaseException:
            self.close()
            raise

    @property
    def _pid(self) -> int:
        """The worker's process id, which is also its process group's; set once the process has started."""
        pid = self._process.pid
        if pid is None:
            raise WorkerError("the worker process was never started")
        return pid

    def _kill(self) -> None:
        self._signal_group(signal.SIGKILL)
        self._process.kill()
        self._process.join()
        self._frozen = False

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pid, signum)

    def freeze(self, timeout_s: float = 5.0) -> None:
        """Stop every thread and process of the worker, and wait until they have stopped."""
        if self._frozen or not self._process.is_alive():
            return
        self._signal_group(signal.SIGSTOP)
        self._frozen = True
        deadline = time.monotonic() + timeout_s
        while not _stopped(self._pid) and time.monotonic() < deadline:
            time.sleep(STOPPED_CHECK_S)

    def thaw(self) -> None:
        if self._frozen:
            self._signal_group(signal.SIGCONT)
            self._frozen = False

    def _wait(self, timeout_s: float, what: str) -> None:
        """Wait for an answer, checking the worker's memory as it works."""
        deadline = time.monotonic() + timeout_s
        while not self._channel.poll(min(MEMORY_CHECK_S, max(0.0, deadline - time.monotonic()))):
            if self._memory_limit is not None:
                used = resident_bytes(self._pid)
                if used is not None and used > self._memory_limit:
                    self._kill()
                    raise WorkerOverMemory(
                        f"{what} used {used / 2**20:.0f} MiB, over the limit of {self._memory_limit / 2**20:.0f} MiB,"
                        " and the worker was killed"
                    )
            if time.monotonic() >= deadline:
                self._kill()
                raise WorkerTimeout(f"{what} exceeded its {timeout_s:.0f} s limit and the worker was killed")

    def _answer(self, timeout_s: float, what: str) -> Any:
        self._wait(timeout_s, what)
        try:
            status, payload = self._channel.recv()
        except (EOFError, OSError):
            self._process.join(timeout=10)
            raise WorkerCrashed(f"worker died during {what} (exit code {self._process.exitcode})") from None
        if status == "error":
            raise WorkerError(payload)
        return payload

    def call(self, method: Callable[..., R], *arguments: object, timeout_s: float) -> R:
        """Run ``method`` in the worker (thawing it first if it is frozen) and return what it returned.

        ``method`` is the method itself (``Session.generate``), of the worker's object or of a Protocol that
        object implements, never its name in a string: a rename is then a type error, not a failure at run time.
        """
        name = method.__name__
        self.thaw()
        if not self._process.is_alive():
            self._process.join(timeout=10)
            raise WorkerCrashed(f"worker is gone (exit code {self._process.exitcode})")
        try:
            self._channel.send((name, arguments))
        except OSError:
            self._process.join(timeout=10)
            raise WorkerCrashed(f"worker is gone (exit code {self._process.exitcode})") from None
        answer: R = self._answer(timeout_s, name)
        return answer

    def close(self) -> None:
        """Ask the worker to finish; kill it if it does not within a few seconds; its process group goes too."""
        self.thaw()
        if self._process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self._channel.send(None)
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._signal_group(signal.SIGKILL)  # anything the worker started and left behind in its group
        self._channel.close()
        remove_tree(self._scratch)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def started_once_more(start: Callable[[], W], retrying: Callable[[WorkerTimeout], None] = lambda _: None) -> W:
    """``start()``; a start that only ran out of time (a busy machine) is tried once more, never more."""
    try:
        return start()
    except WorkerTimeout as error:
        retrying(error)
    return start()


class WorkerHandle:
    """A parent's typed handle on one ``Worker``: closing it, or leaving its ``with`` block, ends the process."""

    _worker: Worker

    def close(self) -> None:
        self._worker.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
