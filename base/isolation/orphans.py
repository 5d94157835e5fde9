"""Processes a benchmark worker leaves behind, found and stopped.

A worker's own process group is frozen and killed with it, but a process that started a session of its
own escapes both, and once its parent is gone it would belong to init, out of sight, still using the
machine while the next checkpoint is timed. Marked as a child subreaper, the judging process inherits such
orphans instead, so after closing a worker it can tell which processes appeared and were left: they are
killed, and the checkpoint that left them is out.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from dataclasses import dataclass

import psutil

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37


class LeftBehind(RuntimeError):
    """A checkpoint's worker left processes running after it was closed; they have been killed."""


@dataclass(frozen=True)
class Orphan:
    pid: int
    command: str


def _linux() -> bool:
    return os.uname().sysname == "Linux"


def adopt_orphans() -> bool:
    """Make this process the one that inherits its descendants' orphans (Linux); False where it cannot."""
    return _linux() and ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1) == 0


def adopts_orphans() -> bool:
    """Whether this process inherits its descendants' orphans now."""
    flag = ctypes.c_int(0)
    return _linux() and ctypes.CDLL(None).prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag)) == 0 and bool(flag.value)


def release_orphans() -> None:
    """Let orphans go to init again: a process that stays a subreaper after judging would keep every daemon its
    descendants start later as a zombie no one waits for."""
    if _linux():
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 0)


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(" ".join(process.cmdline()).split())[:80]
    except psutil.Error:
        return "?"


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def children() -> set[int]:
    """The live processes whose parent is this one."""
    return {child.pid for child in psutil.Process().children()}


def stop_orphans(known: set[int]) -> list[Orphan]:
    """Kill and reap every child of this process that is not in ``known`` (orphans it inherited); returns those
    that were still running. Those that had already ended (a helper that died with its worker) are only reaped."""
    left = []
    for pid in sorted(children() - known):
        try:
            process = psutil.Process(pid)
            running = process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            running = False
        if running:
            left.append(Orphan(pid, _command(process)))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)  # and whatever it started in its own group
                os.kill(pid, signal.SIGKILL)
        _reap(pid)
    return left
