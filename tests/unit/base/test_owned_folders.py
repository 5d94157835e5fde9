"""Folders named by the process that made them: the next one made of the same kind removes those of a dead process."""

import os
import subprocess
from pathlib import Path

import pytest

from base import removal
from base.isolation import owned_folder


def test_a_dead_owners_folders_go_and_every_other_stays(tmp_path: Path) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()  # a process id that no longer runs
    dead = tmp_path / f"kind-{ended.pid}-abc"
    (dead / "deep" / "er").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kept").write_text("kept")
    dead_link = tmp_path / f"kind-{ended.pid}-link"
    dead_link.symlink_to(outside)
    alive = tmp_path / f"kind-{os.getppid()}-def"
    alive.mkdir()
    unnamed = tmp_path / "kind-abc"  # named by no process: not this helper's to judge
    unnamed.mkdir()
    other_kind = tmp_path / f"other-{ended.pid}-ghi"
    other_kind.mkdir()

    made = owned_folder("kind-", tmp_path)

    assert made.is_dir() and made.parent == tmp_path and made.name.startswith(f"kind-{os.getpid()}-")
    assert not dead.exists() and not dead_link.is_symlink()
    assert (outside / "kept").read_text() == "kept"  # the link is removed, never followed
    assert alive.is_dir() and unnamed.is_dir() and other_kind.is_dir()
    assert owned_folder("kind-", tmp_path) != made  # each call makes a folder of its own


def test_a_place_full_of_dead_owners_folders_is_swept_whole_by_a_few_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever could fill the temporary folder with such names stalls the next start for seconds, not minutes."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    for index in range(2500):
        (tmp_path / f"kind-{ended.pid}-{index}").mkdir()
    calls: list[list[str]] = []
    real_run = subprocess.run

    def run(command: list[str], **options: object) -> subprocess.CompletedProcess:
        calls.append(command)
        return real_run(command, **options)

    monkeypatch.setattr(removal.subprocess, "run", run)
    made = owned_folder("kind-", tmp_path)
    assert list(tmp_path.iterdir()) == [made]
    assert len(calls) == 3  # 2500 folders, a thousand to a process
