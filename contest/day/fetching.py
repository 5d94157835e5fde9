"""Fetching the day's checkpoints at their pinned revisions, with room kept on disk for each.

Whatever a repository holds, fetching it ends as the candidate's outcome, never as the day's error. One
revision committed by several hotkeys is downloaded once: each hotkey's content hash is checked against that
one download, so K commitments of someone else's repository cost one download, not K. A download no hotkey
passed the hash of is deleted as soon as the day's candidates are fetched.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from base.commitment import Commitment
from base.content_hash import bind_to_hotkey, folder_digest
from base.errors import first_line
from base.removal import remove_tree
from base.store import Store, StoreError
from contest.day.candidates import Candidate
from contest.definitions import Contest
from contest.judging.reasons import Out, Reason
from contest.judging.scoring import commit_order

log = logging.getLogger(__name__)
Source = tuple[str, str, str]  # provider, repository, revision
HASH_MISMATCH = Reason(Out.HASH, "content hash does not match the commitment for this hotkey")


@dataclass(frozen=True)
class Downloaded:
    """What one pinned revision gave: its digest and the folder still holding it (None once deleted), or why not."""

    digest: bytes | None = None
    folder: Path | None = None
    failure: Reason | None = None


def download(store: Store, committed: Commitment, destination: Path, contest: Contest) -> Downloaded:
    """The pinned revision on disk with its digest; any failure is the candidate's, and leaves nothing behind."""
    try:
        folder = store.fetch(committed.repository, committed.revision, destination, contest.max_checkpoint_bytes)
        return Downloaded(folder_digest(folder), folder)
    except StoreError as error:
        failure = Reason(Out.DOWNLOAD, f"download failed: {error}")
    except Exception as error:  # whatever a repository's content makes the validator trip on, the day goes on
        log.exception("fetching %s failed in the validator itself", committed.repository)
        failure = Reason(Out.DOWNLOAD, f"download failed: {type(error).__name__}: {first_line(error)}")
    remove_tree(destination)
    return Downloaded(failure=failure)


def fetch(
    candidate: Candidate,
    stores: Mapping[str, Store],
    cache_dir: Path,
    contest: Contest,
    downloaded: dict[Source, Downloaded],
) -> Candidate:
    """Download the pinned revision (once per revision: ``downloaded`` remembers) and check the hotkey's hash.

    A download whose hash fails stays in ``downloaded`` with its folder: a later hotkey of the same revision
    may be its owner.
    """
    committed = candidate.commitment
    if not candidate.alive or committed is None:
        return candidate
    store = stores.get(committed.provider)
    if store is None:
        message = f"provider {committed.provider!r} is not available on this validator"
        return candidate.out(Out.PROVIDER_UNAVAILABLE, message)
    source = (committed.provider, committed.repository, committed.revision)
    known = downloaded.get(source)
    if known is None:
        if not make_room(cache_dir.parent, cache_dir, contest.max_checkpoint_bytes):
            free = shutil.disk_usage(cache_dir.parent).free
            return candidate.out(Out.NO_DISK, f"not fetched: the validator has {free} bytes of disk free")
        known = downloaded[source] = download(store, committed, cache_dir / candidate.hotkey, contest)
    if known.failure is not None:
        return replace(candidate, reason=known.failure)
    if known.digest is None or bind_to_hotkey(known.digest, candidate.hotkey) != committed.content_hash:
        return replace(candidate, reason=HASH_MISMATCH)
    return replace(candidate, folder=known.folder, digest=known.digest)


def make_room(cache_root: Path, current: Path, needed: int) -> bool:
    """Keep ``needed`` bytes free for the next download: clear other days' and half-finished downloads first."""
    cache_root.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(cache_root).free >= needed:
        return True
    for stale in cache_root.iterdir():
        if stale != current:
            remove_tree(stale)
    if current.is_dir():
        for partial in current.glob(".download-*"):
            remove_tree(partial)
    return shutil.disk_usage(cache_root).free >= needed


def fetch_all(
    candidates: Sequence[Candidate], stores: Mapping[str, Store], cache_dir: Path, contest: Contest
) -> list[Candidate]:
    """Each candidate fetched in commit order, returned in the given order; a download no candidate passed the
    hash of is deleted at once."""
    downloaded: dict[Source, Downloaded] = {}
    fetched = {
        candidate.hotkey: fetch(candidate, stores, cache_dir, contest, downloaded)
        for candidate in sorted(candidates, key=commit_order)
    }
    drop_unjudged(list(fetched.values()), downloaded.values())
    return [fetched[candidate.hotkey] for candidate in candidates]


def drop_unjudged(candidates: Sequence[Candidate], downloads: Iterable[Downloaded] = ()) -> None:
    """Delete the downloads no living candidate will be judged on: failed hashes, duplicates."""
    kept = {candidate.folder for candidate in candidates if candidate.alive}
    folders = {candidate.folder for candidate in candidates} | {download.folder for download in downloads}
    for folder in folders - kept:
        if folder is not None:
            remove_tree(folder)
