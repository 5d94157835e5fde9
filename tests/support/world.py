"""A world for a validator day in the tests: ``World`` with the tiny contest and checkpoints copied to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

from contest.cli.world import World
from tests.support.days import CONTEST

NETUID = 7


class Day(World):
    """An embedded chain and local repositories under ``data_dir`` where each miner commits one submission."""

    def __init__(self, data_dir: Path, baseline: Path) -> None:
        super().__init__(data_dir, NETUID, CONTEST.id)
        self.data_dir, self.baseline = data_dir, baseline

    def checkpoint(self, name: str, source: Path | None = None) -> Path:
        """A copy of ``source`` (the baseline) of its own, beside the data folder, to edit and submit."""
        folder = self.data_dir.parent / "work" / name
        shutil.copytree(source or self.baseline, folder)
        (folder / "README.md").write_text(f"{name}\n")
        return folder
