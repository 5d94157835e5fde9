"""The README's walk-through on the embedded chain, run block by block as a newcomer pastes it.

The blocks fenced as ``bash walkthrough`` run in order, in a temporary folder that holds links to the
repository's two entry folders: each command reads as if pasted at the repository root, and every relative
path it names lands in the temporary folder. ``poetry run python`` is this test's interpreter, which is the
one ``poetry run`` uses; the commands measure one block of the image set (``tests.support.image_set``).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.support.image_set import ONE_BLOCK, image_set_environment
from tests.support.noise import library_noise
from tests.support.paths import ROOT

BLOCK = re.compile(r"```bash walkthrough\n(.*?)```", re.DOTALL)
POETRY_RUN = ["poetry", "run", "python"]


def walkthrough(readme: str) -> list[list[str]]:
    """Every command of the marked blocks, in order, continuation lines joined."""
    commands = []
    for block in BLOCK.findall(readme):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(shlex.split(line))
    return commands


def test_the_readme_walkthrough_runs_block_by_block(tmp_path: Path) -> None:
    commands = walkthrough((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(commands) >= 6, "the README lost its walk-through blocks"
    for entry in ("miner", "validator"):
        (tmp_path / entry).symlink_to(ROOT / entry)
    outputs: list[str] = []
    for command in commands:
        assert command[:3] == POETRY_RUN, command
        shown = " ".join(command)
        run = subprocess.run(
            [sys.executable, *command[3:]], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
            env=image_set_environment(blocks=ONE_BLOCK),
        )  # fmt: skip
        output = run.stdout + run.stderr
        assert run.returncode == 0, f"{shown}\n{output[-3000:]}"
        assert library_noise(output) == [], shown
        outputs.append(output)
    assert any("check only: nothing was pushed or committed" in output.splitlines() for output in outputs)
    (submitted,) = [output for output in outputs if "pushed alice/fast-sdxl" in output]
    assert "this exact checkpoint passed at" in submitted and "benchmarking" not in submitted  # checked once
    assert any("alice/fast-sdxl" in output and "tiny-sdxl-cpu" in output for output in outputs)  # commitments
    (path,) = (tmp_path / "data" / "local" / "leaderboards" / "tiny-sdxl-cpu").glob("*.json")
    (row,) = json.loads(path.read_text())["submissions"]
    assert row["repository"] == "alice/fast-sdxl" and row["rank"] == 1 and row["valid"], row
