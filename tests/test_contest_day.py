"""A whole contest day through the real CLIs, as subprocesses, on the embedded chain."""

import json
import math
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from base.local_chain import LocalChain
from contest.leaderboard import SCHEMA_FILE, Leaderboard

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    data_dir = tmp_path_factory.mktemp("demo")
    run = subprocess.run(
        [sys.executable, "-m", "contest.demo", "--data_dir", str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return data_dir, run.stdout


@pytest.fixture(scope="module")
def leaderboard(demo: tuple[Path, str]) -> dict:
    data_dir, _ = demo
    (path,) = (data_dir / "leaderboards" / "tiny-sdxl-cpu").glob("*.json")
    return json.loads(path.read_text())


def by_repository(leaderboard: dict) -> dict[str, dict]:
    return {row["repository"]: row for row in leaderboard["submissions"]}


def test_leaderboard_matches_its_schema(leaderboard: dict) -> None:
    jsonschema.validate(leaderboard, json.loads(SCHEMA_FILE.read_text()))
    Leaderboard.model_validate(leaderboard)
    assert leaderboard["contest"] == "tiny-sdxl-cpu"
    assert leaderboard["opening_block_hash"].startswith("0x")


def test_onnx_submission_ranks_first(leaderboard: dict) -> None:
    row = by_repository(leaderboard)["demo/onnx-unet"]
    assert row["rank"] == 1 and row["valid"]
    assert row["metrics"]["runtime"] == "onnxruntime"
    assert row["metrics"]["similarity"]["minimum"] >= 0.99


def test_reupload_by_another_hotkey_is_a_duplicate_of_the_earliest(leaderboard: dict) -> None:
    rows = by_repository(leaderboard)
    copy, original = rows["copycat/fast-sdxl"], rows["demo/onnx-unet"]
    assert not copy["valid"] and copy["duplicate_of"] == original["hotkey"]
    assert copy["commit_block"] > original["commit_block"]
    assert "duplicate of" in copy["reason"] and copy["weight"] == 0.0


def test_drifting_outputs_are_invalid_by_similarity(leaderboard: dict) -> None:
    row = by_repository(leaderboard)["demo/drift"]
    assert not row["valid"] and "below the threshold" in row["reason"]
    assert row["metrics"]["similarity"]["minimum"] < 0.85


def test_pickle_carrying_checkpoint_is_refused_with_the_file(leaderboard: dict) -> None:
    row = by_repository(leaderboard)["demo/pickle"]
    assert not row["valid"] and "unet/extra.bin" in row["reason"] and "pickle" in row["reason"]
    assert row["metrics"] is None


def test_unmodified_baseline_scores_near_zero(leaderboard: dict) -> None:
    row = by_repository(leaderboard)["demo/baseline"]
    assert row["valid"] and abs(row["score"]) < 0.15


def test_weights_sum_to_one_and_reach_the_chain(demo: tuple[Path, str], leaderboard: dict) -> None:
    data_dir, _ = demo
    shares = {row["uid"]: row["weight"] for row in leaderboard["submissions"] if row["weight"] > 0}
    assert math.isclose(sum(shares.values()), 1.0)
    (recorded,) = LocalChain(data_dir / "chain.sqlite").weights(39)
    assert recorded.validator == leaderboard["validator_hotkey"]
    assert dict(zip(recorded.uids, recorded.weights, strict=True)) == pytest.approx(shares)


def test_miner_cli_refuses_bad_checkpoints_with_the_reason(demo: tuple[Path, str]) -> None:
    _, output = demo
    assert "error: the checkpoint would be invalid: similarity" in output
    assert "error: the checkpoint would be refused: unet/extra.bin: pickle files are not accepted" in output
    assert "leaderboard:" in output
