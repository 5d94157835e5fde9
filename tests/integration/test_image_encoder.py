"""The similarity gate's image encoder: shipped (or built from a seed), safetensors only, in a worker of its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from base.stores import folder_digest
from contest.baseline import ContestModels
from contest.definitions import get_contest
from contest.inputs import derive_inputs
from contest.judging.embedding import ImageEncoderWorker
from pipelines.image_encoder import ImageEncoder, save_tiny_image_encoder
from pipelines.loader import load_runtime
from pipelines.manifest import Manifest

CONTEST = get_contest("tiny-sdxl-cpu")


@pytest.fixture(scope="module")
def drawn(tiny_checkpoint: Path) -> list[np.ndarray]:
    """Four images the tiny baseline draws, and four it draws for other prompts."""
    runtime = load_runtime(tiny_checkpoint, Manifest(), CONTEST.generation, "cpu", CONTEST.default_dtype)
    first, second = (derive_inputs(block, CONTEST.id, 4, CONTEST.prompts) for block in (b"\x01" * 32, b"\x02" * 32))
    return runtime.generate(first + second)


def test_the_same_seed_builds_the_same_untrained_encoder(tmp_path: Path) -> None:
    one = save_tiny_image_encoder(tmp_path / "one", seed=0)
    assert folder_digest(save_tiny_image_encoder(tmp_path / "again", seed=0)) == folder_digest(one)
    assert folder_digest(save_tiny_image_encoder(tmp_path / "other", seed=1)) != folder_digest(one)


def test_embeddings_have_length_one_and_tell_pictures_apart(tiny_models: ContestModels, drawn) -> None:
    embeddings = ImageEncoder(tiny_models.image_encoder, "cpu").embed(drawn)
    assert embeddings.shape == (8, 32) and embeddings.dtype == np.float32
    assert np.linalg.norm(embeddings, axis=1) == pytest.approx(np.ones(8), abs=1e-5)
    same = ImageEncoder(tiny_models.image_encoder, "cpu").embed(drawn[:4])
    np.testing.assert_array_equal(same, embeddings[:4])
    others = np.einsum("ij,ij->i", embeddings[:4], embeddings[4:])
    assert np.all(others < 0.9999)


def test_an_encoder_with_only_pickled_weights_is_refused(tmp_path: Path, tiny_models: ContestModels) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_models.image_encoder, folder)
    weights = folder / "model.safetensors"
    torch.save(load_file(weights), folder / "pytorch_model.bin")
    weights.unlink()
    with pytest.raises(OSError, match="safetensors"):
        ImageEncoder(folder, "cpu")


def test_the_worker_scores_the_baseline_one_and_a_blank_or_another_prompt_lower(
    tiny_models: ContestModels, drawn
) -> None:
    baseline, other_prompts = drawn[:4], drawn[4:]
    blank = [np.zeros_like(image) for image in baseline]
    with ImageEncoderWorker(tiny_models.image_encoder, CONTEST) as encoder:
        itself = encoder.similarity(baseline, [image.copy() for image in baseline])
        wrong = encoder.similarity(baseline, other_prompts)
        empty = encoder.similarity(baseline, blank)
    assert itself.minimum == pytest.approx(1.0, abs=1e-5)
    assert itself.clip == pytest.approx((1.0,) * 4, abs=1e-5)
    for failing in (wrong, empty):
        assert failing.minimum < CONTEST.similarity.threshold
    assert max(wrong.clip) < 0.9  # the trained CLIP tells pictures of other sentences apart by what they show
    assert max(empty.clip) < 0.9 and max(empty.ssim) < 0.5
