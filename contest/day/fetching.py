"""The day's checkpoints, fetched one at a time as judging reaches each, and deleted once it is judged.

Whatever a repository holds, fetching it ends as the candidate's outcome, never as the day's error. So at
most one submission's checkpoint is on disk at any time (beside the baseline), and a miner who commits
early gets no disk the others lose. The next checkpoint is not fetched while one is measured: a download
and its hashing would load the machine unevenly across a submission's pairs.

One revision committed by several hotkeys is downloaded once: its digest is remembered, and each later
hotkey's content hash is checked against it before anything is downloaded again: K commitments of
someone else's repository cost one download, or two when they come before its owner's (the files having
been deleted in between). Candidates are judged in commit order, so a copy of
files committed earlier is known as a duplicate the moment it is fetched (``Originals``).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from base.chain import Commitment
from base.errors import first_line
from base.removal import remove_tree
from base.stores import Store, StoreError, bind_to_hotkey, folder_digest
from contest.day.candidates import Candidate
from contest.day.copies import Originals, duplicate_reason
from contest.definitions import Contest
from contest.judging.reasons import Reason, ReasonKind
from contest.judging.scoring import commit_order

log = logging.getLogger(__name__)
Source = tuple[str, str, str]  # provider, repository, revision
HASH_MISMATCH = Reason(ReasonKind.HASH, "content hash does not match the commitment for this hotkey")


def download(store: Store, committed: Commitment, destination: Path, contest: Contest) -> Path | Reason:
    """The pinned revision on disk; any failure is the candidate's, and leaves nothing behind."""
    try:
        return store.fetch(committed.repository, committed.revision, destination, contest.max_checkpoint_bytes)
    except StoreError as error:
        failure = Reason(ReasonKind.DOWNLOAD, f"download failed: {error}")
    except Exception as error:  # whatever a repository's content makes the validator trip on, the day goes on
        log.exception("fetching %s failed in the validator itself", committed.repository)
        failure = Reason(ReasonKind.DOWNLOAD, f"download failed: {type(error).__name__}: {first_line(error)}")
    remove_tree(destination)
    return failure


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


class DayCheckpoints:
    """The day's living candidates as judging's ``Checkpoints``: in commit order, each fetched when it is reached.

    ``judged_digests`` are the digests of checkpoints judged before a restart: copies of them are still
    duplicates, though their files are gone.
    """

    def __init__(
        self,
        candidates: Sequence[Candidate],
        stores: Mapping[str, Store],
        cache_dir: Path,
        contest: Contest,
        judged_digests: Mapping[str, bytes] | None = None,
        progress: Callable[[str], None] = log.info,
    ) -> None:
        self.stores, self.cache_dir, self.contest, self.progress = stores, cache_dir, contest, progress
        ordered = sorted((c for c in candidates if c.alive and c.commitment is not None), key=commit_order)
        self.candidates = {candidate.hotkey: candidate for candidate in ordered}
        self.originals = Originals()
        for candidate in ordered:
            if (digest := (judged_digests or {}).get(candidate.hotkey)) is not None:
                self.originals.original_of(candidate, digest)
        self.sources: dict[Source, bytes | Reason] = {}  # each revision's digest once fetched, or why it failed
        self.digests: dict[str, bytes] = {}  # hotkey -> the digest of the files it owns
        self.folders: dict[str, Path] = {}

    def order(self) -> list[str]:
        return list(self.candidates)

    def checkout(self, hotkey: str) -> Path | Reason:
        """The candidate's checkpoint on disk, or why it is out: download, hash, duplicate, disk."""
        candidate = self.candidates[hotkey]
        committed = candidate.commitment
        assert committed is not None
        store = self.stores.get(committed.provider)
        if store is None:
            message = f"provider {committed.provider!r} is not available on this validator"
            return Reason(ReasonKind.PROVIDER_UNAVAILABLE, message)
        source = (committed.provider, committed.repository, committed.revision)
        known = self.sources.get(source)
        if isinstance(known, Reason):
            return known
        if known is not None and (refused := self._claim(candidate, known)) is not None:
            return refused  # the revision's files are known: no second download to learn what they are
        destination = self.cache_dir / hotkey
        if not make_room(self.cache_dir.parent, self.cache_dir, self.contest.max_checkpoint_bytes):
            free = shutil.disk_usage(self.cache_dir.parent).free
            return Reason(ReasonKind.NO_DISK, f"not fetched: the validator has {free} bytes of disk free")
        self.progress(f"fetching {committed.repository} at {committed.revision[:12]}")
        fetched = download(store, committed, destination, self.contest)
        if isinstance(fetched, Reason):
            self.sources[source] = fetched
            return fetched
        digest = self.sources[source] = folder_digest(fetched)
        if (refused := self._claim(candidate, digest)) is not None:
            remove_tree(fetched)
            return refused
        self.folders[hotkey] = fetched
        return fetched

    def _claim(self, candidate: Candidate, digest: bytes) -> Reason | None:
        """Why ``candidate`` does not own files of ``digest``: its hash is not theirs, or an earlier commit has them."""
        assert candidate.commitment is not None
        if bind_to_hotkey(digest, candidate.hotkey) != candidate.commitment.content_hash:
            return HASH_MISMATCH
        self.digests[candidate.hotkey] = digest
        original = self.originals.original_of(candidate, digest)
        return None if original is None else duplicate_reason(original)

    def release(self, hotkey: str) -> None:
        """The candidate is judged: its files go."""
        if (folder := self.folders.pop(hotkey, None)) is not None:
            remove_tree(folder)
