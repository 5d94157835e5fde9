"""The day's checkpoints fetched one at a time: downloads per revision, duplicates in commit order, disk."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from base.chain import Commitment
from base.stores import folder_digest, submission_hash
from contest.day.candidates import Candidate
from contest.day.fetching import HASH_MISMATCH, DayCheckpoints
from contest.definitions import get_contest
from contest.judging.reasons import Reason, ReasonKind
from tests.support.stores import CountingStore

CONTEST = get_contest("tiny-sdxl-cpu")


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(tmp_path / "repositories")


def pushed(store: CountingStore, tmp_path: Path, repository: str, text: str) -> tuple[str, Path]:
    folder = tmp_path / "work" / repository.replace("/", "-")
    folder.mkdir(parents=True)
    (folder / "model.txt").write_text(text)
    return store.push(folder, repository, "submit"), folder


def candidate(hotkey: str, block: int, repository: str, revision: str, content_hash: bytes) -> Candidate:
    committed = Commitment(CONTEST.id, "local", repository, revision, content_hash)
    return Candidate(hotkey, uid=block, commit_block=block, commitment=committed)


def honest(hotkey: str, block: int, repository: str, revision: str, folder: Path) -> Candidate:
    return candidate(hotkey, block, repository, revision, submission_hash(folder, hotkey))


def checked_out(checkpoints: DayCheckpoints) -> dict[str, Path | Reason]:
    """Each key checked out and released in judging's order, as judging does."""
    got = {}
    for key in checkpoints.order():
        got[key] = checkpoints.checkout(key)
        checkpoints.release(key)
    return got


def test_wrong_hashes_before_the_owner_cost_one_download_and_after_it_none(store, tmp_path: Path) -> None:
    revision, folder = pushed(store, tmp_path, "owner/model", "weights")
    early = [candidate(f"early-{i}", 10, "owner/model", revision, bytes(32)) for i in range(3)]
    late = [candidate(f"late-{i}", 12, "owner/model", revision, bytes(32)) for i in range(3)]
    owner = honest("owner", 11, "owner/model", revision, folder)
    checkpoints = DayCheckpoints([*late, owner, *early], {"local": store}, tmp_path / "day", CONTEST)
    assert checkpoints.order() == [c.hotkey for c in early] + ["owner"] + [c.hotkey for c in late]
    got = checked_out(checkpoints)
    assert store.downloads["owner/model"] == 2  # once to learn the files are not theirs, once for the owner
    assert all(got[c.hotkey] == HASH_MISMATCH for c in early + late)
    assert isinstance(got["owner"], Path) and checkpoints.digests == {"owner": folder_digest(folder)}


def test_a_copy_under_its_own_hash_is_a_duplicate_without_a_second_download(store, tmp_path: Path) -> None:
    revision, folder = pushed(store, tmp_path, "owner/model", "weights")
    copy_revision, copy_folder = pushed(store, tmp_path, "copier/model", "weights")  # the same files, elsewhere
    candidates = [
        honest("owner", 10, "owner/model", revision, folder),
        honest("copier", 11, "owner/model", revision, folder),  # the owner's revision, hashed for the copier
        honest("re-upload", 12, "copier/model", copy_revision, copy_folder),
    ]
    got = checked_out(DayCheckpoints(candidates, {"local": store}, tmp_path / "day", CONTEST))
    assert got["copier"] == Reason(ReasonKind.DUPLICATE, "duplicate of owner (committed at block 10)")
    assert got["re-upload"] == Reason(ReasonKind.DUPLICATE, "duplicate of owner (committed at block 10)")
    assert store.downloads == Counter({"owner/model": 1, "copier/model": 1})


def test_at_most_one_checkpoint_is_on_disk_and_none_after_release(store, tmp_path: Path) -> None:
    candidates = []
    for index in range(4):
        revision, folder = pushed(store, tmp_path, f"miner-{index}/model", f"weights {index}")
        candidates.append(honest(f"miner-{index}", 10 + index, f"miner-{index}/model", revision, folder))
    day = tmp_path / "day"
    got = checked_out(DayCheckpoints(candidates, {"local": store}, day, CONTEST))
    assert all(isinstance(folder, Path) for folder in got.values())
    assert store.on_disk_at_start == [[], [], [], []]  # each download began with nothing else of the day on disk
    assert list(day.iterdir()) == []


def test_a_failed_download_is_every_committer_of_that_revision_out_at_the_cost_of_one(store, tmp_path: Path) -> None:
    ghost = "ab" * 20
    candidates = [candidate(f"miner-{i}", 10 + i, "ghost/model", ghost, bytes(32)) for i in range(3)]
    got = checked_out(DayCheckpoints(candidates, {"local": store}, tmp_path / "day", CONTEST))
    assert {reason.kind for reason in got.values()} == {ReasonKind.DOWNLOAD}  # type: ignore[union-attr]
    assert store.downloads["ghost/model"] == 1


def test_files_judged_before_a_restart_still_make_a_later_copy_a_duplicate(store, tmp_path: Path) -> None:
    revision, folder = pushed(store, tmp_path, "owner/model", "weights")
    copy_revision, copy_folder = pushed(store, tmp_path, "copier/model", "weights")
    owner = honest("owner", 10, "owner/model", revision, folder)
    copier = honest("copier", 11, "copier/model", copy_revision, copy_folder)
    resumed = DayCheckpoints(
        [owner, copier], {"local": store}, tmp_path / "day", CONTEST, judged_digests={"owner": folder_digest(folder)}
    )
    assert resumed.checkout("copier") == Reason(ReasonKind.DUPLICATE, "duplicate of owner (committed at block 10)")
    assert store.downloads["owner/model"] == 0


def test_a_provider_this_validator_lacks_and_dead_candidates_cost_nothing(store, tmp_path: Path) -> None:
    revision, folder = pushed(store, tmp_path, "owner/model", "weights")
    elsewhere = Candidate("elsewhere", 1, 10, Commitment(CONTEST.id, "huggingface", "owner/model", revision, bytes(32)))
    dead = honest("dead", 11, "owner/model", revision, folder).out(ReasonKind.INVALID_COMMITMENT, "invalid commitment")
    checkpoints = DayCheckpoints([elsewhere, dead], {"local": store}, tmp_path / "day", CONTEST)
    assert checkpoints.order() == ["elsewhere"]
    assert checkpoints.checkout("elsewhere").kind == ReasonKind.PROVIDER_UNAVAILABLE  # type: ignore[union-attr]
    assert store.downloads == Counter()
