"""A whole contest day through the real CLIs, as subprocesses, on the embedded chain."""

import json
import math
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from bittensor import Wallet

from base.chain import LocalChain
from contest.cli import validating
from contest.day.leader import Reigning, reigning
from contest.definitions import get_contest
from contest.judging.compare import speed_ratio
from contest.publish.consensus import consensus
from contest.publish.leaderboard import SCHEMA_FILE, FaceToFaceRecord, HostRecord, Interval, Leaderboard
from contest.publish.report import format_leaderboard
from contest.publish.signature import SignatureInvalid, sign, verify
from contest.site.archive import PublishedDay
from contest.site.page import render_day
from tests.support.days import IMAGE_SET_CONTEST
from tests.support.noise import library_noise
from tests.support.paths import ROOT


def by_repository(leaderboard: dict) -> dict[str, dict]:
    return {row["repository"]: row for row in leaderboard["submissions"]}


def test_leaderboard_matches_its_schema(leaderboard: dict) -> None:
    jsonschema.validate(leaderboard, json.loads(SCHEMA_FILE.read_text()))
    Leaderboard.model_validate(leaderboard)
    assert leaderboard["contest"] == "tiny-sdxl-cpu"
    assert leaderboard["opening_block_hash"].startswith("0x")


def test_a_leaderboard_from_before_the_similarity_parts_still_reads(leaderboard: dict) -> None:
    older = json.loads(json.dumps(leaderboard))
    similarities = [
        row["metrics"]["similarity"] for row in older["submissions"] if (row["metrics"] or {}).get("similarity")
    ]
    assert similarities
    for similarity in similarities:
        del similarity["ssim_minimum"], similarity["clip_minimum"]
    read = Leaderboard.model_validate(older)
    assert all(
        row.metrics.similarity.ssim_minimum is None
        for row in read.submissions
        if row.metrics and row.metrics.similarity
    )


def test_the_demo_prints_no_library_noise(demo: tuple[Path, str]) -> None:
    _, output = demo
    assert "the validator runs the day" in output  # the miners' and the validator's output is in it
    assert library_noise(output) == []


def test_the_report_and_the_page_show_face_to_face_runs_and_who_is_held(tmp_path: Path, leaderboard: dict) -> None:
    """The demo's day with the re-upload as if it had been judged and measured against the leader, and held."""
    board = Leaderboard.model_validate(leaderboard)
    first, copy = board.submissions[0], board.submissions[1]
    run = FaceToFaceRecord(earlier=first.hotkey, pairs=12, score=Interval(value=0.01, low=-0.03, high=0.05))
    judged = {"rank": 2, "tier": 1, "valid": True, "metrics": first.metrics, "reason": None, "reason_kind": None}
    copy = copy.model_copy(update={**judged, "held_behind": first.hotkey, "face_to_face": [run]})
    board = board.model_copy(update={"submissions": [first, copy, *board.submissions[2:]]})
    report = format_leaderboard(board)
    assert "1 (held)" in report
    assert f"{copy.hotkey[:12]} against {first.hotkey[:12]}: score +0.0100 [-0.0300, +0.0500] over 12 pairs" in report
    page = render_day(PublishedDay(tmp_path / "day.json", board, None), [], [board.contest])
    assert "(held)" in page and f"{copy.hotkey[:8]} against {first.hotkey[:8]}: score +0.010 [-0.030, +0.050]" in page


def test_the_report_and_the_page_show_the_judging_hosts(tmp_path: Path, leaderboard: dict) -> None:
    """The demo's day as if judged on two Ray hosts, the first taking the leader and then drained, the second
    the rest."""
    board = Leaderboard.model_validate(leaderboard)
    assert board.hosts == [] and all(row.host is None for row in board.submissions)  # judged in process
    judged = [row for row in board.submissions if row.metrics is not None]
    rows = [row.model_copy(update={"host": "host-0" if row is judged[0] else "host-1"}) for row in judged]
    hosts = [
        HostRecord(name="host-0", machine="gpu-a: NVIDIA H100", controls=board.controls, drained="it drifted"),
        HostRecord(name="host-1", machine="gpu-b: NVIDIA H100", controls=board.controls),
    ]
    board = board.model_copy(update={"hosts": hosts, "submissions": rows})
    report = format_leaderboard(board)
    assert f"  host-0 on gpu-a: NVIDIA H100: judged {judged[0].hotkey[:12]}; drained: it drifted\n" in report
    assert f"  host-1 on gpu-b: NVIDIA H100: judged {', '.join(row.hotkey[:12] for row in judged[1:])}" in report
    page = render_day(PublishedDay(tmp_path / "day.json", board, None), [], [board.contest])
    assert (
        f"host-0 on gpu-a: NVIDIA H100, 1 judged (drained: it drifted); host-1 on gpu-b: NVIDIA H100, "
        f"{len(judged) - 1} judged." in page
    )


def test_first_place_is_recorded_and_defended_the_next_day(
    tmp_path: Path, demo: tuple[Path, str], leaderboard: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's leader took first place today; a later day of the same validator reads it as the reign."""
    first = by_repository(leaderboard)["demo/onnx-unet"]
    policy = get_contest(leaderboard["contest"]).leader
    leader = leaderboard["leader"]
    assert (leader["hotkey"], leader["since"], leader["days_held"]) == (first["hotkey"], leaderboard["day"], 0)
    assert leader["margin"] == policy.start_margin
    assert leader["score_to_lead"] == pytest.approx(first["score"] + policy.start_margin)
    folder = tmp_path / "leaderboards" / leaderboard["contest"]
    folder.mkdir(parents=True)
    (folder / f"{leaderboard['day']}-{leaderboard['opening_block']}.json").write_text(json.dumps(leaderboard))
    next_day = (date.fromisoformat(leaderboard["day"]) + timedelta(days=1)).isoformat()
    assert reigning(tmp_path, leaderboard["contest"], next_day) == Reigning(first["hotkey"], leaderboard["day"])
    assert reigning(tmp_path, leaderboard["contest"], leaderboard["day"]) is None  # only earlier days reign
    data_dir, _ = demo
    assert validating.main(["status", "--data_dir", str(data_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["leader"] == leader
    board = Leaderboard.model_validate(leaderboard)
    line = f"to lead the next day: score above {leader['score_to_lead']:+.4f}"
    assert line in format_leaderboard(board)
    assert line in render_day(PublishedDay(tmp_path / "day.json", board, None), [], [board.contest])


def test_onnx_submission_ranks_first(leaderboard: dict) -> None:
    row = by_repository(leaderboard)["demo/onnx-unet"]
    assert row["rank"] == 1 and row["valid"] and row["significant"]
    assert row["score_interval"]["low"] > leaderboard["minimum_improvement"]
    assert row["metrics"]["runtime"] == "onnxruntime"
    # ONNX Runtime runs the baseline's own UNet, so it draws the baseline's pictures up to rounding.
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
    similarity, gate = row["metrics"]["similarity"], get_contest(leaderboard["contest"]).similarity
    assert similarity["minimum"] < gate.threshold
    # the published parts are each the lowest over the images, so the combined minimum cannot lie below their mix
    mixed = gate.clip_weight * similarity["clip_minimum"] + (1 - gate.clip_weight) * similarity["ssim_minimum"]
    assert similarity["minimum"] >= mixed - 1e-9 and similarity["ssim_minimum"] < gate.threshold


def test_pickle_carrying_checkpoint_is_refused_with_the_file(leaderboard: dict) -> None:
    row = by_repository(leaderboard)["demo/pickle"]
    assert not row["valid"] and "unet/extra.bin" in row["reason"] and "pickle" in row["reason"]
    assert row["metrics"] is None


def test_the_unmodified_baseline_is_out_with_no_weight(leaderboard: dict) -> None:
    row = by_repository(leaderboard)["demo/baseline"]
    assert not row["valid"] and row["reason"] == "the unmodified baseline" and row["weight"] == 0.0
    assert row["metrics"] is None  # recognised by its content, not measured


def test_weights_sum_to_one_and_reach_the_chain(demo: tuple[Path, str], leaderboard: dict) -> None:
    data_dir, _ = demo
    shares = {row["uid"]: row["weight"] for row in leaderboard["submissions"] if row["weight"] > 0}
    assert math.isclose(sum(shares.values()), 1.0)
    assert dict(zip(leaderboard["weights"]["uids"], leaderboard["weights"]["weights"], strict=True)) == shares
    (recorded,) = LocalChain(data_dir / "chain.sqlite").weights(39)
    assert recorded.validator == leaderboard["validator_hotkey"]
    assert dict(zip(recorded.uids, recorded.weights, strict=True)) == pytest.approx(shares)


def test_the_published_per_pair_times_recompute_the_speed_ratio(leaderboard: dict) -> None:
    measured = [row for row in leaderboard["submissions"] if row["sampling"]]
    assert measured
    policy = IMAGE_SET_CONTEST.sampling  # the demo's, as the fixture runs it
    for row in measured:
        sampling = row["sampling"]
        assert len(sampling["baseline_seconds"]) == len(sampling["submission_seconds"]) == sampling["pairs"]
        # A checkpoint that fails the similarity gate is out after one block; any other sees the day's image set.
        least = policy.block_pairs if sampling["stop_reason"] == "dissimilar" else policy.min_pairs
        assert sampling["pairs"] >= least
        again = speed_ratio(sampling["baseline_seconds"], sampling["submission_seconds"], policy.worker_spread)
        assert (again.value, again.low, again.high) == pytest.approx(tuple(row["metrics"]["speed_ratio"].values()))


def test_the_day_carries_its_a_a_control_and_opens_at_the_scheduled_time(
    demo: tuple[Path, str], leaderboard: dict
) -> None:
    first, *again = leaderboard["controls"]
    assert first["after_submissions"] == 0
    assert all(control["pairs"] >= IMAGE_SET_CONTEST.sampling.min_pairs for control in leaderboard["controls"])
    # The control runs again only where the baseline ran slow beside a submission, which is then measured again.
    day = demo[1].split("=== the validator runs the day", 1)[1].splitlines()
    measured_again = [line for line in day if line.startswith("the baseline ran ") and "measuring again" in line]
    assert len(measured_again) == len(again)
    scheduled = datetime.fromisoformat(leaderboard["scheduled_opening"])
    local = scheduled.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (12, 0) and scheduled.utcoffset() == local.utcoffset()
    assert datetime.fromisoformat(leaderboard["opened_at"]) >= scheduled


def test_miner_cli_refuses_bad_checkpoints_with_the_reason(demo: tuple[Path, str]) -> None:
    _, output = demo
    assert "error: the checkpoint would be invalid: similarity" in output
    assert "error: the checkpoint would be invalid: the unmodified baseline" in output
    assert "error: the checkpoint would be refused: unet/extra.bin: pickle files are not accepted" in output
    assert "leaderboard:" in output


def verify_cli(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "contest.publish.signature", str(path), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_leaderboard_is_signed_by_the_validator_hotkey(demo: tuple[Path, str], leaderboard: dict) -> None:
    data_dir, _ = demo
    (path,) = (data_dir / "leaderboards" / "tiny-sdxl-cpu").glob("*.json")
    hotkey = leaderboard["validator_hotkey"]
    checked = verify_cli(path, "--hotkey", hotkey)
    assert checked.returncode == 0 and checked.stdout.strip() == f"ok: {path} is signed by {hotkey}"
    assert verify(json.loads(json.dumps(leaderboard, indent=7))) == hotkey  # layout does not matter


def test_a_tampered_leaderboard_is_rejected(tmp_path: Path, leaderboard: dict) -> None:
    tampered = json.loads(json.dumps(leaderboard))
    tampered["submissions"][-1]["weight"] = 1.0
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tampered, indent=2))
    checked = verify_cli(path)
    assert checked.returncode == 1
    assert "the signature does not match: the file was changed or not signed by" in checked.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda doc: doc.pop("signature"), "carries no sr25519 signature"),
        (lambda doc: doc.update(validator_hotkey=doc["submissions"][0]["hotkey"]), "the signature does not match"),
        (lambda doc: doc["signature"].update(value="zz"), "cannot be checked"),
    ],
)
def test_unsigned_or_re_attributed_leaderboards_are_rejected(leaderboard: dict, change, message: str) -> None:
    document = json.loads(json.dumps(leaderboard))
    change(document)
    with pytest.raises(SignatureInvalid, match=message):
        verify(document)


def test_a_signature_by_another_validator_is_rejected_when_the_hotkey_is_pinned(leaderboard: dict) -> None:
    other = leaderboard["submissions"][0]["hotkey"]
    with pytest.raises(SignatureInvalid, match=f"names validator .* not {other}"):
        verify(leaderboard, hotkey=other)


def three_validators(tmp_path: Path, leaderboard: dict) -> list[dict]:
    """The demo day as three validators saw it: two agree; the third puts first, with all its weight, a miner
    the others found invalid, so it departs from them whatever the day measured."""
    documents = []
    for name in ("honest-a", "honest-b", "deviant"):
        wallet = Wallet(name=name, hotkey="default", path=str(tmp_path / "wallets"))
        wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
        document = json.loads(json.dumps(leaderboard))
        document["validator_hotkey"] = wallet.hotkey.ss58_address
        if name == "deviant":
            favourite = next(row for row in document["submissions"] if not row["valid"])
            for row in document["submissions"]:
                row["rank"] = row["rank"] + 1 if row["rank"] is not None else None
                row["weight"] = 0.0
            favourite["rank"], favourite["weight"] = 1, 1.0
        signed = sign(Leaderboard.model_validate({k: v for k, v in document.items() if k != "signature"}), wallet)
        documents.append(signed.model_dump(mode="json"))
    return documents


def test_consensus_of_three_validators_flags_the_deviant_one(tmp_path: Path, leaderboard: dict) -> None:
    honest_a, honest_b, deviant = three_validators(tmp_path, leaderboard)
    keys = [document["validator_hotkey"] for document in (honest_a, honest_b, deviant)]
    result = consensus([honest_a, honest_b, deviant], dict(zip(keys, (100.0, 50.0, 25.0), strict=True)))
    assert {view.hotkey: view.deviant for view in result.validators} == dict(
        zip(keys, (False, False, True), strict=True)
    )
    heaviest = max(leaderboard["submissions"], key=lambda row: row["weight"])["hotkey"]
    assert result.combined[0][0] == heaviest  # 150 of the 175 stake agree on it
    rank_one = result.by_rank[0]
    assert rank_one[0] == 1 and rank_one[2] is False  # the deviant disagrees at rank 1


def test_consensus_cli_refuses_a_tampered_file(tmp_path: Path, leaderboard: dict) -> None:
    paths = []
    for index, document in enumerate(three_validators(tmp_path, leaderboard)):
        if index == 2:
            document["submissions"][0]["weight"] = 0.5
        paths.append(tmp_path / f"validator-{index}.json")
        paths[-1].write_text(json.dumps(document))
    agreed = subprocess.run(
        [sys.executable, "-m", "contest.publish.consensus", *map(str, paths[:2])],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert agreed.returncode == 0 and "rank by rank:" in agreed.stdout and "DEVIATES" not in agreed.stdout
    refused = subprocess.run(
        [sys.executable, "-m", "contest.publish.consensus", *map(str, paths)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and "the signature does not match" in refused.stdout
