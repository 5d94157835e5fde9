import hashlib
from pathlib import Path

import numpy as np
import pytest

from pipelines.generation import GenerationInput, GenerationSettings
from pipelines.loader import load_runtime
from pipelines.manifest import Manifest
from pipelines.tiny_sdxl import build_tiny_sdxl, build_tokenizer, save_tiny_sdxl

SETTINGS = GenerationSettings(width=128, height=128, steps=4, guidance_scale=5.0)


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_same_seed_builds_byte_identical_files(tiny_checkpoint: Path, tmp_path: Path) -> None:
    rebuilt = save_tiny_sdxl(tmp_path / "again", seed=0)
    hashes = file_hashes(rebuilt)
    assert hashes == file_hashes(tiny_checkpoint)
    assert any(name.endswith(".safetensors") for name in hashes)


def test_different_seed_builds_different_weights(tiny_checkpoint: Path, tmp_path: Path) -> None:
    other = file_hashes(save_tiny_sdxl(tmp_path / "other", seed=1))
    same = file_hashes(tiny_checkpoint)
    assert other["unet/diffusion_pytorch_model.safetensors"] != same["unet/diffusion_pytorch_model.safetensors"]
    assert other["model_index.json"] == same["model_index.json"]


def test_saved_folder_is_plain_diffusers_safetensors(tiny_checkpoint: Path) -> None:
    names = set(file_hashes(tiny_checkpoint))
    for component in ("unet", "vae"):
        assert f"{component}/diffusion_pytorch_model.safetensors" in names
    assert {"text_encoder/model.safetensors", "text_encoder_2/model.safetensors"} <= names
    assert not any(name.endswith((".bin", ".pt", ".ckpt")) for name in names)


def test_tokenizer_covers_every_byte_and_wraps_with_start_and_end() -> None:
    tokenizer = build_tokenizer()
    ids = tokenizer("a red cat, über")["input_ids"]
    unknown = tokenizer.convert_tokens_to_ids(tokenizer.unk_token)
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert unknown not in ids[1:-1]
    assert len(tokenizer) == 2 * 256 + 2


def test_building_does_not_disturb_the_global_torch_seed() -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_sdxl(seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_round_trip_generates_identical_images(tiny_checkpoint: Path) -> None:
    in_memory = build_tiny_sdxl(seed=0)
    in_memory.set_progress_bar_config(disable=True)
    loaded = load_runtime(tiny_checkpoint, Manifest(), SETTINGS, "cpu", "float32")
    item = GenerationInput(prompt="a red cat on a hill", seed=7)
    from pipelines.torch_runtime import DiffusersRuntime

    direct = DiffusersRuntime(in_memory, SETTINGS).generate([item])
    assert np.array_equal(direct[0], loaded.generate([item])[0])


@pytest.fixture(scope="module")
def runtime(tiny_checkpoint: Path):
    return load_runtime(tiny_checkpoint, Manifest(), SETTINGS, "cpu", "float32")


def test_same_inputs_give_bitwise_identical_images(runtime) -> None:
    items = [GenerationInput("a blue house", 1), GenerationInput("a quiet lake", 2)]
    first, second = runtime.generate(items), runtime.generate(items)
    assert [image.shape for image in first] == [(128, 128, 3)] * 2
    assert all(image.dtype == np.uint8 for image in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_different_seeds_give_different_images(runtime) -> None:
    one, two = runtime.generate([GenerationInput("a blue house", 1), GenerationInput("a blue house", 2)])
    assert not np.array_equal(one, two)
