"""Local git repositories as a model store: Hugging Face repositories are git repositories too.

Each repository is a bare repository under the store's root; a revision is a commit sha. A fetch with
``allow_patterns`` counts and extracts only the matching files, exactly as the Hugging Face store does.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from base.names import is_repository_name, is_revision
from base.stores.interface import (
    OverSizeCap,
    StoreError,
    UnsafeListing,
    check_listing,
    matching_files,
    pattern_list,
)

_IDENTITY = ("-c", "user.name=edge-contest", "-c", "user.email=edge-contest@localhost")


class GitStore:
    provider = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _git_dir(self, repository: str) -> Path:
        if not is_repository_name(repository):
            raise StoreError(f"bad repository name {repository!r}")
        return self.root / f"{repository}.git"

    def _git(self, git_dir: Path, *args: str, work_tree: Path | None = None, stdout=subprocess.PIPE) -> bytes:
        """Run git; its output stays bytes, since a repository's file names need not be text."""
        command = ["git", *_IDENTITY, f"--git-dir={git_dir}"]
        if work_tree is not None:
            command.append(f"--work-tree={work_tree}")
        result = subprocess.run([*command, *args], cwd=work_tree, stdout=stdout, stderr=subprocess.PIPE, check=False)
        if result.returncode != 0:
            cause = result.stderr.decode(errors="replace").strip()
            raise StoreError(f"git {args[0]} failed for {git_dir.name}: {cause}")
        return result.stdout or b""

    def _existing(self, repository: str) -> Path:
        git_dir = self._git_dir(repository)
        if not git_dir.is_dir():
            raise StoreError(f"repository {repository!r} does not exist in {self.root}")
        return git_dir

    def publish(self, repository: str) -> None:
        """Local repositories have no visibility: anyone with the folder reads them."""
        self._existing(repository)

    def push(self, folder: Path, repository: str, message: str) -> str:
        git_dir = self._git_dir(repository)
        if not git_dir.is_dir():
            git_dir.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(git_dir)], check=True)
        self._git(git_dir, "add", "--all", "--force", ".", work_tree=folder)
        self._git(git_dir, "commit", "--quiet", "--allow-empty", "-m", message, work_tree=folder)
        return self.head_revision(repository)

    def head_revision(self, repository: str) -> str:
        return self._git(self._existing(repository), "rev-parse", "HEAD").decode().strip()

    def _commit(self, repository: str, revision: str) -> Path:
        git_dir = self._existing(repository)
        if not is_revision(revision):
            raise StoreError(f"revision must be a full commit sha, got {revision!r}")
        try:
            self._git(git_dir, "cat-file", "-e", f"{revision}^{{commit}}")
        except StoreError:
            raise StoreError(f"revision {revision} does not exist in {repository!r}") from None
        return git_dir

    def _file_sizes(self, repository: str, revision: str) -> dict[str, int]:
        """Each file's size at ``revision``, refused if the listing is unsafe to extract (``check_listing``).

        NUL-separated so odd names are never quoted or split.
        """
        listing = self._git(self._commit(repository, revision), "ls-tree", "-r", "-l", "-z", revision)
        entries = [entry.split(b"\t", 1) for entry in filter(None, listing.split(b"\0"))]
        try:
            check_listing(path for _, path in entries)
        except UnsafeListing as error:
            raise UnsafeListing(f"{repository}@{revision[:12]}: {error}") from None
        sizes: dict[str, int] = {}
        for meta, path in entries:
            size = meta.split()[3]
            sizes[path.decode()] = 0 if size == b"-" else int(size)  # "-": a submodule, which has no content here
        return sizes

    def size(self, repository: str, revision: str) -> int:
        return sum(self._file_sizes(repository, revision).values())

    def fetch(
        self,
        repository: str,
        revision: str,
        destination: Path,
        max_bytes: int,
        allow_patterns: Sequence[str] | None = None,
    ) -> Path:
        git_dir = self._commit(repository, revision)
        patterns = pattern_list(allow_patterns)
        sizes = self._file_sizes(repository, revision)
        selected = set(matching_files(sizes, patterns))
        size = sum(sizes[path] for path in selected)
        if size > max_bytes:
            raise OverSizeCap(f"{repository}@{revision[:12]} is {size} bytes, over the cap of {max_bytes}")
        if patterns is not None and not selected:
            raise StoreError(f"{repository}@{revision[:12]} has no files matching {patterns}")
        destination.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=destination.parent) as scratch:
            archive = Path(scratch) / "revision.tar"
            with archive.open("wb") as handle:
                self._git(git_dir, "archive", "--format=tar", revision, stdout=handle)
            staged = Path(scratch) / "checkout"
            try:
                _extract(archive, staged, None if patterns is None else selected)
            except tarfile.FilterError as error:
                raise StoreError(f"{repository}@{revision[:12]}: {error}") from None
            shutil.rmtree(destination, ignore_errors=True)
            staged.rename(destination)
        return destination


def _extract(archive: Path, staged: Path, selected: set[str] | None) -> None:
    """Unpack the archive (only the ``selected`` files when given), refusing members that would escape."""
    staged.mkdir()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        if selected is not None:
            members = [member for member in members if member.name in selected]
        tar.extractall(staged, members=members, filter="data")
