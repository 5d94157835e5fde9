"""How close a submission's images are to the baseline's, image by image.

An optimized checkpoint must still draw what the baseline draws for the same prompt and seed; SSIM scores
that structural agreement, and the minimum keeps one broken image from hiding behind a good average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from skimage.metrics import structural_similarity


@dataclass(frozen=True)
class Similarity:
    mean: float
    minimum: float
    per_image: tuple[float, ...]


def ssim(reference: np.ndarray, candidate: np.ndarray) -> float:
    """SSIM of two uint8 HxWx3 images, with the standard Gaussian 11x11 window (sigma 1.5).

    Images are uint8 by contract (pipelines clip and convert their output, NaN included), so any candidate,
    however broken, holds finite values in [0, 255] and ``data_range`` is fixed at 255 rather than guessed.
    """
    for name, image in (("reference", reference), ("candidate", candidate)):
        if image.dtype != np.uint8:
            raise ValueError(f"{name} image must be uint8, got {image.dtype}")
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"{name} image must be HxWx3, got shape {image.shape}")
    if reference.shape != candidate.shape:
        raise ValueError(f"image shapes differ: reference {reference.shape}, candidate {candidate.shape}")
    return float(
        structural_similarity(
            reference,
            candidate,
            channel_axis=-1,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def compare_images(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> Similarity:
    """SSIM of each candidate image against the reference image at the same position."""
    if len(reference) != len(candidate):
        raise ValueError(f"image counts differ: reference {len(reference)}, candidate {len(candidate)}")
    if not reference:
        raise ValueError("no images to compare")
    scores = tuple(ssim(ref, cand) for ref, cand in zip(reference, candidate, strict=True))
    return Similarity(mean=float(np.mean(scores)), minimum=min(scores), per_image=scores)
