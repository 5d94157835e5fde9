"""How close a submission's images are to the baseline's, image by image.

An optimized checkpoint must still draw what the baseline draws for the same prompt and seed. Each image
scores a weighted sum of two agreements: SSIM on the grayscale images (the structure: edges, layout) and the
cosine of CLIP image embeddings (what is shown). Fewer steps or feature caching move pixels a little and
keep the content, so they keep a high score; a blank image, a broken model or another prompt's picture
loses both. The contest gates on the minimum over its images, so one broken image cannot hide behind a
good average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity


@dataclass(frozen=True)
class Similarity:
    mean: float
    minimum: float
    per_image: tuple[float, ...]  # the combined score of each image
    ssim: tuple[float, ...]
    clip: tuple[float, ...]  # cosine of the images' CLIP embeddings

    @classmethod
    def of(cls, per_image: tuple[float, ...], ssim: tuple[float, ...], clip: tuple[float, ...]) -> Similarity:
        """The figures the gate reads, from each image's combined score and its parts."""
        return cls(float(np.mean(per_image)), min(per_image), per_image, ssim, clip)


def _check(name: str, image: np.ndarray) -> None:
    if image.dtype != np.uint8:
        raise ValueError(f"{name} image must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{name} image must be HxWx3, got shape {image.shape}")


def ssim(reference: np.ndarray, candidate: np.ndarray) -> float:
    """SSIM of two uint8 HxWx3 images in grayscale, with the standard Gaussian 11x11 window (sigma 1.5).

    Images are uint8 by contract (pipelines clip and convert their output, NaN included), so any candidate,
    however broken, holds finite values and the grayscale images lie in [0, 1]: ``data_range`` is fixed
    rather than guessed from the images.
    """
    _check("reference", reference)
    _check("candidate", candidate)
    if reference.shape != candidate.shape:
        raise ValueError(f"image shapes differ: reference {reference.shape}, candidate {candidate.shape}")
    return float(
        structural_similarity(
            rgb2gray(reference),
            rgb2gray(candidate),
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def cosines(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, ...]:
    """Row by row cosine of two embedding matrices (rows need not be of unit length)."""
    if reference.shape != candidate.shape or reference.ndim != 2:
        raise ValueError(f"embeddings must be two matrices of one shape, got {reference.shape} and {candidate.shape}")
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    dots = np.einsum("ij,ij->i", reference, candidate)
    return tuple(float(value) for value in np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0))


def compare_images(
    reference: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    reference_embeddings: np.ndarray,
    candidate_embeddings: np.ndarray,
    clip_weight: float,
) -> Similarity:
    """Each candidate image against the reference image at the same position: ``clip_weight`` CLIP, the rest SSIM."""
    if not 0.0 <= clip_weight <= 1.0:
        raise ValueError(f"clip_weight must lie in [0, 1], got {clip_weight}")
    if len(reference) != len(candidate):
        raise ValueError(f"image counts differ: reference {len(reference)}, candidate {len(candidate)}")
    if not reference:
        raise ValueError("no images to compare")
    if len(reference_embeddings) != len(reference):
        raise ValueError(f"{len(reference_embeddings)} embeddings for {len(reference)} images")
    structural = tuple(ssim(ref, cand) for ref, cand in zip(reference, candidate, strict=True))
    semantic = cosines(reference_embeddings, candidate_embeddings)
    scores = tuple(
        (1.0 - clip_weight) * value + clip_weight * cosine for value, cosine in zip(structural, semantic, strict=True)
    )
    return Similarity.of(scores, structural, semantic)
