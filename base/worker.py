"""Worker processes that the caller can time out and kill.

A ``Worker`` builds one object in a fresh spawned process and serves method calls on it, each bounded
by a timeout. A fresh process per checkpoint keeps submissions apart (a crash, a leak or a hang stays
in the worker) and makes process-level measurements such as peak RSS belong to that checkpoint alone;
keeping it alive lets two checkpoints be measured in alternation.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any, TypeVar

A = TypeVar("A")

# The environment the worker server starts with, read once at process start:
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


class WorkerError(RuntimeError):
    """The call raised inside the worker; the message carries the worker's traceback."""


class WorkerTimeout(WorkerError):
    """The call ran past its limit and the worker was killed."""


class WorkerCrashed(WorkerError):
    """The worker died without answering (a signal, the OOM killer, a hard exit)."""


def _failure(error: BaseException) -> tuple[str, str]:
    return ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}")


def _resolve(factory: Callable[[A], Any] | str) -> Callable[[A], Any]:
    if not isinstance(factory, str):
        return factory
    module, _, name = factory.partition(":")
    return getattr(importlib.import_module(module), name)


def _serve(factory: Callable[[A], Any] | str, argument: A, channel: Connection) -> None:
    try:
        target = _resolve(factory)(argument)
    except BaseException as error:  # everything goes back to the parent as text
        channel.send(_failure(error))
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
            channel.send(("ok", getattr(target, method)(*arguments)))
        except BaseException as error:
            channel.send(_failure(error))


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
    ) -> None:
        context = multiprocessing.get_context("forkserver")
        if preload:
            context.set_forkserver_preload(list(preload))
        self._channel, child_end = context.Pipe()
        saved = {name: os.environ.get(name) for name in WORKER_ENVIRONMENT}
        os.environ.update(WORKER_ENVIRONMENT)
        try:
            self._process = context.Process(target=_serve, args=(factory, argument, child_end), daemon=True)
            self._process.start()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        child_end.close()
        try:
            self._answer(start_timeout_s, "start")
        except BaseException:
            self.close()
            raise

    def _answer(self, timeout_s: float, what: str) -> Any:
        if not self._channel.poll(timeout_s):
            self._process.kill()
            self._process.join()
            raise WorkerTimeout(f"{what} exceeded its {timeout_s:.0f} s limit and the worker was killed")
        try:
            status, payload = self._channel.recv()
        except (EOFError, OSError):
            self._process.join(timeout=10)
            raise WorkerCrashed(f"worker died during {what} (exit code {self._process.exitcode})") from None
        if status == "error":
            raise WorkerError(payload)
        return payload

    def call(self, method: str, *arguments: object, timeout_s: float) -> Any:
        if not self._process.is_alive():
            self._process.join(timeout=10)
            raise WorkerCrashed(f"worker is gone (exit code {self._process.exitcode})")
        try:
            self._channel.send((method, arguments))
        except OSError:
            self._process.join(timeout=10)
            raise WorkerCrashed(f"worker is gone (exit code {self._process.exitcode})") from None
        return self._answer(timeout_s, method)

    def close(self) -> None:
        """Ask the worker to finish; kill it if it does not within a few seconds."""
        if self._process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self._channel.send(None)
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._channel.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
