"""One validator per data folder: an exclusive ``flock`` on ``<data_dir>/validator/validator.lock``.

Two validators on one folder delete each other's downloads, judge half-written files and write the same
leaderboard, so the second one must stop before it touches anything. ``flock`` belongs to the open file
description, so the kernel drops it when the holder dies (even by SIGKILL: a crash never leaves a stale
lock) and a second open of the file conflicts even inside the same process. The file is never deleted:
unlinking a lock file lets a later opener lock a different inode than the holder's.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

LOCK_NAME = "validator.lock"
_HOLDER_WAIT_S = 1.0  # how long to wait for a holder that has the lock but has not yet written its pid


class FolderLocked(RuntimeError):
    """Another validator holds the data folder; the message is one line naming it."""


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir) / "validator" / LOCK_NAME


class FolderLock:
    """The held lock: keep the object (its file stays open) for as long as the process owns the folder."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Empty the file first, so that it never names a process that no longer holds it after a clean stop."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def hold_folder_lock(data_dir: Path) -> FolderLock:
    """Lock ``data_dir`` for this process or raise ``FolderLocked``; the file then names this process."""
    path = lock_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)  # no O_TRUNC: the holder's record stays
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderLocked(_held_message(path)) from None
    except BaseException:
        os.close(fd)
        raise
    _write_holder(fd)
    return FolderLock(path, fd)


def _write_holder(fd: int) -> None:
    """Who holds it, for the refused validator's message and for a person reading the file."""
    record = {
        "pid": os.getpid(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)


def _read_holder(path: Path) -> dict:
    """The holder's record; it may be empty for a moment between its ``flock`` and its write."""
    deadline = time.monotonic() + _HOLDER_WAIT_S
    while True:
        try:
            record = json.loads(path.read_text())
            if isinstance(record, dict) and "pid" in record:
                return record
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return {}
        time.sleep(0.05)


def _held_message(path: Path) -> str:
    record = _read_holder(path)
    who = f"pid {record.get('pid', 'unknown')}"
    if record.get("started"):
        who += f", started {record['started']}"
    message = f"another validator ({who}) holds {path}: one validator per data folder"
    return " ".join(message.splitlines())  # one line whatever the file or the path held
