"""Fetching the day's checkpoints at their pinned revisions, with room kept on disk for each."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from base.content_hash import bind_to_hotkey, folder_digest
from base.store import Store, StoreError
from contest.day.candidates import Candidate
from contest.definitions import Contest
from contest.judging.reasons import Out, Reason


def fetch(candidate: Candidate, stores: Mapping[str, Store], cache_dir: Path, contest: Contest) -> Candidate:
    """Download the pinned revision and check its content hash against the hotkey's commitment."""
    committed = candidate.commitment
    if not candidate.alive or committed is None:
        return candidate
    store = stores.get(committed.provider)
    if store is None:
        message = f"provider {committed.provider!r} is not available on this validator"
        return candidate.out(Out.PROVIDER_UNAVAILABLE, message)
    destination = cache_dir / candidate.hotkey
    try:
        folder = store.fetch(committed.repository, committed.revision, destination, contest.max_checkpoint_bytes)
    except StoreError as error:
        return candidate.out(Out.DOWNLOAD, f"download failed: {error}")
    digest = folder_digest(folder)
    if bind_to_hotkey(digest, candidate.hotkey) != committed.content_hash:
        reason = Reason(Out.HASH, "content hash does not match the commitment for this hotkey")
        return replace(candidate, folder=folder, reason=reason)
    return replace(candidate, folder=folder, digest=digest)


def make_room(cache_root: Path, current: Path, needed: int) -> bool:
    """Keep ``needed`` bytes free for the next download: clear other days' and half-finished downloads first."""
    cache_root.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(cache_root).free >= needed:
        return True
    for stale in cache_root.iterdir():
        if stale != current:
            shutil.rmtree(stale, ignore_errors=True)
    if current.is_dir():
        for partial in current.glob(".download-*"):
            shutil.rmtree(partial, ignore_errors=True)
    return shutil.disk_usage(cache_root).free >= needed


def fetch_all(
    candidates: Sequence[Candidate], stores: Mapping[str, Store], cache_dir: Path, contest: Contest
) -> list[Candidate]:
    """Each candidate fetched in turn, or out when the disk cannot hold one more checkpoint."""
    fetched = []
    for candidate in candidates:
        if not make_room(cache_dir.parent, cache_dir, contest.max_checkpoint_bytes):
            free = shutil.disk_usage(cache_dir.parent).free
            candidate = candidate.out(Out.NO_DISK, f"not fetched: the validator has {free} bytes of disk free")
        fetched.append(fetch(candidate, stores, cache_dir, contest))
    return fetched
