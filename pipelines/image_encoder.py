"""CLIP image embeddings: how close two pictures are in what they show, not pixel by pixel.

Fewer steps or feature caching legitimately move pixels; the similarity gate weighs structural agreement
(SSIM) together with the cosine of CLIP image embeddings. The SDXL contest pins a real CLIP model; the
embedded default builds a tiny CLIP vision model offline from a seed, loaded through the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModelWithProjection

TINY_IMAGE_SIZE = 64


def tiny_vision_config() -> CLIPVisionConfig:
    """A CLIP vision model with projection at a size a CPU runs in milliseconds."""
    return CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=TINY_IMAGE_SIZE,
        patch_size=8,
        projection_dim=32,
    )


def tiny_image_processor() -> CLIPImageProcessorPil:
    edge = {"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}
    return CLIPImageProcessorPil(size={"shortest_edge": TINY_IMAGE_SIZE}, crop_size=edge)


def save_image_encoder(model: CLIPVisionModelWithProjection, folder: Path) -> Path:
    """The model and the tiny processor as a folder ``ImageEncoder`` reads (safetensors weights)."""
    model.save_pretrained(folder, safe_serialization=True)
    tiny_image_processor().save_pretrained(folder)
    return folder


def save_tiny_image_encoder(folder: Path, seed: int) -> Path:
    """An untrained tiny image encoder: the same seed, the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPVisionModelWithProjection(tiny_vision_config()).eval()
    return save_image_encoder(model, folder)


class ImageEncoder:
    """Unit-length CLIP image embeddings of uint8 HxWx3 images, from a folder of safetensors weights."""

    def __init__(self, folder: Path, device: str) -> None:
        self.device = device
        self.processor = CLIPImageProcessorPil.from_pretrained(folder, local_files_only=True)
        self.model = CLIPVisionModelWithProjection.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        # transformers wraps ``to`` with functools.wraps, whose stub types the first argument as ``self``.
        self.model = self.model.to(device).eval()  # type: ignore[arg-type]  # wrong stub, see above

    @torch.inference_mode()
    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """One row per image, each of length 1, in float32 whatever the model's dtype."""
        pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        embeds = self.model(pixel_values=pixels.to(self.device, self.model.dtype)).image_embeds.float()
        return torch.nn.functional.normalize(embeds, dim=-1).cpu().numpy()
