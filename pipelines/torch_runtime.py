"""The diffusers/torch runtime: the reference way to run a checkpoint, and the host for other runtimes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionXLPipeline
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from base.inputs import GenerationInput
from pipelines.generation import GenerationSettings, to_uint8
from pipelines.manifest import TorchOptions

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def load_sdxl_pipeline(
    folder: Path, device: str, dtype: str, **components: torch.nn.Module | None
) -> StableDiffusionXLPipeline:
    """Load through the ordinary diffusers path: local files, safetensors only, no remote code."""
    pipeline = StableDiffusionXLPipeline.from_pretrained(
        folder,
        dtype=TORCH_DTYPES[dtype],
        use_safetensors=True,
        local_files_only=True,
        add_watermarker=False,
        **components,
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


def apply_torch_options(pipeline: StableDiffusionXLPipeline, options: TorchOptions) -> None:
    processor = AttnProcessor2_0() if options.attention == "sdpa" else AttnProcessor()
    for model in (pipeline.unet, pipeline.vae):
        if hasattr(model, "set_attn_processor"):
            model.set_attn_processor(processor)
    if options.channels_last:
        for model in (pipeline.unet, pipeline.vae):
            if isinstance(model, torch.nn.Module):
                model.to(memory_format=torch.channels_last)


class DiffusersRuntime:
    """Runs a ``StableDiffusionXLPipeline``; one CPU generator per input keeps latents reproducible."""

    def __init__(self, pipeline: StableDiffusionXLPipeline, settings: GenerationSettings) -> None:
        self.pipeline = pipeline
        self.settings = settings

    @torch.inference_mode()
    def generate(self, inputs: Sequence[GenerationInput]) -> list[np.ndarray]:
        images: list[np.ndarray] = []
        for item in inputs:
            output = self.pipeline(
                prompt=item.prompt,
                width=self.settings.width,
                height=self.settings.height,
                num_inference_steps=self.settings.steps,
                guidance_scale=self.settings.guidance_scale,
                generator=torch.Generator("cpu").manual_seed(item.seed),
                output_type="np",
            )
            images.extend(to_uint8(output.images))
        return images
