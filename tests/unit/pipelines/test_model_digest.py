"""The model digest: the baseline however it is dressed digests as the baseline; any change to what the
loader reads or how it runs does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from contest.definitions import get_contest
from pipelines.manifest import MANIFEST_NAME
from pipelines.model_digest import model_digest
from pipelines.tiny_sdxl import build_tiny_sdxl
from tests.support.checkpoints import add_model, make_onnx, with_external_weight

CONTEST = get_contest("tiny-sdxl-cpu")
STEPS = CONTEST.generation.steps


def digest(folder: Path) -> bytes:
    return model_digest(folder, CONTEST.default_dtype, STEPS)


@pytest.fixture(scope="module")
def baseline_digest(tiny_checkpoint: Path) -> bytes:
    return digest(tiny_checkpoint)


@pytest.fixture
def checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_checkpoint, tmp_path / "checkpoint"))


def manifest(folder: Path, document: dict[str, Any]) -> Path:
    (folder / MANIFEST_NAME).write_text(json.dumps(document), encoding="utf-8")
    return folder


def change_a_weight(path: Path) -> None:
    weights = load_file(path)
    name = sorted(weights)[0]
    weights[name] = weights[name] + np.float32(1e-3)
    save_file(weights, path)


@pytest.mark.parametrize(
    "document",
    [
        {"generation": {"scheduler": "EulerDiscreteScheduler", "steps": STEPS}},
        {"format_version": 1, "runtime": "diffusers", "torch": {"dtype": CONTEST.default_dtype}},
        {"onnx": {"unet_file": "unet/model.onnx", "providers": ["CPUExecutionProvider"]}},
        {"generation": {"guidance_stop": 1.0}, "caching": {}},
    ],
    ids=["scheduler-and-steps", "format-1-dtype", "unused-onnx-section", "default-options"],
)
def test_a_manifest_restating_what_runs_anyway_digests_as_none(
    checkpoint: Path, baseline_digest: bytes, document: dict[str, Any]
) -> None:
    assert digest(manifest(checkpoint, document)) == baseline_digest


@pytest.mark.parametrize("name", ["unet/LICENSE", "LICENSE.txt", "README.md", "vae/README.md", "tokenizer/LICENSE.txt"])
def test_documentation_is_not_digested(checkpoint: Path, baseline_digest: bytes, name: str) -> None:
    (checkpoint / name).write_text("MIT License\n")
    assert digest(checkpoint) == baseline_digest


def test_files_the_diffusers_runtime_never_reads_are_not_digested(checkpoint: Path, baseline_digest: bytes) -> None:
    """An ONNX export beside the torch weights, and a weights file under a name no loader looks for."""
    (checkpoint / "unet" / "model.onnx").write_bytes(add_model().SerializeToString())
    (checkpoint / "unet" / "spare.safetensors").write_bytes(
        (checkpoint / "vae" / "diffusion_pytorch_model.safetensors").read_bytes()
    )
    assert digest(checkpoint) == baseline_digest


def test_json_is_digested_by_content_not_formatting(checkpoint: Path, baseline_digest: bytes) -> None:
    config = checkpoint / "unet" / "config.json"
    config.write_text(json.dumps(dict(reversed(json.loads(config.read_text()).items())), indent=7))
    assert digest(checkpoint) == baseline_digest


@pytest.mark.parametrize(
    "document",
    [
        {"generation": {"steps": 4}},
        {"generation": {"scheduler": "DDIMScheduler"}},
        {"generation": {"guidance_stop": 0.5}},
        {"torch": {"dtype": "bfloat16"}},
        {"torch": {"channels_last": True}},
    ],
)
def test_a_manifest_that_changes_how_it_runs_changes_the_digest(
    checkpoint: Path, baseline_digest: bytes, document: dict[str, Any]
) -> None:
    assert digest(manifest(checkpoint, document)) != baseline_digest


@pytest.mark.parametrize(
    "name",
    [
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
        "text_encoder_2/model.safetensors",
    ],
)
def test_one_changed_weight_changes_the_digest(checkpoint: Path, baseline_digest: bytes, name: str) -> None:
    change_a_weight(checkpoint / name)
    assert digest(checkpoint) != baseline_digest


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("scheduler/scheduler_config.json", "timestep_spacing", "trailing"),
        ("tokenizer/tokenizer_config.json", "model_max_length", 76),
        ("tokenizer_2/added_tokens.json", "<new>", 514),
        ("model_index.json", "force_zeros_for_empty_prompt", False),
        ("vae/config.json", "scaling_factor", 0.2),
    ],
)
def test_a_changed_config_or_tokenizer_file_changes_the_digest(
    checkpoint: Path, baseline_digest: bytes, name: str, key: str, value: Any
) -> None:
    path = checkpoint / name
    document = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**document, key: value}))
    assert digest(checkpoint) != baseline_digest


def test_an_onnx_checkpoint_digests_its_onnx_models_not_the_weights_they_replace(checkpoint: Path) -> None:
    (checkpoint / "unet" / "model.onnx.data").write_bytes(np.ones(4, dtype=np.float32).tobytes())
    make_onnx(checkpoint, with_external_weight(add_model(), "model.onnx.data"))
    onnx_digest = digest(checkpoint)
    change_a_weight(checkpoint / "unet" / "diffusion_pytorch_model.safetensors")  # ONNX Runtime replaces it
    assert digest(checkpoint) == onnx_digest
    (checkpoint / "unet" / "model.onnx.data").write_bytes(np.zeros(4, dtype=np.float32).tobytes())
    assert digest(checkpoint) != onnx_digest


def test_an_onnx_runtime_is_never_the_diffusers_baseline(onnx_checkpoint: Path, baseline_digest: bytes) -> None:
    assert digest(onnx_checkpoint) != baseline_digest


def test_sharded_weights_are_digested_through_their_index(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """diffusers reads the index first, and then only the shards it lists."""
    folder = tmp_path / "sharded"
    build_tiny_sdxl(0).save_pretrained(folder, safe_serialization=True, max_shard_size="1MB")
    sharded = digest(folder)
    single = "unet/diffusion_pytorch_model.safetensors"
    shutil.copyfile(tiny_checkpoint / single, folder / single)
    assert digest(folder) == sharded
    index = json.loads((folder / "unet" / "diffusion_pytorch_model.safetensors.index.json").read_text())
    change_a_weight(folder / "unet" / sorted(set(index["weight_map"].values()))[-1])
    assert digest(folder) != sharded
