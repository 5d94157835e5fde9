"""The embedded contest's trained models: training is reproducible from seeds, and what ships is what the contest
names, checked before use."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from base.stores import folder_digest
from contest.baseline import ensure_models
from contest.definitions import get_contest
from pipelines.generation import GenerationInput
from pipelines.image_encoder import ImageEncoder
from pipelines.loader import load_runtime
from pipelines.manifest import Manifest
from pipelines.tiny_world.train import TrainingPlan, main, train

CONTEST = get_contest("tiny-sdxl-cpu")
MICRO = TrainingPlan(
    scenes=16, vae_steps=2, vae_batch=2, clip_steps=2, clip_batch=4, unet_steps=2, unet_batch=2, image_size=64
)


def test_the_same_plan_trains_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = [folder_digest(folder) for folder in train(tmp_path / "first", MICRO)]
    assert [folder_digest(folder) for folder in train(tmp_path / "again", MICRO)] == first
    other = train(tmp_path / "other", dataclasses.replace(MICRO, seed=1))
    assert folder_digest(other[0]) != first[0] and folder_digest(other[1]) != first[1]


def test_what_training_writes_loads_as_the_validator_loads_it(tmp_path: Path) -> None:
    baseline, image_encoder = train(tmp_path / "trained", MICRO)
    settings = dataclasses.replace(CONTEST.generation, width=64, height=64, steps=2)
    (picture,) = load_runtime(baseline, Manifest(), settings, "cpu", "float32").generate(
        [GenerationInput("a small red star at the top left on a blue background", 1)]
    )
    assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
    assert ImageEncoder(image_encoder, "cpu").embed([picture]).shape == (1, 32)


def test_the_command_refuses_a_share_of_no_steps(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--output", str(tmp_path), "--steps", "0"])
    assert "--steps must be above 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_shipped_models_are_the_ones_the_contest_names(tmp_path: Path) -> None:
    models = ensure_models(CONTEST, tmp_path)
    assert folder_digest(models.baseline).hex() == CONTEST.baseline.sha256
    assert folder_digest(models.image_encoder).hex() == CONTEST.similarity.image_encoder.sha256


def test_a_shipped_model_that_is_not_the_named_one_is_refused_and_nothing_is_cached(tmp_path: Path) -> None:
    other = dataclasses.replace(CONTEST.baseline, sha256="0" * 64)
    contest = dataclasses.replace(CONTEST, baseline=other)
    with pytest.raises(ValueError, match=f"has digest {CONTEST.baseline.sha256}, not the contest's 0000"):
        ensure_models(contest, tmp_path)
    assert not (tmp_path / "baselines" / CONTEST.id).exists()
    missing = dataclasses.replace(CONTEST, baseline=dataclasses.replace(CONTEST.baseline, path="no/such/model"))
    with pytest.raises(ValueError, match="is not shipped at"):
        ensure_models(missing, tmp_path)
