"""Folders carried to a judging host on another machine, through Ray's object store.

The validator fetches, hashes and checks every checkpoint itself, once for the whole day (one download, one
hash, one duplicate check, whatever the number of hosts); a host on another machine gets the checked files
byte for byte and writes them under a scratch folder of its own. Symbolic links travel as links, so a host
anywhere refuses what a host beside the validator refuses. The baseline and the image encoder travel the same
way, once per host and day.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import ray


@dataclass(frozen=True)
class Entry:
    """One thing in a folder: a folder, a file (its bytes in the object store) or a link (its target)."""

    path: str  # relative, POSIX
    kind: Literal["folder", "file", "link"]
    content: Any = None  # the file's object reference, or the link's target


Shipment = tuple[Entry, ...]


def ship(folder: Path) -> Shipment:
    """Everything under ``folder`` (links not followed), each file's bytes put in the object store."""
    entries = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            entries.append(Entry(relative, "link", os.readlink(path)))
        elif path.is_dir():
            entries.append(Entry(relative, "folder"))
        elif path.is_file():
            entries.append(Entry(relative, "file", ray.put(path.read_bytes())))
    return tuple(entries)


def unpack(shipment: Shipment, destination: Path) -> Path:
    """The shipment written out as the folder ``destination`` (which must not exist yet)."""
    destination.mkdir(parents=True)
    for entry in shipment:
        relative = PurePosixPath(entry.path)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"a shipped path must lie inside its folder: {entry.path!r}")
        target = destination.joinpath(*relative.parts)
        if entry.kind == "folder":
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind == "file":
            target.write_bytes(ray.get(entry.content))
        else:
            os.symlink(entry.content, target)
    return destination
