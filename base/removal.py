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


PATHS_PER_CALL = 1000  # paths of a few hundred bytes at most: well inside the kernel's 2 MiB for a command line


def remove_tree(*paths: Path) -> None:
    """Delete each of ``paths`` and everything under it, whatever its depth; a missing path is not an error.

    Many paths go to one ``rm`` per thousand: a folder full of left-behind trees costs a few processes, not one each.
    """
    for start in range(0, len(paths), PATHS_PER_CALL):
        chunk = [str(path) for path in paths[start : start + PATHS_PER_CALL]]
        result = subprocess.run(["rm", "-rf", "--", *chunk], stderr=subprocess.PIPE, check=False)
        if result.returncode != 0:
            log.warning("could not delete everything: %s", result.stderr.decode(errors="replace").strip())
