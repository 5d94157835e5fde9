"""Path flags, the same folder wherever they are used."""

from __future__ import annotations

from pathlib import Path


def absolute_path(text: str) -> Path:
    """A path flag as given, relative to the working directory or absolute, made absolute at once.

    Tools the commands call (git, a worker process) run in other directories, where a relative path would
    name another folder.
    """
    return Path(text).expanduser().resolve()
