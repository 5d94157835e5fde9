"""Deleting folders whose shape a miner chose.

``shutil.rmtree`` recurses once per folder level, so a tree deeper than Python's recursion limit raises
``RecursionError`` (which ``ignore_errors`` does not cover) and one deeper than ``PATH_MAX`` cannot be named at
all. GNU ``rm`` walks a tree of any depth relative to open folders, so it is the one used here.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


def remove_tree(path: Path) -> None:
    """Delete ``path`` and everything under it, whatever its depth; a missing path is not an error."""
    result = subprocess.run(["rm", "-rf", "--", str(path)], stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        log.warning("could not delete %s: %s", path, result.stderr.decode(errors="replace").strip())
