"""One validator per data folder: an exclusive lock (filelock's ``flock``) on ``<data_dir>/validator/validator.lock``.

Two validators on one folder delete each other's downloads, judge half-written files and write the same
leaderboard, so the second one must stop before it touches anything. ``flock`` belongs to the open file
description, so the kernel drops it when the holder dies (even by SIGKILL: a crash never leaves a stale
lock) and a second lock of the file conflicts even inside the same process. filelock neither truncates nor
deletes the file, so the holder writes who it is into it, for the refused validator's message.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_NAME = "validator.lock"
_HOLDER_WAIT_S = 1.0  # how long to wait for a holder that has the lock but has not yet written its pid


class FolderLocked(RuntimeError):
    """Another validator holds the data folder; the message is one line naming it."""


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir) / "validator" / LOCK_NAME


class FolderLock:
    """The held lock: keep the object for as long as the process owns the folder."""

    def __init__(self, path: Path, lock: FileLock) -> None:
        self.path = path
        self._lock = lock

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        """Empty the file first, so that it never names a process that no longer holds it after a clean stop."""
        if not self._lock.is_locked:
            return
        try:
            self.path.write_text("")
        finally:
            self._lock.release(force=True)

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def hold_folder_lock(data_dir: Path) -> FolderLock:
    """Lock ``data_dir`` for this process or raise ``FolderLocked``; the file then names this process."""
    path = lock_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FolderLocked(_held_message(path)) from None
    record = {
        "pid": os.getpid(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
    }
    path.write_text(json.dumps(record) + "\n")  # another open of the file: the lock is on its inode, not this one
    return FolderLock(path, lock)


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
