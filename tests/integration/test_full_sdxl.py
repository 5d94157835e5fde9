"""SDXL at its published size, built offline from a seed: what a device check runs where the Hub is out of reach.

Built once (about 20 s and 7 GB here, most of it writing the files), read by every test below; marked slow.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from dataclasses import replace
from math import prod
from pathlib import Path

import numpy as np
import pytest

from contest.baseline import ensure_baseline
from contest.definitions import get_contest, inspect_for_contest
from pipelines.generation import GenerationInput
from pipelines.loader import load_runtime

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
def full_size(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("data")
    yield ensure_baseline(CONTEST, data_dir)
    shutil.rmtree(data_dir)  # 7 GB: not kept with the test's other folders


def safetensors_header(path: Path) -> dict:
    """Read independently of the safetensors library: an 8-byte little-endian length, then JSON."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
    header.pop("__metadata__", None)
    return header


def test_each_component_has_sdxls_published_size_in_half_precision(full_size: Path) -> None:
    for component, expected in PUBLISHED_PARAMETERS.items():
        tensors = [t for f in (full_size / component).glob("*.safetensors") for t in safetensors_header(f).values()]
        assert sum(prod(tensor["shape"]) for tensor in tensors) == expected, component
        assert {tensor["dtype"] for tensor in tensors} == {"F16"}, component


def test_it_passes_the_contests_guard_and_is_cached_under_the_data_folder(full_size: Path) -> None:
    assert full_size.parent.name == "baselines" and full_size.name == CONTEST.id
    assert inspect_for_contest(full_size, CONTEST).runtime == "diffusers"
    assert ensure_baseline(CONTEST, full_size.parent.parent) == full_size  # not built again


def test_it_loads_and_draws_a_step_at_a_small_size_on_the_cpu(full_size: Path) -> None:
    """The smallest picture each of the UNet's blocks can still halve (a 4x4 latent), one unguided pass: what is
    tested is that the published-size weights load and run. Guidance is the tiny contest's everyday path, and here a
    guided 64x64 step takes twice as long in half precision on a CPU."""
    settings = replace(CONTEST.generation, width=32, height=32, steps=1, guidance_scale=1.0)
    runtime = load_runtime(full_size, inspect_for_contest(full_size, CONTEST), settings, "cpu", "float16")
    (image,) = runtime.generate([GenerationInput("a red star on a blue background", seed=1)])
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert image.std() > 1.0  # a picture, not one flat colour
