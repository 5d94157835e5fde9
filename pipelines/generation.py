"""What a runtime is asked to do, and the one contract every runtime implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class GenerationInput:
    """One image to generate; ``seed`` seeds ``torch.Generator("cpu").manual_seed``."""

    prompt: str
    seed: int


@dataclass(frozen=True)
class GenerationSettings:
    """The contest's fixed generation parameters; inputs vary, these never do within a contest."""

    width: int
    height: int
    steps: int
    guidance_scale: float


class Runtime(Protocol):
    """``generate(inputs) -> images``: one uint8 HxWx3 image per input, in input order."""

    def generate(self, inputs: Sequence[GenerationInput]) -> list[np.ndarray]: ...


def to_uint8(images: np.ndarray) -> list[np.ndarray]:
    """Pipeline output in [0, 1] floats to uint8 images; NaN becomes 0 so a broken model still compares."""
    clean = np.nan_to_num(images.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return [frame for frame in (np.clip(clean, 0.0, 1.0) * 255.0).round().astype(np.uint8)]


def check_image(image: np.ndarray, shape: tuple[int, int, int]) -> None:
    """Refuse an image that is not the contest's uint8 HxWx3, before it reaches the comparison."""
    if image.shape != shape or image.dtype != np.uint8:
        drawn = "x".join(map(str, image.shape))
        wanted = "x".join(map(str, shape))
        raise ValueError(f"the checkpoint drew a {drawn} {image.dtype} image; the contest's is {wanted} uint8")
