"""Model repositories as both roles see them: push a folder, fetch an exact revision."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from huggingface_hub.utils import filter_repo_objects

# What a checkpoint's listing may hold before a byte of it is written to disk: an SDXL pipeline has a few dozen
# files at most three folders deep. Deeper or stranger trees break the tools that walk them (recursion, names
# that are not text), so they are refused from the listing alone.
MAX_FILES = 1_000
MAX_DEPTH = 16
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1_024


def matching_files(paths: Iterable[str], allow_patterns: Sequence[str] | None) -> list[str]:
    """The paths a fetch with ``allow_patterns`` keeps (all when None).

    Matched exactly as ``huggingface_hub`` matches them (``fnmatchcase``; ``*`` crosses ``/``), so every store
    counts its size cap over the very files it then copies.
    """
    patterns = pattern_list(allow_patterns)
    if patterns is None:
        return list(paths)
    return list(filter_repo_objects(paths, allow_patterns=patterns))


def pattern_list(allow_patterns: Sequence[str] | None) -> list[str] | None:
    """A list of patterns: a lone string is one pattern, never a sequence of one-character ones."""
    if allow_patterns is None:
        return None
    return [allow_patterns] if isinstance(allow_patterns, str) else list(allow_patterns)


class StoreError(RuntimeError):
    """A repository operation failed; the message names the repository and the cause."""


class UnsafeListing(StoreError):
    """The revision's file listing is one no checkpoint needs; nothing was downloaded."""


def check_listing(paths: Iterable[str | bytes]) -> None:
    """Refuse a listing whose names, depth or file count no checkpoint needs, before anything is extracted."""
    for count, raw in enumerate(paths, start=1):
        if count > MAX_FILES:
            raise UnsafeListing(f"more than {MAX_FILES} files")
        path = _text(raw)
        shown = path[:80] + ("..." if len(path) > 80 else "")
        if (
            not path.isprintable()
        ):  # C0 and C1 controls, bidirectional overrides, line separators: what a terminal or a page acts on
            raise UnsafeListing(f"a file name holds control characters or invisible formatting: {shown!r}")
        parts = path.split("/")
        if len(parts) > MAX_DEPTH:
            raise UnsafeListing(f"a file is nested {len(parts)} folders deep, over {MAX_DEPTH}: {shown!r}")
        if len(path.encode()) > MAX_PATH_BYTES:
            raise UnsafeListing(f"a path is longer than {MAX_PATH_BYTES} bytes: {shown!r}")
        for part in parts:
            if part in ("", ".", "..") or len(part.encode()) > MAX_NAME_BYTES:
                raise UnsafeListing(f"a path has an empty, relative or over-long part: {shown!r}")


def _text(raw: str | bytes) -> str:
    """A listed path as text; a name that is not UTF-8 cannot be hashed, compared or published."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        text.encode()  # a str may still hold lone surrogates
    except UnicodeError:
        shown = raw[:80] if isinstance(raw, bytes) else raw[:80].encode(errors="backslashreplace")
        raise UnsafeListing(f"a file name is not UTF-8: {shown!r}") from None
    return text


class OverSizeCap(StoreError):
    """The revision is larger than the contest allows; nothing was downloaded."""


class Store(Protocol):
    provider: str

    def push(self, folder: Path, repository: str, message: str) -> str:
        """Make the repository's content equal to ``folder``; returns the new revision (commit sha).

        A repository it creates stays private until ``publish``: files anyone could read before the commitment
        lands, anyone could commit under their own hotkey in an earlier block, and own.
        """
        ...

    def publish(self, repository: str) -> None:
        """Let validators read the repository: a miner calls it once its commitment is on chain (see ``push``)."""
        ...

    def head_revision(self, repository: str) -> str:
        """The commit sha the repository's default branch points at now."""
        ...

    def size(self, repository: str, revision: str) -> int: ...

    def fetch(
        self,
        repository: str,
        revision: str,
        destination: Path,
        max_bytes: int,
        allow_patterns: Sequence[str] | None = None,
    ) -> Path:
        """Materialise exactly ``revision`` at ``destination``, refusing it before copying if over the cap.

        With ``allow_patterns`` only the matching files (see ``matching_files``) are counted and copied: a
        baseline never downloads the pickles its repository may also hold.
        """
        ...
