"""Model repositories as both roles see them: push a folder, fetch an exact revision."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
_REVISION = re.compile(r"[0-9a-f]{40}")


def is_repository_name(name: str) -> bool:
    """``name`` or ``owner/name``, as Hugging Face spells them; never a path that climbs out."""
    return bool(_REPOSITORY.fullmatch(name)) and ".." not in name


def is_revision(revision: str) -> bool:
    """A full git commit sha: the only kind of revision that pins content."""
    return bool(_REVISION.fullmatch(revision))


class StoreError(RuntimeError):
    """A repository operation failed; the message names the repository and the cause."""


class OverSizeCap(StoreError):
    """The revision is larger than the contest allows; nothing was downloaded."""


class Store(Protocol):
    provider: str

    def push(self, folder: Path, repository: str, message: str) -> str:
        """Make the repository's content equal to ``folder``; returns the new revision (commit sha)."""
        ...

    def head_revision(self, repository: str) -> str:
        """The commit sha the repository's default branch points at now."""
        ...

    def size(self, repository: str, revision: str) -> int: ...

    def fetch(self, repository: str, revision: str, destination: Path, max_bytes: int) -> Path:
        """Materialise exactly ``revision`` at ``destination``, refusing it before copying if over the cap."""
        ...
