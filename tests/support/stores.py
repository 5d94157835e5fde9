"""The local store, watched: how often each repository is downloaded, and what else was on disk each time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from base.isolation import SCRATCH_PREFIX
from base.stores import GitStore


class CountingStore(GitStore):
    """Counts the downloads of each repository and, as each begins, the day's other checkpoints on disk."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.downloads: Counter[str] = Counter()
        self.on_disk_at_start: list[list[str]] = []

    def fetch(
        self,
        repository: str,
        revision: str,
        destination: Path,
        max_bytes: int,
        allow_patterns: Sequence[str] | None = None,
    ) -> Path:
        self.downloads[repository] += 1
        others = destination.parent.iterdir() if destination.parent.is_dir() else iter(())
        self.on_disk_at_start.append(sorted(o.name for o in others if not o.name.startswith(SCRATCH_PREFIX)))
        return super().fetch(repository, revision, destination, max_bytes, allow_patterns)
