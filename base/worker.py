"""Run one job in a fresh worker process that the caller can time out and kill.

A fresh process per checkpoint keeps submissions apart (a crash, a leak or a hang stays in the worker)
and makes process-level measurements such as peak RSS belong to that checkpoint alone.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TypeVar

A = TypeVar("A")
R = TypeVar("R")

# Read at import time by huggingface_hub/transformers, so they must be in the environment the worker
# starts with: a worker never reaches the network.
OFFLINE_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


class WorkerError(RuntimeError):
    """The job raised inside the worker; the message carries the worker's traceback."""


class WorkerTimeout(WorkerError):
    """The job ran past its limit and the worker was killed."""


class WorkerCrashed(WorkerError):
    """The worker died without answering (a signal, the OOM killer, a hard exit)."""


def _serve(job: Callable[[A], R], argument: A, answer: Connection) -> None:
    try:
        result = job(argument)
    except BaseException as error:  # everything goes back to the parent as text
        answer.send(("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))
    else:
        answer.send(("ok", result))
    finally:
        answer.close()


def run_in_worker(job: Callable[[A], R], argument: A, timeout_s: float) -> R:
    """``job(argument)`` in a spawned process; ``job`` must be a module-level function."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    saved = {name: os.environ.get(name) for name in OFFLINE_ENVIRONMENT}
    os.environ.update(OFFLINE_ENVIRONMENT)
    try:
        process = context.Process(target=_serve, args=(job, argument, sender), daemon=True)
        process.start()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            process.kill()
            raise WorkerTimeout(f"worker exceeded its {timeout_s:.0f} s limit and was killed")
        try:
            status, payload = receiver.recv()
        except EOFError:
            process.join()
            raise WorkerCrashed(f"worker died without answering (exit code {process.exitcode})") from None
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()
        receiver.close()
    if status == "error":
        raise WorkerError(payload)
    return payload
