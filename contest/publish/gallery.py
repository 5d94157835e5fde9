"""Thumbnails of what the baseline and each submission drew on the first of the day's inputs.

The validator keeps them while it judges, next to the day's leaderboard file, so the leaderboard page
can put each submission's pictures beside the baseline's for the same prompts. They are written as
each submission is measured, so a day resumed after a restart still has the pictures of what it judged
before; the leaderboard lists every file with its sha256, which puts the pictures under its signature.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from contest.publish.leaderboard import Thumbnail

THUMBNAIL_INPUTS = 4
MAX_SIDE = 256  # pixels; smaller images are kept at their size
SUFFIX = ".webp"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9]{1,64}")  # ss58 hotkeys are; anything else gets a hashed folder name


def _folder_name(key: str) -> str:
    return key if _PLAIN_NAME.fullmatch(key) else hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Gallery:
    """The day's thumbnails under ``root / name``; listed relative to ``root`` (the leaderboard's folder)."""

    root: Path
    name: str
    count: int = THUMBNAIL_INPUTS

    def _folder(self, key: str | None) -> Path:
        day = self.root / self.name
        return day / "baseline" if key is None else day / "miners" / _folder_name(key)

    def keep(self, key: str | None, images: Sequence[np.ndarray]) -> None:
        """Save the first images a checkpoint drew (``key`` None: the baseline), replacing older ones."""
        folder = self._folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(images[: self.count]):
            picture = Image.fromarray(image)
            picture.thumbnail((MAX_SIDE, MAX_SIDE))
            with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as handle:
                picture.save(handle, format="WEBP", quality=85, method=4)
            os.replace(handle.name, folder / f"{index}{SUFFIX}")

    def thumbnails(self, key: str | None) -> list[Thumbnail]:
        """What ``keep`` saved for ``key``, in input order; empty when it drew nothing."""
        folder = self._folder(key)
        files = [folder / f"{index}{SUFFIX}" for index in range(self.count)]
        return [
            Thumbnail(file=path.relative_to(self.root).as_posix(), sha256=_sha256(path))
            for path in files
            if path.is_file()
        ]
