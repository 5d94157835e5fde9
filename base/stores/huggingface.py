"""The ``Store`` interface on Hugging Face model repositories, through ``huggingface_hub``.

A miner pushes with ``upload_folder`` (creating the repository, private, when missing; the token comes from
``HF_TOKEN`` or the saved ``hf auth login``), commits the commit sha it gets back, then makes the repository
public. A validator only
ever fetches a full commit sha: it reads the revision's file listing first and refuses it over the cap, or
with names, depths or a file count no checkpoint needs (``check_listing``), before a byte is downloaded;
then it ``snapshot_download``s exactly that revision into a staging folder that replaces the destination
only when complete. Given ``allow_patterns``, both the cap and the download cover only the matching files.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import httpx2
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile

from base.errors import first_line
from base.names import is_revision
from base.retry import DEFAULT_RETRY, RetryPolicy
from base.stores.interface import (
    OverSizeCap,
    StoreError,
    UnsafeListing,
    check_listing,
    matching_files,
    pattern_list,
)

T = TypeVar("T")
DEFAULT_BRANCH = "main"
_NOT_UPLOADED = [".git/**", ".cache/**"]  # a local git checkout, huggingface_hub's download state


class HuggingFaceStore:
    provider = "huggingface"

    def __init__(
        self, endpoint: str | None = None, token: str | None = None, retry: RetryPolicy = DEFAULT_RETRY
    ) -> None:
        self._api = HfApi(endpoint=endpoint, token=token)
        self._retry = retry
        self.endpoint = self._api.endpoint

    def _call(self, repository: str, what: str, action: Callable[[], T], revision: str | None = None) -> T:
        """Name the cause of a failure in one line: missing repository, missing revision, or the server."""
        try:
            return self._retrying(action, what)
        except RepositoryNotFoundError:
            raise StoreError(f"repository {repository} does not exist on {self.endpoint} (or is private)") from None
        except RevisionNotFoundError:
            raise StoreError(f"revision {revision} does not exist in {repository}") from None
        except HfHubHTTPError as error:
            head = self._head_status(repository)
            if head in (401, 404):
                raise StoreError(f"repository {repository} does not exist on {self.endpoint} (or is private)") from None
            if revision is not None and head == 200:
                # The repository answers but this revision does not (servers differ in how they say so).
                cause = first_line(error)
                raise StoreError(f"revision {revision} is not available in {repository}: {cause}") from None
            raise StoreError(f"{what} {repository}: {first_line(error)}") from None
        except (httpx2.HTTPError, LocalEntryNotFoundError) as error:
            raise StoreError(f"{what} {repository}: cannot reach {self.endpoint}: {first_line(error)}") from None

    def _retrying(self, action: Callable[[], T], what: str = "reading") -> T:
        """Transport failures (a refused or reset connection) are retried; HTTP answers are not."""
        return self._retry.retrying(httpx2.TransportError, f"{what} {self.endpoint}")(action)

    def _head_status(self, repository: str) -> int | None:
        """The HTTP status of the repository at ``main``, or None when the server cannot be reached."""
        try:
            self._retrying(lambda: self._api.model_info(repository, revision=DEFAULT_BRANCH))
        except HfHubHTTPError as error:
            return error.response.status_code if error.response is not None else None
        except httpx2.HTTPError:
            return None
        return 200

    def push(self, folder: Path, repository: str, message: str) -> str:
        def upload() -> str:
            self._api.create_repo(repository, repo_type="model", private=True, exist_ok=True)
            commit = self._api.upload_folder(
                repo_id=repository,
                folder_path=folder,
                commit_message=message,
                ignore_patterns=_NOT_UPLOADED,
                delete_patterns="*",
            )
            return commit.oid

        return self._call(repository, "pushing to", upload)

    def publish(self, repository: str) -> None:
        self._call(repository, "publishing", lambda: self._api.update_repo_settings(repository, private=False))

    def head_revision(self, repository: str) -> str:
        """The commit ``main`` points at now: a branch is resolved here, at commit time, never at fetch time."""
        info = self._call(repository, "reading", lambda: self._api.model_info(repository, revision=DEFAULT_BRANCH))
        if info.sha is None:
            raise StoreError(f"reading {repository}: the server did not name the commit {DEFAULT_BRANCH} points at")
        return info.sha

    def _file_sizes(self, repository: str, revision: str) -> dict[str, int]:
        info = self._api.model_info(repository, revision=revision, files_metadata=True)
        listed = {sibling.rfilename: sibling.size for sibling in info.siblings or []}
        sizes = {path: size for path, size in listed.items() if size is not None}
        if len(sizes) == len(listed):
            return sizes
        # Mirrors may list files without sizes; the tree listing carries them.
        tree = self._api.list_repo_tree(repository, revision=revision, recursive=True)
        return {entry.path: entry.size for entry in tree if isinstance(entry, RepoFile)}

    def size(self, repository: str, revision: str) -> int:
        return sum(self._selected_sizes(repository, revision, None).values())

    def _selected_sizes(self, repository: str, revision: str, allow_patterns: Sequence[str] | None) -> dict[str, int]:
        """The sizes of the files a fetch would download, read before any download."""
        self._require_revision(revision)
        sizes = self._call(repository, "reading", lambda: self._file_sizes(repository, revision), revision)
        try:
            check_listing(sizes)
        except UnsafeListing as error:
            raise UnsafeListing(f"{repository}@{revision[:12]}: {error}") from None
        return {path: sizes[path] for path in matching_files(sizes, allow_patterns)}

    @staticmethod
    def _require_revision(revision: str) -> None:
        if not is_revision(revision):
            raise StoreError(f"revision must be a full commit sha, got {revision!r}")

    def fetch(
        self,
        repository: str,
        revision: str,
        destination: Path,
        max_bytes: int,
        allow_patterns: Sequence[str] | None = None,
    ) -> Path:
        patterns = pattern_list(allow_patterns)
        sizes = self._selected_sizes(repository, revision, patterns)
        size = sum(sizes.values())
        if size > max_bytes:
            raise OverSizeCap(f"{repository}@{revision[:12]} is {size} bytes, over the cap of {max_bytes}")
        if patterns is not None and not sizes:
            raise StoreError(f"{repository}@{revision[:12]} has no files matching {patterns}")
        destination.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".download-") as scratch:
            staged = Path(scratch) / "checkout"
            self._call(
                repository,
                "downloading",
                lambda: snapshot_download(
                    repository,
                    revision=revision,
                    local_dir=staged,
                    endpoint=self.endpoint,
                    token=self._api.token,
                    allow_patterns=patterns,
                ),
                revision,
            )
            shutil.rmtree(staged / ".cache", ignore_errors=True)
            downloaded = sum(path.stat().st_size for path in staged.rglob("*") if path.is_file())
            if downloaded > max_bytes:
                raise OverSizeCap(f"{repository}@{revision[:12]} downloaded {downloaded} bytes, over the cap")
            shutil.rmtree(destination, ignore_errors=True)
            staged.rename(destination)
        return destination
