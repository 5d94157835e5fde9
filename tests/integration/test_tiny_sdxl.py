import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.generation import GenerationInput, GenerationSettings
from pipelines.loader import load_runtime
from pipelines.manifest import Manifest
from pipelines.shape_world import grammar_words
from pipelines.tiny_sdxl import build_tiny_sdxl, build_tokenizer
from pipelines.torch_runtime import DiffusersRuntime

SETTINGS = GenerationSettings(width=128, height=128, steps=4, guidance_scale=5.0)


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def save_untrained(folder: Path, seed: int) -> Path:
    build_tiny_sdxl(seed).save_pretrained(folder, safe_serialization=True)
    return folder


def test_same_seed_builds_byte_identical_files(tmp_path: Path) -> None:
    hashes = file_hashes(save_untrained(tmp_path / "one", seed=0))
    assert hashes == file_hashes(save_untrained(tmp_path / "again", seed=0))
    assert any(name.endswith(".safetensors") for name in hashes)


def test_different_seed_builds_different_weights(tmp_path: Path) -> None:
    other = file_hashes(save_untrained(tmp_path / "other", seed=1))
    same = file_hashes(save_untrained(tmp_path / "same", seed=0))
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
    assert tokenizer.decode(ids[1:-1]) == "a red cat , über"
    assert tokenizer.convert_ids_to_tokens(ids[1:4]) == ["a</w>", "red</w>", "c"]  # "cat" is no word of the grammar


def test_every_word_of_the_grammar_is_one_token_and_a_sentence_one_token_a_word() -> None:
    tokenizer = build_tokenizer()
    for word in grammar_words():
        assert tokenizer.convert_ids_to_tokens(tokenizer(word)["input_ids"][1:-1]) == [f"{word}</w>"]
    sentence = "a small red star at the top left and a large cyan ring in the middle on an orange background"
    assert len(tokenizer(sentence)["input_ids"]) == 2 + len(sentence.split())


def test_building_does_not_disturb_the_global_torch_seed() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_sdxl(seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_a_saved_pipeline_loads_to_the_same_weights_and_draws_the_same_picture(tmp_path: Path) -> None:
    in_memory = build_tiny_sdxl(seed=0)
    in_memory.set_progress_bar_config(disable=True)
    loaded = load_runtime(save_untrained(tmp_path / "saved", seed=0), Manifest(), SETTINGS, "cpu", "float32")
    assert isinstance(loaded, DiffusersRuntime)
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        saved = getattr(loaded.pipeline, name).state_dict()
        assert all(torch.equal(tensor, saved[key]) for key, tensor in getattr(in_memory, name).state_dict().items())
    item = GenerationInput(prompt="a red cat on a hill", seed=7)
    direct = DiffusersRuntime(in_memory, SETTINGS).generate([item])[0].astype(int)
    # Loaded tensors may sum in another order: a pixel level at most, on a rounding boundary.
    difference = np.abs(direct - loaded.generate([item])[0])
    assert difference.max() <= 1 and (difference > 0).mean() < 0.001


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
