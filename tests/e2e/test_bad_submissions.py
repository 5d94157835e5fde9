"""Bad submissions through the real validator day: each gets its documented outcome (docs/bad-submissions.md),
and the good submission in the same day is still judged."""

from __future__ import annotations

import os
import re
import shutil
import socket
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from bittensor import Wallet
from onnx import TensorProto, helper
from prometheus_client.parser import text_string_to_metric_families
from safetensors.numpy import load_file, save_file

from base.chain import commitment as codec
from contest.day.metrics import DayMetrics
from contest.day.opening import move_to_next_opening
from contest.day.steps import DaySetup, run_day
from contest.judging.reasons import ReasonKind
from pipelines.manifest import Manifest, TorchOptions, write_manifest
from tests.support.checkpoints import add_model, edit_json, make_onnx, with_external_weight
from tests.support.days import IMAGE_SET_CONTEST
from tests.support.world import CONTEST, NETUID, Day


def _nan_vae(folder: Path) -> Path:
    weights_file = folder / "vae" / "diffusion_pytorch_model.safetensors"
    weights = load_file(weights_file)
    name = next(key for key in weights if key.startswith("decoder.conv_out.weight"))
    weights[name] = np.full_like(weights[name], np.nan)
    save_file(weights, weights_file)
    return folder


def _onnx_unet(folder: Path, name: str, nodes: list) -> Path:
    """Make ``folder`` an ONNX checkpoint whose "UNet" is ``nodes``: the UNet's inputs, ``noise_pred`` out."""
    ranks = {"sample": 4, "timestep": 1, "encoder_hidden_states": 3, "text_embeds": 2, "time_ids": 2}
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"{name}_{axis}" for axis in range(rank)])
        for name, rank in ranks.items()
    ]
    output = helper.make_tensor_value_info("noise_pred", TensorProto.FLOAT, ["b", "c", "h", "w"])
    graph = helper.make_graph(nodes, name, inputs, [output])
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    return make_onnx(folder, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10))


def _scalar(name: str, kind: int, value: object):
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, kind, [], [value]))


def _memory_bomb_unet(folder: Path) -> Path:
    """Passes the guard and returns the right shape, after filling 2.8 GB with ones."""
    length = helper.make_tensor("n", TensorProto.INT64, [1], [7 * 10**8])
    one = helper.make_tensor("v", TensorProto.FLOAT, [1], [1])
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=length),
        helper.make_node("ConstantOfShape", ["shape"], ["ones"], value=one),
        helper.make_node("ReduceSum", ["ones"], ["total"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["sample", "nothing"], ["noise_pred"]),
    ]
    return _onnx_unet(folder, "memory-bomb", nodes)


def _hanging_unet(folder: Path) -> Path:
    """Passes the guard, then spins in an ONNX Loop of 10**15 iterations before returning."""
    scalar = {"i": TensorProto.INT64, "cond_in": TensorProto.BOOL, "x_in": TensorProto.FLOAT}
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["x_in", "one"], ["x_out"])],
        "spin",
        [helper.make_tensor_value_info(name, kind, []) for name, kind in scalar.items()],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_out", TensorProto.FLOAT, []),
        ],
        initializer=[helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    nodes = [
        _scalar("trips", TensorProto.INT64, 10**15),
        _scalar("go", TensorProto.BOOL, True),
        _scalar("start", TensorProto.FLOAT, 0.0),
        helper.make_node("Loop", ["trips", "go", "start"], ["spun"], body=body),
        _scalar("zero", TensorProto.FLOAT, 0.0),
        helper.make_node("Mul", ["spun", "zero"], ["nothing"]),
        helper.make_node("Add", ["sample", "nothing"], ["noise_pred"]),
    ]
    return _onnx_unet(folder, "hang", nodes)


def _half_width_unet(folder: Path) -> Path:
    """Passes the guard; its noise prediction is half as wide as the latents it was given."""
    nodes = [
        helper.make_node("Shape", ["sample"], ["dims"]),
        helper.make_node("Gather", ["dims", "last_axis"], ["width"], axis=0),
        helper.make_node("Div", ["width", "two"], ["half"]),
        helper.make_node("Slice", ["sample", "zero_start", "half", "last_axes"], ["noise_pred"]),
    ]
    constants = {
        "last_axis": [3], "two": [2], "zero_start": [0], "last_axes": [3],
    }  # fmt: skip
    for name, value in constants.items():
        nodes.insert(
            0, helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [1], value))
        )
    return _onnx_unet(folder, "half-width", nodes)


def _resaved_unet(folder: Path) -> Path:
    """The same ONNX graph in a differently written file: other bytes, the same images."""
    model_file = folder / "unet" / "model.onnx"
    model = onnx.load(str(model_file))
    model.doc_string = "saved by a near-copy"
    onnx.save(model, str(model_file))
    return folder


def _default_manifest(folder: Path) -> Path:
    """The baseline with a manifest that only restates how it runs without one."""
    write_manifest(folder, Manifest(torch=TorchOptions(dtype=CONTEST.default_dtype)))
    return folder


# A C1 control sequence (clear the screen, cursor home) and a right-to-left override in a file name.
UNPRINTABLE_NAME = "x\u009b2J\u009b1;1H\u202eTOP 1.0 thgiew.bin"

# The tiny contest with a shorter floor under the load limit: the hanging checkpoint costs the day that limit.
JUDGED_AS = replace(IMAGE_SET_CONTEST, load_timeout_s=10.0)


@pytest.fixture(scope="module")
def scraped() -> dict[str, str]:
    """The metrics endpoint's text, scraped by the day below as Prometheus would: in the middle and at the end."""
    return {}


@pytest.fixture(scope="module")
def judged_day(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path, onnx_checkpoint: Path, scraped: dict[str, str]
) -> tuple[dict, dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("bad") / "data"
    day = Day(data_dir, tiny_checkpoint)
    validator = day.validator()

    good = day.submit("good", day.checkpoint("good", source=onnx_checkpoint))
    day.submit("unmodified", _default_manifest(day.checkpoint("unmodified")))
    day.commit_bytes("garbage", os.urandom(77))
    day.commit_bytes("newer-codec", bytes([codec.VERSION + 1]) + good[1:])
    day.submit("unknown-contest", day.checkpoint("unknown-contest"), contest_id="sdxl-next-99")
    day.commit_bytes(
        "missing-repository",
        codec.Commitment(CONTEST.id, "local", "ghost/none", "ab" * 20, b"\0" * 32).encode(),
    )
    day.submit("missing-revision", day.checkpoint("missing-revision"), revision="cd" * 20)
    oversize = day.checkpoint("oversize")
    (oversize / "unet" / "padding.safetensors").write_bytes(os.urandom(CONTEST.max_checkpoint_bytes))
    day.submit("oversize", oversize)
    pickle = day.checkpoint("pickle")
    (pickle / "unet" / "extra.bin").write_bytes(b"\x80\x04K\x01.")
    day.submit("pickle", pickle)
    custom = day.checkpoint("custom-class")
    edit_json(custom / "model_index.json", _class_name="FastSDXLPipeline")
    day.submit("custom-class", custom)
    auto_map = day.checkpoint("auto-map")
    edit_json(auto_map / "unet" / "config.json", auto_map={"AutoModel": "fast.UNet"})
    day.submit("auto-map", auto_map)
    remote = day.checkpoint("remote-code")
    edit_json(remote / "tokenizer" / "tokenizer_config.json", trust_remote_code=True)
    day.submit("remote-code", remote)
    unprintable = day.checkpoint("unprintable-name")  # would clear a terminal and reverse what follows on a page
    (unprintable / "unet" / UNPRINTABLE_NAME).write_bytes(b"\x80\x04K\x01.")
    day.submit("unprintable-name", unprintable)
    symlink = day.checkpoint("symlink")
    (symlink / "unet" / "notes.json").symlink_to("/etc/passwd")
    day.submit("symlink", symlink)
    external = day.checkpoint("external-data")
    (external / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    day.submit("external-data", make_onnx(external, with_external_weight(add_model(), "/etc/passwd")))
    day.submit("nan-output", _nan_vae(day.checkpoint("nan-output")))
    day.commit_bytes("copied-commitment", good)
    day.chain.advance(1)  # the re-upload lands a block later than the original
    reupload = day.data_dir.parent / "work" / "reupload"
    shutil.copytree(day.data_dir.parent / "work" / "good", reupload)
    day.submit("reupload", reupload)
    day.submit("near-copy", _resaved_unet(day.checkpoint("near-copy", source=onnx_checkpoint)))
    day.submit("memory-bomb", _memory_bomb_unet(day.checkpoint("memory-bomb")))
    day.submit("hang", _hanging_unet(day.checkpoint("hang")))
    day.submit("wrong-shape", _half_width_unet(day.checkpoint("wrong-shape")))
    absurd = day.checkpoint("absurd-config")  # a config whose UNet would take 144 TB: refused by the allocator
    edit_json(absurd / "unet" / "config.json", block_out_channels=[10**12, 64])
    day.submit("absurd-config", absurd)
    day.submit("blocked-hotkey", day.checkpoint("blocked-hotkey", source=onnx_checkpoint))
    day.commit_bytes(  # a repository that does not exist: were it fetched, it would be out as a download
        "blocked-owner", codec.Commitment(CONTEST.id, "local", "ghost/blocked", "ef" * 20, b"\0" * 32).encode()
    )
    owner = Wallet(name="blocked-owner", hotkey="default", path=str(day.wallets)).coldkeypub.ss58_address
    blocklist = data_dir.parent / "blocklist.txt"
    blocklist.write_text(f"# known exploiters\nhotkey {day.hotkeys['blocked-hotkey']}\ncoldkey {owner}  # all of it\n")
    move_to_next_opening(day.chain, CONTEST)

    metrics, port = DayMetrics(), free_port()
    metrics.serve(port)

    def progress(line: str) -> None:
        if line.startswith("[3/"):
            scraped["midday"] = scrape(port)

    setup = DaySetup(
        day.chain, {"local": day.store}, JUDGED_AS, NETUID, validator, data_dir, blocklist=blocklist, metrics=metrics
    )
    board, _ = run_day(setup, progress=progress)
    scraped["end"] = scrape(port)
    scraped["weights_set_at_block"] = str(board.weights_set_at_block)
    rows = {row.hotkey: row for row in board.submissions}
    by_name = {name: rows[hotkey] for name, hotkey in day.hotkeys.items() if hotkey in rows}
    return by_name, day.hotkeys


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample, parsed as Prometheus parses the text format."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    raise KeyError(f"{name}{labels} is not in the metrics")


def reason(judged_day, name: str) -> str:
    rows, _ = judged_day
    row = rows[name]
    assert not row.valid and row.weight == 0.0
    return row.reason


def test_the_unmodified_baseline_is_out_whatever_it_carries_beside_the_model(judged_day) -> None:
    assert reason(judged_day, "unmodified") == "the unmodified baseline"


def test_the_good_submission_is_judged_alongside_every_bad_one(judged_day) -> None:
    rows, _ = judged_day
    assert rows["good"].valid and rows["good"].rank == 1 and rows["good"].weight == 1.0
    assert sum(row.valid for row in rows.values()) == 1


def test_arbitrary_bytes(judged_day) -> None:
    assert reason(judged_day, "garbage").startswith("invalid commitment: ")


def test_a_newer_codec_version(judged_day) -> None:
    assert reason(judged_day, "newer-codec") == (
        f"invalid commitment: unsupported commitment version {codec.VERSION + 1} (this validator reads {codec.VERSION})"
    )


def test_an_unknown_contest(judged_day) -> None:
    assert reason(judged_day, "unknown-contest") == "unknown contest 'sdxl-next-99'"


def test_a_repository_that_does_not_exist(judged_day) -> None:
    expected = "download failed: repository 'ghost/none' does not exist"
    assert reason(judged_day, "missing-repository").startswith(expected)


def test_a_revision_that_does_not_exist(judged_day) -> None:
    assert reason(judged_day, "missing-revision") == (
        f"download failed: revision {'cd' * 20} does not exist in 'missing-revision/model'"
    )


def test_over_the_size_cap_is_refused_before_download(judged_day) -> None:
    assert f"over the cap of {CONTEST.max_checkpoint_bytes}" in reason(judged_day, "oversize")
    assert reason(judged_day, "oversize").startswith("download failed: oversize/model@")


def test_pickle_files(judged_day) -> None:
    assert reason(judged_day, "pickle").startswith("refused: unet/extra.bin: ")


@pytest.mark.parametrize(
    ("name", "where", "why"),
    [
        ("custom-class", "model_index.json", "pipeline class 'FastSDXLPipeline' is not accepted"),
        ("auto-map", "unet/config.json", "remote code is not accepted"),
        ("remote-code", "tokenizer/tokenizer_config.json", "remote code is not accepted"),
    ],
)
def test_custom_classes_and_remote_code(judged_day, name: str, where: str, why: str) -> None:
    text = reason(judged_day, name)
    assert text.startswith(f"refused: {where}: ") and why in text


def test_a_symlink_out_of_the_checkpoint(judged_day) -> None:
    text = reason(judged_day, "symlink")
    assert text.startswith("download failed: symlink/model@")
    assert text.endswith("'unet/notes.json' is a link to an absolute path")


def test_a_file_name_a_terminal_or_a_page_would_act_on_is_refused_before_download(judged_day) -> None:
    text = reason(judged_day, "unprintable-name")
    assert text.startswith("download failed: unprintable-name/model@")
    assert "control characters or invisible formatting: 'unet/x\\x9b2J\\x9b1;1H\\u202eTOP" in text
    assert text.isprintable()


def test_onnx_external_data_out_of_the_checkpoint(judged_day) -> None:
    assert reason(judged_day, "external-data") == (
        "refused: unet/model.onnx: ONNX external data '/etc/passwd' for tensor 'w' escapes the checkpoint folder"
    )


def test_nan_outputs_fail_the_similarity_gate(judged_day) -> None:
    assert "is below the threshold" in reason(judged_day, "nan-output")


def test_a_copied_commitment_fails_the_hotkey_bound_hash(judged_day) -> None:
    assert reason(judged_day, "copied-commitment") == "content hash does not match the commitment for this hotkey"


def test_the_same_content_under_another_hotkey_is_a_duplicate_of_the_earliest(judged_day) -> None:
    rows, hotkeys = judged_day
    assert reason(judged_day, "reupload").startswith(f"duplicate of {hotkeys['good']}")
    assert rows["reupload"].duplicate_of == hotkeys["good"]


def test_a_near_copy_draws_the_same_images_and_is_attributed_to_the_earliest(judged_day) -> None:
    rows, hotkeys = judged_day
    text = reason(judged_day, "near-copy")
    assert text.startswith(f"near-copy of {hotkeys['good']} (committed at block ")
    assert f"on all {JUDGED_AS.sampling.min_pairs} of the day's inputs" in text
    assert rows["near-copy"].duplicate_of == hotkeys["good"]
    assert rows["near-copy"].metrics.similarity == rows["good"].metrics.similarity  # measured: the same images


def test_a_checkpoint_that_exhausts_memory_is_killed_at_the_limit(judged_day) -> None:
    limit = CONTEST.worker_memory_bytes // 2**20
    text = reason(judged_day, "memory-bomb")
    assert text.startswith("benchmark failed: ") and f"over the limit of {limit} MiB, and the worker was killed" in text


def test_a_checkpoint_that_hangs_is_killed_at_the_load_limit(judged_day) -> None:
    """The limit is the contest's, or three times the baseline's own start when this machine is slower."""
    killed = re.fullmatch(
        r"benchmark failed: start exceeded its (\d+) s limit and the worker was killed", reason(judged_day, "hang")
    )
    assert killed is not None and int(killed.group(1)) >= JUDGED_AS.load_timeout_s


def test_a_checkpoint_whose_outputs_have_the_wrong_shape(judged_day) -> None:
    text = reason(judged_day, "wrong-shape")
    assert text.startswith("benchmark failed: ") and "size of tensor" in text


def test_a_config_that_declares_an_absurd_size_fails_at_load_and_nothing_else(judged_day) -> None:
    text = reason(judged_day, "absurd-config")
    assert text.startswith("benchmark failed: RuntimeError: ") and "can't allocate memory" in text


def test_a_blocked_hotkey_and_a_blocked_owner_are_out_before_anything_is_downloaded(judged_day) -> None:
    assert reason(judged_day, "blocked-hotkey") == "blocked: its hotkey is on this validator's blocklist"
    rows, _ = judged_day
    assert reason(judged_day, "blocked-owner").startswith("blocked: its coldkey 5")  # not a failed download
    assert {rows[name].reason_kind for name in ("blocked-hotkey", "blocked-owner")} == {ReasonKind.BLOCKED}


def test_the_metrics_endpoint_shows_the_day_while_it_runs_and_its_outcomes_after(judged_day, scraped) -> None:
    rows, _ = judged_day
    midday, end = scraped["midday"], scraped["end"]
    assert sample(midday, "edge_day_submissions") == len(rows)
    assert 0 < sample(midday, "edge_day_judged") < len(rows)
    assert sample(end, "edge_day_judged") == len(rows)
    kinds: dict[str, int] = {}
    for row in rows.values():
        kinds[row.reason_kind or "valid"] = kinds.get(row.reason_kind or "valid", 0) + 1
    for kind, count in kinds.items():
        assert sample(end, "edge_day_outcomes", kind=kind) == count, kind
    assert sample(end, "edge_outcomes_total", kind="refused") >= 1
    assert 0.5 < sample(end, "edge_control_speed_ratio") < 2.0
    assert sample(end, "edge_seconds_per_image", side="baseline") > 0
    assert sample(end, "edge_submission_seconds_count") >= 1
    assert sample(end, "edge_weights_block") == int(scraped["weights_set_at_block"])


def test_each_reason_is_published_with_its_kind(judged_day) -> None:
    rows, _ = judged_day
    expected = {
        "garbage": ReasonKind.INVALID_COMMITMENT, "newer-codec": ReasonKind.INVALID_COMMITMENT,
        "unknown-contest": ReasonKind.UNKNOWN_CONTEST, "missing-repository": ReasonKind.DOWNLOAD,
        "oversize": ReasonKind.DOWNLOAD,
        "pickle": ReasonKind.REFUSED, "symlink": ReasonKind.DOWNLOAD, "unprintable-name": ReasonKind.DOWNLOAD,
        "unmodified": ReasonKind.UNMODIFIED_BASELINE,
        "reupload": ReasonKind.DUPLICATE, "near-copy": ReasonKind.NEAR_COPY, "absurd-config": ReasonKind.FAILED,
    }  # fmt: skip
    assert {name: rows[name].reason_kind for name in expected if name in rows} == expected
    assert all((row.reason_kind is None) == row.valid for row in rows.values())
