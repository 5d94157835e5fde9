"""Temporary folders named by the process that made them.

A process killed before its cleanup (SIGKILL, the kernel's OOM killer, a lost machine) leaves its folders behind,
and a worker's or a Ray host's may hold gigabytes (a shipped SDXL, a runtime's engine cache). Named by their
owner's process id, they are removed by the next process that makes one of the same kind in the same place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psutil

from base.removal import remove_tree


def owned_folder(prefix: str, parent: Path | None = None) -> Path:
    """A new folder ``<prefix><pid>-<random>`` in ``parent`` (the system's temporary folder by default), made once
    the folders of that kind in ``parent`` whose process is gone are removed."""
    where = Path(tempfile.gettempdir()) if parent is None else parent
    remove_tree(*(left for left in where.glob(f"{prefix}*") if _owner_is_gone(left.name.removeprefix(prefix))))
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=where))


def _owner_is_gone(rest: str) -> bool:
    """Whether ``<pid>-<random>`` names a process that no longer runs; any other name is not this module's."""
    owner = rest.split("-", 1)[0]
    return owner.isdigit() and not psutil.pid_exists(int(owner))
