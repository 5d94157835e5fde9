"""The checkpoint guard: a clean SDXL folder passes; each way to smuggle in code or read outside fails."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from safetensors.numpy import load_file

from pipelines import checkpoint_guard
from pipelines.checkpoint_guard import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    PICKLE_REASON,
    READ_CHUNK,
    CheckpointRefused,
    inspect_checkpoint,
    json_depth,
)
from pipelines.manifest import MANIFEST_NAME, ONNX_PART_FILES, Manifest, OnnxOptions, write_manifest
from pipelines.tiny_sdxl import build_tiny_sdxl
from tests.support.checkpoints import add_model, edit_json, make_onnx, with_external_weight

PICKLE = "pickle files are not accepted"
ESCAPES = "escapes the checkpoint folder"


@pytest.fixture
def checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny checkpoint, free to mutate."""
    return Path(shutil.copytree(tiny_checkpoint, tmp_path / "checkpoint"))


def refusal(folder: Path, **kwargs: Any) -> CheckpointRefused:
    with pytest.raises(CheckpointRefused) as caught:
        inspect_checkpoint(folder, **kwargs)
    return caught.value


def test_clean_checkpoint_passes_with_the_default_manifest(tiny_checkpoint: Path) -> None:
    assert inspect_checkpoint(tiny_checkpoint) == Manifest()


def test_exported_onnx_checkpoint_passes(onnx_checkpoint: Path) -> None:
    manifest = inspect_checkpoint(onnx_checkpoint)
    assert manifest.runtime == "onnxruntime"
    assert not list((onnx_checkpoint / "unet").glob("*.safetensors"))


def test_refusal_message_names_the_file(checkpoint: Path) -> None:
    (checkpoint / "unet" / "x.bin").write_bytes(b"\x80\x04")
    error = refusal(checkpoint)
    assert str(error) == "unet/x.bin: pickle files are not accepted (only safetensors and ONNX weights)"


@pytest.mark.parametrize(
    "name",
    ["unet/diffusion_pytorch_model.bin", "vae/weights.pt", "model.ckpt", "text_encoder/x.pkl", "unet/W.PTH"],
)
def test_pickle_files_are_refused(checkpoint: Path, name: str) -> None:
    (checkpoint / name).write_bytes(b"\x80\x04\x95")
    error = refusal(checkpoint)
    assert (error.path, PICKLE in error.reason) == (name, True)


@pytest.mark.parametrize("name", ["pipeline.py", "unet/__pycache__/unet.cpython-311.pyc", "vae/fast.so"])
def test_code_files_are_refused(checkpoint: Path, name: str) -> None:
    (checkpoint / name).parent.mkdir(exist_ok=True)
    (checkpoint / name).write_text("print('hello')\n")
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (name, "code files are not accepted")


def test_unexpected_file_types_are_refused(checkpoint: Path) -> None:
    (checkpoint / "vae" / "preview.png").write_bytes(b"\x89PNG")
    error = refusal(checkpoint)
    assert (error.path, error.reason) == ("vae/preview.png", "unexpected file type")


def test_repository_extras_and_ignored_folders_pass(checkpoint: Path) -> None:
    for name in (".gitattributes", "README.md", "LICENSE", "LICENSE.txt", "unet/LICENSE.md", "vae/.gitattributes"):
        (checkpoint / name).write_text("text\n")
    for ignored in (".git/hooks/post-checkout.py", ".cache/huggingface/download/unet.bin"):
        (checkpoint / ignored).parent.mkdir(parents=True)
        (checkpoint / ignored).write_text("ignored\n")
    assert inspect_checkpoint(checkpoint) == Manifest()


def test_custom_pipeline_class_is_refused(checkpoint: Path) -> None:
    edit_json(checkpoint / "model_index.json", _class_name="FastSDXLPipeline")
    error = refusal(checkpoint)
    assert error.path == "model_index.json"
    assert "pipeline class 'FastSDXLPipeline' is not accepted" in error.reason


@pytest.mark.parametrize(
    "pair", [["fast_unet", "FastUNet"], ["diffusers", "FastUNet"], ["transformers", "UNet2DConditionModel"]]
)
def test_custom_component_class_is_refused(checkpoint: Path, pair: list[str]) -> None:
    edit_json(checkpoint / "model_index.json", unet=pair)
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (
        "model_index.json",
        f"custom class {pair[0]}.{pair[1]} is not accepted",
    )


def test_unknown_component_is_refused(checkpoint: Path) -> None:
    edit_json(checkpoint / "model_index.json", refiner=["diffusers", "UNet2DConditionModel"])
    error = refusal(checkpoint)
    assert (error.path, error.reason) == ("model_index.json", "unknown component 'refiner' is not accepted")


@pytest.mark.parametrize("key", ["custom_pipeline", "_custom_pipeline"])
def test_custom_pipeline_key_is_refused(checkpoint: Path, key: str) -> None:
    edit_json(checkpoint / "model_index.json", **{key: "my/repo"})
    error = refusal(checkpoint)
    assert (error.path, error.reason) == ("model_index.json", "remote code is not accepted")


def test_custom_class_in_component_config_is_refused(checkpoint: Path) -> None:
    edit_json(checkpoint / "unet" / "config.json", _class_name="FastUNet")
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (
        "unet/config.json",
        "custom class diffusers.FastUNet is not accepted",
    )


def test_auto_map_at_any_depth_is_refused(checkpoint: Path) -> None:
    edit_json(checkpoint / "unet" / "config.json", extra={"nested": [{"auto_map": {"AutoModel": "x.Y"}}]})
    error = refusal(checkpoint)
    assert (error.path, error.reason) == ("unet/config.json", "remote code is not accepted")


def test_trust_remote_code_is_refused(checkpoint: Path) -> None:
    edit_json(checkpoint / "tokenizer" / "tokenizer_config.json", trust_remote_code=True)
    error = refusal(checkpoint)
    assert (error.path, error.reason) == ("tokenizer/tokenizer_config.json", "remote code is not accepted")


@pytest.mark.parametrize("text", ["{", "[" * 100_000, "\xff"])
def test_invalid_json_is_refused(checkpoint: Path, text: str) -> None:
    (checkpoint / "vae" / "config.json").write_bytes(text.encode("latin-1"))
    error = refusal(checkpoint)
    assert error.path == "vae/config.json"
    assert error.reason.startswith("invalid JSON: ")


def test_unknown_manifest_key_is_refused(checkpoint: Path) -> None:
    (checkpoint / MANIFEST_NAME).write_text(json.dumps({"runtime": "diffusers", "foo": 1}))
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (MANIFEST_NAME, "unknown manifest key 'foo'")


def test_unknown_nested_manifest_key_is_refused(checkpoint: Path) -> None:
    (checkpoint / MANIFEST_NAME).write_text(json.dumps({"torch": {"kernels": "fast"}}))
    assert refusal(checkpoint).reason == "unknown manifest key 'torch.kernels'"


def test_bad_runtime_value_is_refused(checkpoint: Path) -> None:
    (checkpoint / MANIFEST_NAME).write_text(json.dumps({"runtime": "tensorrt"}))
    error = refusal(checkpoint)
    assert error.path == MANIFEST_NAME
    assert error.reason.startswith("invalid manifest value for 'runtime'")
    assert "'tensorrt'" in error.reason


def test_manifest_must_be_an_object(checkpoint: Path) -> None:
    (checkpoint / MANIFEST_NAME).write_text("[]")
    error = refusal(checkpoint)
    assert error.path == MANIFEST_NAME
    assert error.reason.startswith("the manifest must be a JSON object")


def test_runtime_outside_the_contest_is_refused(checkpoint: Path) -> None:
    assert refusal(checkpoint, allowed_runtimes=("onnxruntime",)).path == "."
    make_onnx(checkpoint, add_model())
    error = refusal(checkpoint, allowed_runtimes=("diffusers",))
    assert error.path == MANIFEST_NAME
    assert "runtime 'onnxruntime' is not allowed" in error.reason


def test_symlink_to_a_file_outside_is_refused(checkpoint: Path) -> None:
    (checkpoint / "unet" / "notes.txt").symlink_to("/etc/passwd")
    error = refusal(checkpoint)
    assert error.path == "unet/notes.txt"
    assert ESCAPES in error.reason


def test_symlinked_folder_escaping_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(checkpoint / "vae", outside)
    shutil.rmtree(checkpoint / "vae")
    (checkpoint / "vae").symlink_to(outside, target_is_directory=True)
    error = refusal(checkpoint)
    assert error.path == "vae"
    assert ESCAPES in error.reason


def test_relative_symlink_climbing_out_is_refused(checkpoint: Path) -> None:
    (checkpoint / "text_encoder" / "up").symlink_to("../..", target_is_directory=True)
    error = refusal(checkpoint)
    assert error.path == "text_encoder/up"
    assert ESCAPES in error.reason


def test_symlink_inside_the_folder_passes(checkpoint: Path) -> None:
    (checkpoint / "text_encoder" / "notes.md").symlink_to("../model_index.json")
    assert inspect_checkpoint(checkpoint) == Manifest()


def test_broken_symlink_is_refused(checkpoint: Path) -> None:
    (checkpoint / "unet" / "extra.safetensors").symlink_to("missing.safetensors")
    assert refusal(checkpoint).reason == "broken symbolic link"


def test_missing_model_index_is_refused(checkpoint: Path) -> None:
    (checkpoint / "model_index.json").unlink()
    assert refusal(checkpoint).path == "model_index.json"


def test_missing_or_non_folder_checkpoint_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path / "absent").path == "."
    (tmp_path / "file").write_text("x")
    assert refusal(tmp_path / "file").path == "."


def test_size_cap(checkpoint: Path) -> None:
    total = sum(path.stat().st_size for path in checkpoint.rglob("*") if path.is_file())
    assert inspect_checkpoint(checkpoint, max_total_bytes=total) == Manifest()
    error = refusal(checkpoint, max_total_bytes=total - 1)
    assert (error.path, error.reason) == (".", f"checkpoint is {total} bytes, over the cap of {total - 1}")


def test_diffusers_checkpoint_needs_safetensors_weights(checkpoint: Path) -> None:
    (checkpoint / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    error = refusal(checkpoint)
    assert (error.path, error.reason) == ("unet", "no safetensors weights for unet")


def test_onnx_checkpoint_with_a_small_model_passes(checkpoint: Path) -> None:
    (checkpoint / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    assert inspect_checkpoint(make_onnx(checkpoint, add_model())).runtime == "onnxruntime"


def test_onnx_external_data_inside_the_folder_passes(checkpoint: Path) -> None:
    (checkpoint / "unet" / "model.onnx.data").write_bytes(np.ones(4, dtype=np.float32).tobytes())
    make_onnx(checkpoint, with_external_weight(add_model(), "model.onnx.data"))
    assert inspect_checkpoint(checkpoint).runtime == "onnxruntime"


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("../../outside.bin", "escapes the checkpoint folder"),
        ("/etc/passwd", "escapes the checkpoint folder"),
        ("weights.data", "is missing"),
    ],
)
def test_onnx_external_data_must_stay_inside(checkpoint: Path, location: str, reason: str) -> None:
    (checkpoint.parent / "outside.bin").write_bytes(b"\0" * 16)
    make_onnx(checkpoint, with_external_weight(add_model(), location))
    error = refusal(checkpoint)
    assert error.path == "unet/model.onnx"
    assert error.reason == f"ONNX external data '{location}' for tensor 'w' {reason}"


def test_onnx_custom_operator_domain_is_refused(checkpoint: Path) -> None:
    make_onnx(checkpoint, add_model(domain="com.example.fast"))
    error = refusal(checkpoint)
    assert error.path == "unet/model.onnx"
    assert error.reason == "custom operator domain 'com.example.fast' (node Add) is not accepted"


def test_onnx_custom_domain_in_a_subgraph_is_refused(checkpoint: Path) -> None:
    inner = add_model(domain="com.example.fast").graph
    branch = helper.make_graph(list(inner.node), "branch", [], list(inner.output), list(inner.initializer))
    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)
    graph = helper.make_graph(
        [node],
        "outer",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    make_onnx(checkpoint, helper.make_model(graph))
    assert "custom operator domain 'com.example.fast'" in refusal(checkpoint).reason


def test_unparseable_onnx_model_is_refused(checkpoint: Path) -> None:
    make_onnx(checkpoint, b"\xff\xfe not a protobuf")
    error = refusal(checkpoint)
    assert error.path == "unet/model.onnx"
    assert error.reason.startswith("not a valid ONNX model")


@pytest.mark.parametrize(
    ("unet_file", "path", "reason"),
    [
        ("unet/absent.onnx", "unet/absent.onnx", "ONNX model file is missing"),
        ("../model.onnx", MANIFEST_NAME, "onnx.unet_file '../model.onnx' escapes the checkpoint folder"),
        ("unet/config.json", MANIFEST_NAME, "onnx.unet_file 'unet/config.json' must name a .onnx file"),
    ],
)
def test_onnx_unet_file_must_be_an_onnx_file_inside(checkpoint: Path, unet_file: str, path: str, reason: str) -> None:
    (checkpoint.parent / "model.onnx").write_bytes(add_model().SerializeToString())
    write_manifest(checkpoint, Manifest(runtime="onnxruntime", onnx=OnnxOptions(unet_file=unet_file)))
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (path, reason)


@pytest.fixture(scope="module")
def fuzz_checkpoint(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy for every fuzzed manifest, with a valid ONNX UNet so ONNX manifests can pass too."""
    folder = Path(shutil.copytree(tiny_checkpoint, tmp_path_factory.mktemp("fuzz") / "checkpoint"))
    (folder / "unet" / "model.onnx").write_bytes(add_model().SerializeToString())
    return folder


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


def mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` three times in four, so fuzzed manifests pass often enough to reach the ONNX checks."""
    return st.integers(0, 3).flatmap(lambda draw: valid if draw else invalid)


TORCH = st.fixed_dictionaries(
    {},
    optional={
        "dtype": mostly(st.sampled_from(["float32", "float16", "bfloat16", None]), st.just("float64")),
        "channels_last": mostly(st.booleans(), JSON_VALUES),
        "attention": mostly(st.sampled_from(["sdpa", "eager"]), st.just("flash")),
    },
)
UNET_FILES = st.sampled_from(
    ["../x.onnx", "/etc/passwd", "unet/missing.onnx", "unet\0.onnx", "", "unet", "unet/config.json"]
)
ONNX = st.fixed_dictionaries(
    {},
    optional={
        "unet_file": mostly(st.just("unet/model.onnx"), UNET_FILES | st.text(max_size=16)),
        "providers": st.lists(st.sampled_from(["CPUExecutionProvider", "CUDAExecutionProvider", "Mine"]), max_size=3),
        "graph_optimization": mostly(st.sampled_from(["disabled", "basic", "extended", "all"]), st.just("max")),
    },
)
MANIFESTS = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "format_version": mostly(st.just(1), st.sampled_from([2, "1", None])),
            "runtime": mostly(st.sampled_from(["diffusers", "onnxruntime"]), st.just("tensorrt") | JSON_VALUES),
            "torch": mostly(TORCH, JSON_VALUES),
            "onnx": mostly(ONNX | st.none(), JSON_VALUES),
        },
    ),
    st.dictionaries(st.sampled_from(["runtime", "foo", "auto_map"]) | st.text(max_size=8), JSON_VALUES) | JSON_VALUES,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=MANIFESTS)
def test_fuzzed_manifests_are_accepted_or_refused_nothing_else(fuzz_checkpoint: Path, document: Any) -> None:
    (fuzz_checkpoint / MANIFEST_NAME).write_text(json.dumps(document), encoding="utf-8")
    try:
        manifest = inspect_checkpoint(fuzz_checkpoint)
    except CheckpointRefused as error:
        assert error.reason
    else:
        assert manifest == Manifest.model_validate(document)


def test_special_files_are_refused(checkpoint: Path) -> None:
    os.mkfifo(checkpoint / "vae" / "pipe.json")
    error = refusal(checkpoint)
    assert (error.path, error.reason) == ("vae/pipe.json", "not a regular file")


def test_unreadable_folder_is_refused(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.walk skips folders it cannot list unless told otherwise; simulated, as root reads every folder."""
    scandir = os.scandir

    def denied(path: str) -> Any:
        if Path(path).name == "vae":
            raise PermissionError(13, "Permission denied", path)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    error = refusal(checkpoint)
    assert (error.path, error.reason) == ("vae", "cannot be read: Permission denied")


def write_raw_manifest(folder: Path, document: dict[str, Any]) -> None:
    (folder / MANIFEST_NAME).write_text(json.dumps(document), encoding="utf-8")


def test_a_format_1_manifest_still_loads(checkpoint: Path) -> None:
    write_raw_manifest(checkpoint, {"format_version": 1, "runtime": "diffusers", "torch": {"channels_last": True}})
    manifest = inspect_checkpoint(checkpoint)
    assert manifest.format_version == 1 and manifest.torch.channels_last


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ({"generation": {"steps": 4}}, "generation"),
        ({"torch": {"compile": {}}}, "torch.compile"),
        ({"onnx": {"tensorrt": {}}}, "onnx.tensorrt"),
        ({"onnx": {"parts": []}}, "onnx.parts"),
    ],
)
def test_a_format_1_manifest_with_a_format_2_key_is_refused_naming_it(
    checkpoint: Path, document: dict[str, Any], key: str
) -> None:
    write_raw_manifest(checkpoint, {"format_version": 1, **document})
    assert f"'{key}' needs format_version 2" in refusal(checkpoint).reason


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ({"generation": {"steps": 0}}, "generation.steps"),
        ({"generation": {"guidance_stop": 1.5}}, "generation.guidance_stop"),
        ({"generation": {"scheduler": "MyScheduler"}}, "generation.scheduler"),
        ({"caching": {"deepcache": {"interval": 1}}}, "caching.deepcache.interval"),
        ({"caching": {"token_merging": {"ratio": 0.9}}}, "caching.token_merging.ratio"),
        ({"torch": {"quantization": "int4"}}, "torch.quantization"),
        ({"torch": {"compile": {"mode": "fastest"}}}, "torch.compile.mode"),
        ({"onnx": {"tensorrt": {"builder_optimization_level": 9}}}, "onnx.tensorrt.builder_optimization_level"),
        ({"onnx": {"parts": ["vae_encoder"]}}, "onnx.parts.0"),
        ({"onnx": {"parts": ["vae_decoder", "vae_decoder"]}}, "onnx.parts"),
    ],
)
def test_out_of_range_options_are_refused_naming_the_key(checkpoint: Path, document: dict, key: str) -> None:
    write_raw_manifest(checkpoint, {"format_version": 2, **document})
    assert f"invalid manifest value for '{key}'" in refusal(checkpoint).reason


def test_unknown_option_keys_are_refused_naming_the_key(checkpoint: Path) -> None:
    write_raw_manifest(checkpoint, {"format_version": 2, "caching": {"deepcache": {"layers": 3}}})
    assert refusal(checkpoint).reason == "unknown manifest key 'caching.deepcache.layers'"


def test_more_steps_than_the_contest_is_refused(checkpoint: Path) -> None:
    write_raw_manifest(checkpoint, {"format_version": 2, "generation": {"steps": 12}})
    error = refusal(checkpoint, max_steps=8)
    assert (error.path, error.reason) == (MANIFEST_NAME, "generation.steps 12 is above the contest's 8")
    assert inspect_checkpoint(checkpoint, max_steps=12).generation.steps == 12


def with_parts(checkpoint: Path, parts: list[str], model: onnx.ModelProto | None = None) -> Path:
    """An ONNX checkpoint that also runs ``parts`` in ONNX Runtime; each part file holds ``model`` (if given)."""
    (checkpoint / "unet" / "diffusion_pytorch_model.safetensors").unlink(missing_ok=True)
    make_onnx(checkpoint, add_model())
    for part in parts:
        if model is not None:
            (checkpoint / ONNX_PART_FILES[part]).write_bytes(model.SerializeToString())
    write_manifest(checkpoint, Manifest(runtime="onnxruntime", onnx=OnnxOptions(parts=tuple(parts))))
    return checkpoint


def test_onnx_parts_replace_the_torch_weights_of_their_components(checkpoint: Path) -> None:
    (checkpoint / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    error = refusal(with_parts(checkpoint, []))
    assert (error.path, error.reason) == ("vae", "no safetensors weights for vae")
    assert inspect_checkpoint(with_parts(checkpoint, ["vae_decoder"], add_model())).onnx.parts == ("vae_decoder",)


def test_a_missing_onnx_part_file_is_refused_naming_it(checkpoint: Path) -> None:
    error = refusal(with_parts(checkpoint, ["text_encoder_2"]))
    assert (error.path, error.reason) == ("text_encoder_2/model.onnx", "ONNX model file is missing")


def ep_context_model() -> onnx.ModelProto:
    node = helper.make_node("EPContext", ["x"], ["y"], name="trt_engine_0", domain="com.microsoft")
    graph = helper.make_graph(
        [node],
        "engine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=10)


def test_an_ep_context_node_is_refused_naming_it(checkpoint: Path) -> None:
    make_onnx(checkpoint, ep_context_model())
    error = refusal(checkpoint)
    assert error.path == "unet/model.onnx"
    assert error.reason.startswith("node trt_engine_0 is an EPContext node: prebuilt engines")


def test_an_ep_context_node_in_an_onnx_part_is_refused_naming_the_part(checkpoint: Path) -> None:
    error = refusal(with_parts(checkpoint, ["vae_decoder"], ep_context_model()))
    assert error.path == "vae/decoder.onnx" and "EPContext node" in error.reason


@pytest.mark.parametrize(
    "name",
    ["unet/model.engine", "unet/TensorrtExecutionProvider_cache_sm89.timing", "unet/model.plan", "unet/model.profile"],
)
def test_engine_files_and_timing_caches_are_refused_naming_them(checkpoint: Path, name: str) -> None:
    (checkpoint / name).write_bytes(b"engine")
    error = refusal(checkpoint)
    assert error.path == name and "the validator builds its own" in error.reason


def pickled(protocol: int) -> bytes:
    return pickle.dumps({"weight": [1.0, 2.0]}, protocol=protocol)


def torch_saved() -> bytes:
    buffer = io.BytesIO()
    torch.save({"weight": torch.ones(2)}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name",
    [
        "unet/weights.data",
        "unet/notes.txt",
        "vae/config.json",
        "text_encoder/model.safetensors",
        "unet/model.onnx",
        "LICENSE",
    ],
)
@pytest.mark.parametrize("content", [pickled(2), torch_saved()], ids=["pickle", "torch.save"])
def test_a_pickle_under_any_name_is_refused_as_a_pickle(checkpoint: Path, name: str, content: bytes) -> None:
    (checkpoint / name).write_bytes(content)
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (name, PICKLE_REASON)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_binary_pickle_protocol_is_recognised(checkpoint: Path, protocol: int) -> None:
    (checkpoint / "unet" / "weights.data").write_bytes(pickled(protocol))
    assert refusal(checkpoint).reason == PICKLE_REASON


def safetensors_bytes(header: bytes, payload: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + payload


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "its header length does not fit the file"),
        (b"plain text, not weights", "its header length does not fit the file"),
        (struct.pack("<Q", 10**9) + b"{}", "its header length does not fit the file"),
        (safetensors_bytes(b'["w"]'), "its header is not a JSON object"),
        (safetensors_bytes(b"{not json}"), "invalid header: "),
        (safetensors_bytes(b"{" + b'"a":[' * 40 + b"]" * 40 + b"}"), "invalid header: nested 41 deep"),
        (
            safetensors_bytes(
                b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F16","shape":[2],'
                b'"data_offsets":[0,4]}}'.ljust(88),
                b"\0" * 4,
            ),
            "invalid header: the key 'w' is written twice in one object",
        ),
    ],
)
def test_a_safetensors_file_that_is_not_one_is_refused(checkpoint: Path, content: bytes, reason: str) -> None:
    (checkpoint / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(content)
    error = refusal(checkpoint)
    assert error.path == "unet/diffusion_pytorch_model.safetensors"
    assert error.reason.startswith(f"not a safetensors file: {reason}")


def test_a_safetensors_file_whose_header_length_starts_like_a_pickle_passes(checkpoint: Path) -> None:
    """A header of 640 bytes is written 80 02 00 ...: a real file, which the safetensors library reads."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode().ljust(640)
    path = checkpoint / "unet" / "extra.safetensors"
    path.write_bytes(safetensors_bytes(header, np.ones(1, dtype=np.float32).tobytes()))
    assert path.read_bytes()[:2] == b"\x80\x02" and load_file(path)["w"].tolist() == [1.0]
    assert inspect_checkpoint(checkpoint) == Manifest()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("unet/notes.txt", b"text\0with a NUL", "not a text file: it holds NUL bytes"),
        ("README.md", "caf\xe9".encode("latin-1"), "not a text file: it is not UTF-8"),
        ("LICENSE", b"ends in half a character \xc3", "not a text file: it is not UTF-8"),
    ],
)
def test_text_files_must_be_utf8_without_nul_bytes(checkpoint: Path, name: str, content: bytes, reason: str) -> None:
    (checkpoint / name).write_bytes(content)
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (name, reason)


def test_a_character_split_across_read_chunks_is_still_utf8(checkpoint: Path) -> None:
    (checkpoint / "LICENSE").write_bytes(b"x" * (READ_CHUNK - 1) + "é".encode())
    assert inspect_checkpoint(checkpoint) == Manifest()


def test_json_nested_past_the_limit_is_refused_from_its_bytes(checkpoint: Path) -> None:
    """Valid JSON 40 deep parses fine: only the scan before parsing can refuse it."""
    (checkpoint / "vae" / "extra.json").write_text("[" * 40 + "]" * 40)
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (
        "vae/extra.json",
        f"invalid JSON: nested 40 deep, over the limit of {MAX_JSON_DEPTH}",
    )


def test_a_json_key_written_twice_in_one_object_is_refused(checkpoint: Path) -> None:
    """Python keeps the last value and other readers the first: the file is refused, not read one way."""
    (checkpoint / "unet" / "config.json").write_text('{"in_channels": 4, "layers": {"a": 1, "a": 2}}')
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (
        "unet/config.json",
        "invalid JSON: the key 'a' is written twice in one object",
    )


def test_json_over_the_size_limit_is_refused_before_it_is_parsed(checkpoint: Path) -> None:
    with (checkpoint / "vae" / "extra.json").open("wb") as handle:
        handle.truncate(MAX_JSON_BYTES + 1)
    error = refusal(checkpoint)
    assert (error.path, error.reason) == ("vae/extra.json", f"JSON file is over the limit of {MAX_JSON_BYTES} bytes")


def reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    return 0


BRACKETY_TEXT = st.text(alphabet='[]{}"\\ a\u00e9\n', max_size=8)
NESTED = st.recursive(
    st.none() | st.integers() | BRACKETY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(BRACKETY_TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=NESTED, ascii_only=st.booleans(), indent=st.sampled_from([None, 2]))
def test_json_depth_counts_only_brackets_outside_strings(value: Any, ascii_only: bool, indent: int | None) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode()
    assert json_depth(text) == reference_depth(value)


def test_unreferenced_onnx_external_data_is_refused(checkpoint: Path) -> None:
    (checkpoint / "unet" / "model.onnx.data").write_bytes(np.ones(4, dtype=np.float32).tobytes())
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (
        "unet/model.onnx.data",
        "ONNX external data that no ONNX model in the checkpoint references",
    )


def test_an_onnx_file_the_runtime_does_not_use_is_inspected_too(checkpoint: Path) -> None:
    (checkpoint / "vae" / "decoder.onnx").write_bytes(add_model(domain="com.example.fast").SerializeToString())
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (
        "vae/decoder.onnx",
        "custom operator domain 'com.example.fast' (node Add) is not accepted",
    )


def test_an_onnx_model_over_protobufs_limit_is_refused_before_parsing(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_onnx(checkpoint, add_model())
    size = (checkpoint / "unet" / "model.onnx").stat().st_size
    monkeypatch.setattr(checkpoint_guard, "MAX_ONNX_BYTES", size - 1)
    monkeypatch.setattr(checkpoint_guard.onnx, "load", lambda *_, **__: pytest.fail("parsed"))
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (
        "unet/model.onnx",
        f"ONNX model file is {size} bytes, over protobuf's limit of {size - 1}",
    )


@pytest.fixture(scope="module")
def sharded_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline as diffusers saves it with its UNet and VAE weights in 1 MB shards."""
    folder = tmp_path_factory.mktemp("sharded") / "checkpoint"
    build_tiny_sdxl(0).save_pretrained(folder, safe_serialization=True, max_shard_size="1MB")
    return folder


def test_a_sharded_pipeline_as_diffusers_saves_it_passes(sharded_checkpoint: Path) -> None:
    assert (sharded_checkpoint / "unet" / "diffusion_pytorch_model.safetensors.index.json").is_file()
    assert inspect_checkpoint(sharded_checkpoint) == Manifest()


def write_index(checkpoint: Path, weight_map: Any, name: str = "text_encoder/model.safetensors.index.json") -> str:
    (checkpoint / name).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return name


def test_a_shard_index_naming_a_safetensors_file_beside_it_passes(checkpoint: Path) -> None:
    write_index(checkpoint, {"a": "model.safetensors", "b": "model.safetensors"})
    assert inspect_checkpoint(checkpoint) == Manifest()


@pytest.mark.parametrize(
    "shard",
    ["../text_encoder_2/model.safetensors", "sub/model.safetensors", "/etc/passwd", "weights.data", "..", None, ["x"]],
)
def test_a_shard_index_reaching_past_its_folder_or_to_other_formats_is_refused(checkpoint: Path, shard: Any) -> None:
    (checkpoint / "text_encoder" / "weights.data").write_bytes(b"\0" * 8)
    name = write_index(checkpoint, {"a": "model.safetensors", "b": shard})
    error = refusal(checkpoint)
    assert error.path == name
    assert error.reason.startswith(f"shard {shard!r} is not the plain name of a .safetensors file beside the index")


def test_a_shard_index_naming_a_missing_shard_or_no_map_is_refused(checkpoint: Path) -> None:
    name = write_index(checkpoint, {"a": "absent.safetensors"})
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (name, "shard 'absent.safetensors' is missing")
    (checkpoint / name).write_text(json.dumps({"metadata": {}}))
    assert refusal(checkpoint).reason == "a shard index needs a non-empty 'weight_map' object"


TOKENIZER_CONFIG_FILE = "tokenizer/tokenizer_config.json"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("fast_tokenizer_files", ["tokenizer.json", "../../outside/tokenizer.4.0.0.json"]),
        ("fast_tokenizer_files", "/etc/passwd"),
        ("fast_tokenizer_files", [".."]),
        ("fast_tokenizer_files", 3),
        ("fast_tokenizer_files", ""),
    ],
)
def test_tokenizer_paths_leaving_the_tokenizers_folder_are_refused(checkpoint: Path, key: str, value: Any) -> None:
    edit_json(checkpoint / TOKENIZER_CONFIG_FILE, **{key: value})
    error = refusal(checkpoint)
    assert error.path == TOKENIZER_CONFIG_FILE
    assert error.reason.startswith(f"'{key}' must be null or name a file in the tokenizer's own folder (got ")


def test_file_keys_transformers_resolves_itself_are_inert_and_pass(checkpoint: Path) -> None:
    """Values older transformers saved (absolute cache paths) load nothing: the tokenizer's own files are read."""
    from transformers import CLIPTokenizer

    before = CLIPTokenizer.from_pretrained(checkpoint / "tokenizer")("a red star").input_ids
    outside = checkpoint.parent / "outside"
    outside.mkdir()
    (outside / "vocab.json").write_text(json.dumps({"a": 0}))
    edit_json(
        checkpoint / TOKENIZER_CONFIG_FILE,
        tokenizer_file="/home/user/.cache/huggingface/tokenizer.json",
        vocab_file=str(outside / "vocab.json"),
        merges_file="../../outside/merges.txt",
        special_tokens_map_file="/home/user/.cache/huggingface/special_tokens_map.json",
    )
    assert inspect_checkpoint(checkpoint) == Manifest()
    assert CLIPTokenizer.from_pretrained(checkpoint / "tokenizer")("a red star").input_ids == before


def test_tokenizer_paths_inside_the_tokenizers_folder_or_null_pass(checkpoint: Path) -> None:
    edit_json(
        checkpoint / TOKENIZER_CONFIG_FILE,
        fast_tokenizer_files=["tokenizer.4.0.0.json"],
        tokenizer_file="tokenizer.json",
        vocab_file=None,
        merges_file="sub/../merges.txt",
    )
    assert inspect_checkpoint(checkpoint) == Manifest()


@pytest.mark.parametrize(
    ("name", "changes", "key"),
    [
        ("unet/config.json", {"quantization_config": {"quant_method": "bitsandbytes"}}, "quantization_config"),
        ("text_encoder/config.json", {"attn_implementation": "flash_attention_2"}, "attn_implementation"),
        ("text_encoder_2/config.json", {"_attn_implementation": "flex_attention"}, "_attn_implementation"),
        ("vae/config.json", {"use_flash_attention_2": True}, "use_flash_attention_2"),
        ("text_encoder/config.json", {"transformers_weights": "other.safetensors"}, "transformers_weights"),
        (
            "text_encoder/config.json",
            {"text_config": {"experts_implementation": "grouped_mm"}},
            "experts_implementation",
        ),
        ("unet/config.json", {"fusion_config": {"mlp": True}}, "fusion_config"),
        ("scheduler/scheduler_config.json", {"extra": [{"quantization_config": None}]}, "quantization_config"),
    ],
)
def test_config_keys_that_choose_a_code_path_are_refused(checkpoint: Path, name: str, changes: dict, key: str) -> None:
    edit_json(checkpoint / name, **changes)
    error = refusal(checkpoint)
    assert (error.path, error.reason) == (
        name,
        f"config key '{key}' is not accepted: only the manifest chooses how it runs",
    )
