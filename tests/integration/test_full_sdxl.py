"""SDXL at its published size, built offline from a seed: what a device check builds where the Hub is out of reach.

Built once in memory (7 GB, a few seconds), read by every test below; marked slow. Saving it, 7 GB written to disk
(most of a minute on a small machine), and judging the saved folder are the device check's
(``benchmarks/device_check.py``), on the device the contest runs on.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline

from base.stores import folder_digest
from contest.baseline import ensure_image_encoder
from contest.definitions import get_contest
from pipelines.full_sdxl import build_full_sdxl
from pipelines.generation import GenerationInput
from pipelines.torch_runtime import DiffusersRuntime

pytestmark = pytest.mark.slow
CONTEST = get_contest("sdxl-offline-cuda")
# Parameter counts of stabilityai/stable-diffusion-xl-base-1.0, as published.
PUBLISHED_PARAMETERS = {
    "unet": 2_567_463_684,
    "vae": 83_653_863,
    "text_encoder": 123_060_480,
    "text_encoder_2": 694_659_840,
}


@pytest.fixture(scope="module")
def full_size() -> StableDiffusionXLPipeline:
    """Released with the module's fixtures: its 7 GB are not kept past this file's tests."""
    assert CONTEST.baseline.source == "full-size-sdxl" and CONTEST.baseline.seed is not None
    return build_full_sdxl(CONTEST.baseline.seed)


def test_each_component_has_sdxls_published_size_in_half_precision(full_size: StableDiffusionXLPipeline) -> None:
    for component, expected in PUBLISHED_PARAMETERS.items():
        parameters = list(getattr(full_size, component).parameters())
        assert sum(parameter.numel() for parameter in parameters) == expected, component
        assert {parameter.dtype for parameter in parameters} == {torch.float16}, component


def test_the_offline_contests_models_are_built_once_under_the_data_folder(tmp_path: Path) -> None:
    """Built offline from their seeds, as the full-size baseline is, and cached: the image encoder, which is small."""
    folder = ensure_image_encoder(CONTEST, tmp_path)
    assert folder == tmp_path / "image-encoders" / CONTEST.id
    built = (folder_digest(folder), folder.stat().st_mtime_ns)
    assert ensure_image_encoder(CONTEST, tmp_path) == folder  # not built again
    assert (folder_digest(folder), folder.stat().st_mtime_ns) == built
    assert [path.name for path in (tmp_path / "image-encoders").iterdir()] == [CONTEST.id]  # no half-built folder


def test_it_draws_a_step_at_a_small_size_on_the_cpu(full_size: StableDiffusionXLPipeline) -> None:
    """The smallest picture each of the UNet's blocks can still halve (a 4x4 latent), one unguided pass: what is
    tested is that the published-size weights run together. Guidance is the tiny contest's everyday path, and here
    a guided 64x64 step takes twice as long in half precision on a CPU."""
    settings = replace(CONTEST.generation, width=32, height=32, steps=1, guidance_scale=1.0)
    (image,) = DiffusersRuntime(full_size, settings).generate([GenerationInput("a red star on a blue background", 1)])
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert image.std() > 1.0  # a picture, not one flat colour
