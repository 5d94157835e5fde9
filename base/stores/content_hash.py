"""Content hashes of checkpoint folders, bound to the hotkey that submits them.

The folder hash covers every file's path and bytes (sha256 over the sorted per-file digests), so the
same checkpoint re-uploaded anywhere hashes the same; binding it to the hotkey makes a commitment copied
from another miner fail verification.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

# Git metadata (a Hugging Face repository always carries its own .gitattributes) and huggingface_hub's
# download state: none of it is part of what a checkpoint draws.
IGNORED_TOP_LEVEL = frozenset({".git", ".gitattributes", ".cache"})
CHUNK = 1 << 20


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def folder_digest(folder: Path, include: Callable[[PurePosixPath], bool] | None = None) -> bytes:
    """sha256 over ``relative/path:sha256`` lines of every file (that ``include`` keeps), sorted by path."""
    lines = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] in IGNORED_TOP_LEVEL or not path.is_file():
            continue
        if include is not None and not include(PurePosixPath(relative.as_posix())):
            continue
        lines.append(f"{relative.as_posix()}:{_file_digest(path)}\n")
    return hashlib.sha256("".join(lines).encode()).digest()


def bind_to_hotkey(digest: bytes, hotkey: str) -> bytes:
    return hashlib.sha256(digest + hotkey.encode()).digest()


def submission_hash(folder: Path, hotkey: str) -> bytes:
    return bind_to_hotkey(folder_digest(folder), hotkey)
