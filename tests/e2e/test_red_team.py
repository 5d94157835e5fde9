"""Attacks on the validator through the real day on the embedded chain.

Each attacker commits in the same day as an honest miner. The day must finish, the honest miner must be valid
and paid, each attacker must be out with its kind (or earn nothing), nothing may be left running, and a
revision committed by many hotkeys after its owner is downloaded once, and no two checkpoints are on disk at
once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
import pytest

from base.chain import commitment as codec
from base.removal import remove_tree
from base.stores import MAX_DEPTH
from contest.day.opening import move_to_next_opening
from contest.day.state import ValidatorState
from contest.day.steps import DayFailed, DaySetup, run_day
from contest.judging.reasons import MAX_MESSAGE_CHARS, ReasonKind
from tests.e2e.test_bad_submissions import NETUID
from tests.support.checkpoints import edit_json
from tests.support.days import IMAGE_SET_CONTEST, nudge_output
from tests.support.stores import CountingStore
from tests.support.world import Day

CONTEST = IMAGE_SET_CONTEST  # the attacks are told apart by reasons and tiers, not by narrow intervals
COPIERS = 3


def deep_tree(folder: Path, depth: int) -> Path:
    """A checkpoint that also holds one file ``depth`` folders down (made level by level: no recursion)."""
    deep = str(folder)
    for _ in range(depth):
        deep += "/d"
        os.mkdir(deep)
    Path(deep, "notes.txt").write_text("deep\n")
    return folder


def byte_named_file(folder: Path) -> Path:
    """A checkpoint that also holds a file whose name is not UTF-8."""
    descriptor = os.open(bytes(folder / "unet") + b"/\xff\xfe.json", os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(descriptor, b"{}")
    os.close(descriptor)
    return folder


def colours_swapped(folder: Path, first: str = "red", second: str = "blue") -> Path:
    """The checkpoint with two colour words' token ids swapped in both tokenizers: the same weights and speed,
    other pictures for every sentence that names either colour."""
    for tokenizer in ("tokenizer", "tokenizer_2"):
        path = folder / tokenizer / "tokenizer.json"
        document = json.loads(path.read_text(encoding="utf-8"))
        vocab = document["model"]["vocab"]
        a, b = f"{first}</w>", f"{second}</w>"
        vocab[a], vocab[b] = vocab[b], vocab[a]
        path.write_text(json.dumps(document), encoding="utf-8")
    return folder


def push_unhashed(day: Day, name: str, folder: Path) -> None:
    """Push ``folder`` and commit it with a made-up content hash: these folders are out before any hash is read."""
    revision = day.store.push(folder, f"{name}/model", "submit")
    day.commit_bytes(name, codec.Commitment(CONTEST.id, "local", f"{name}/model", revision, bytes(32)).encode())


@pytest.fixture(scope="module")
def attacked_day(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path, onnx_checkpoint: Path
) -> tuple[dict, dict[str, str], CountingStore, Path]:
    data_dir = tmp_path_factory.mktemp("red-team") / "data"
    day = Day(data_dir, tiny_checkpoint)
    day.store = CountingStore(data_dir / "repositories")
    validator = day.validator()

    honest = day.submit("honest", day.checkpoint("honest", source=onnx_checkpoint))
    original = codec.decode(honest)
    day.chain.advance(1)
    for index in range(COPIERS):  # the honest revision under other hotkeys, each with a hash of its own making
        day.commit_bytes(
            f"copier-{index}", codec.Commitment(**{**original.__dict__, "content_hash": bytes(32)}).encode()
        )
    day.submit("nudged", nudge_output(day.checkpoint("nudged", source=onnx_checkpoint), 0.01))
    day.submit("colours-swapped", colours_swapped(day.checkpoint("colours-swapped", source=onnx_checkpoint)))
    push_unhashed(day, "deep", deep_tree(day.checkpoint("deep"), 1_100))
    push_unhashed(day, "byte-name", byte_named_file(day.checkpoint("byte-name")))
    dressed = day.checkpoint("dressed-baseline")
    steps = CONTEST.generation.steps
    restated = {"generation": {"scheduler": "EulerDiscreteScheduler", "steps": steps}}
    (dressed / "edge_checkpoint.json").write_text(json.dumps(restated))
    (dressed / "unet" / "LICENSE").write_text("MIT\n")
    day.submit("dressed-baseline", dressed)
    long_name = day.checkpoint("long-reason")
    edit_json(long_name / "model_index.json", _class_name="X" * 1_000_000)
    day.submit("long-reason", long_name)
    move_to_next_opening(day.chain, CONTEST)

    remove_tree(day.data_dir.parent / "work" / "deep")  # pytest's own clean-up recurses once per folder

    board, _ = run_day(DaySetup(day.chain, {"local": day.store}, CONTEST, NETUID, validator, data_dir))
    rows = {row.hotkey: row for row in board.submissions}
    return {name: rows[hotkey] for name, hotkey in day.hotkeys.items()}, day.hotkeys, day.store, data_dir


def test_the_honest_miner_is_valid_and_takes_all_the_weight(attacked_day) -> None:
    rows, _, _, _ = attacked_day
    assert rows["honest"].valid and rows["honest"].rank == 1 and rows["honest"].weight == 1.0


def test_a_nudged_copy_of_the_leader_shares_its_tier_and_earns_nothing(attacked_day) -> None:
    rows, _, _, _ = attacked_day
    nudged = rows["nudged"]
    assert nudged.valid and nudged.tier == rows["honest"].tier and nudged.weight == 0.0


def test_the_leader_with_two_colour_words_swapped_is_out_by_similarity_or_earns_nothing(attacked_day) -> None:
    """Its pictures differ only where a prompt names red or blue. The gate puts it out on most days; on a day
    whose image set barely names them it can clear the gate (docs/scoring.md), and it is then what it was made
    from, a copy of the leader's speed: in the leader's tier, committed later, with no weight."""
    rows, _, _, _ = attacked_day
    swapped = rows["colours-swapped"]
    assert swapped.weight == 0.0
    if swapped.valid:
        assert swapped.tier == rows["honest"].tier and swapped.metrics.similarity.minimum < 1.0
    else:
        assert swapped.reason_kind == ReasonKind.SIMILARITY


def test_the_baseline_dressed_in_a_restating_manifest_and_a_licence_is_the_baseline(attacked_day) -> None:
    rows, _, _, _ = attacked_day
    assert rows["dressed-baseline"].reason_kind == ReasonKind.UNMODIFIED_BASELINE


def test_a_tree_deeper_than_any_checkpoint_is_out_before_it_is_extracted(attacked_day) -> None:
    rows, _, _, _ = attacked_day
    assert rows["deep"].reason_kind == ReasonKind.DOWNLOAD
    assert f"nested 1101 folders deep, over {MAX_DEPTH}" in rows["deep"].reason


def test_a_file_name_that_is_not_text_is_out(attacked_day) -> None:
    rows, _, _, _ = attacked_day
    assert rows["byte-name"].reason_kind == ReasonKind.DOWNLOAD and "is not UTF-8" in rows["byte-name"].reason


def test_a_published_reason_is_short_whatever_the_miner_chose(attacked_day) -> None:
    rows, _, _, _ = attacked_day
    assert rows["long-reason"].reason_kind == ReasonKind.REFUSED
    assert len(rows["long-reason"].reason) == MAX_MESSAGE_CHARS and rows["long-reason"].reason.endswith("...")


def face_to_face_runs(rows: dict, name: str) -> int:
    """The face-to-face runs ``name`` took part in: each checks it out once more."""
    hotkey = rows[name].hotkey
    return len(rows[name].face_to_face) + sum(
        run.earlier == hotkey for row in rows.values() for run in row.face_to_face
    )


def test_one_revision_committed_by_many_hotkeys_is_downloaded_once(attacked_day) -> None:
    rows, _, store, _ = attacked_day
    assert store.downloads["honest/model"] == 1 + face_to_face_runs(rows, "honest")
    for index in range(COPIERS):
        assert rows[f"copier-{index}"].reason_kind == ReasonKind.HASH


def test_each_checkpoint_is_fetched_when_judging_reaches_it_with_no_other_on_disk(attacked_day) -> None:
    """Only the later side of a face-to-face run finds one other on disk: the earlier it is measured against."""
    rows, _, store, _ = attacked_day
    assert len(store.on_disk_at_start) == sum(store.downloads.values()) > 5
    runs = sum(len(row.face_to_face) for row in rows.values())
    assert (
        sorted(len(others) for others in store.on_disk_at_start)
        == [0] * (len(store.on_disk_at_start) - runs) + [1] * runs
    )


def running(process: psutil.Process) -> str | None:
    """The command line of a process that is still running; None for one that has exited, reaped or not."""
    try:
        return None if process.status() == psutil.STATUS_ZOMBIE else " ".join(process.cmdline())
    except psutil.Error:
        return None


def test_nothing_is_left_running_or_on_disk_after_the_day(attacked_day) -> None:
    _, _, _, data_dir = attacked_day
    # The worker server and multiprocessing's resource tracker serve this process for as long as it lives; a
    # worker would be a child of the server, so anything else alive below this process was left behind.
    # An exited child that no one has reaped yet (a zombie) runs nothing; it has no command line to read.
    living = {
        child: command for child in psutil.Process().children(recursive=True) if (command := running(child)) is not None
    }
    servers = [child for child in psutil.Process().children() if "from multiprocessing." in living.get(child, "")]
    assert [command for child, command in living.items() if child not in servers] == []
    checkpoints = data_dir / "validator" / "checkpoints"
    assert not checkpoints.exists() or list(checkpoints.iterdir()) == []


def test_a_day_that_fails_in_the_validator_twice_is_given_up_and_the_next_day_runs(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    day = Day(data_dir, tiny_checkpoint)
    validator = day.validator()
    move_to_next_opening(day.chain, CONTEST)
    setup = DaySetup(day.chain, {"local": day.store}, CONTEST, NETUID, validator, data_dir)

    def trips(*_: object) -> None:
        raise RuntimeError("a commitment the validator trips on")

    monkeypatch.setattr("contest.day.steps.collect_step", trips)
    with pytest.raises(RuntimeError, match="trips on"):
        run_day(setup)
    state = ValidatorState.of(data_dir)
    assert state.running_day(CONTEST.id) is not None  # once: it resumes
    with pytest.raises(DayFailed, match="given up after failing 2 times in the validator"):
        run_day(setup)
    failed = state.latest_day(CONTEST.id)
    assert state.running_day(CONTEST.id) is None and failed.status == "failed"
    assert any("a commitment the validator trips on" in error.message for error in state.status().errors)

    monkeypatch.undo()
    move_to_next_opening(day.chain, CONTEST)
    board, _ = run_day(setup)
    latest = state.latest_day(CONTEST.id)
    assert latest.status == "finished" and board.day == latest.day > failed.day
