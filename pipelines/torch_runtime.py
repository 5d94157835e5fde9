"""The diffusers/torch runtime: the reference way to run a checkpoint, and the host for other runtimes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline

from pipelines.generation import GenerationInput, GenerationSettings, to_uint8
from pipelines.manifest import GenerationOptions

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def use_cpu_threads(count: int | None) -> None:
    """Draw on ``count`` CPU threads in this process (None: the library's default, one per core).

    ONNX Runtime sessions opened afterwards size their pool the same (``onnx_unet.open_session``).
    """
    if count is not None:
        torch.set_num_threads(count)


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


class GuidanceCutOff:
    """Switches classifier-free guidance off after ``guided_steps``: the batch halves for the steps left.

    A step-end callback, the way diffusers documents dynamic guidance: from then on the pipeline sees a
    guidance scale of 0 and keeps only the conditional half of the prompt tensors.
    """

    tensor_inputs = ("prompt_embeds", "add_text_embeds", "add_time_ids")

    def __init__(self, guided_steps: int) -> None:
        self.guided_steps = guided_steps

    def __call__(
        self, pipeline: StableDiffusionXLPipeline, step: int, timestep: object, tensors: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        if step + 1 != self.guided_steps or not pipeline.do_classifier_free_guidance:
            return {}
        pipeline._guidance_scale = 0.0
        return {name: tensors[name].chunk(2)[-1] for name in self.tensor_inputs}


def guided_steps(steps: int, guidance_stop: float) -> int:
    """How many of ``steps`` keep guidance: at least one, all of them when ``guidance_stop`` is 1."""
    return max(1, math.ceil(steps * guidance_stop - 1e-9))


class DiffusersRuntime:
    """Runs a ``StableDiffusionXLPipeline``; one CPU generator per input keeps latents reproducible."""

    def __init__(
        self,
        pipeline: StableDiffusionXLPipeline,
        settings: GenerationSettings,
        generation: GenerationOptions | None = None,
        keep_alive: Sequence[object] = (),
    ) -> None:
        self.pipeline = pipeline
        self._keep_alive = tuple(keep_alive)  # option helpers whose hooks the pipeline calls into
        self.settings = settings
        generation = generation or GenerationOptions()
        self.steps = generation.steps or settings.steps
        guided = guided_steps(self.steps, generation.guidance_stop)
        self._cut_off = GuidanceCutOff(guided) if guided < self.steps else None

    @torch.inference_mode()
    def generate(self, inputs: Sequence[GenerationInput]) -> list[np.ndarray]:
        images: list[np.ndarray] = []
        for item in inputs:
            output = self.pipeline(
                prompt=item.prompt,
                width=self.settings.width,
                height=self.settings.height,
                num_inference_steps=self.steps,
                guidance_scale=self.settings.guidance_scale,
                generator=torch.Generator("cpu").manual_seed(item.seed),
                output_type="np",
                callback_on_step_end=self._cut_off,
                callback_on_step_end_tensor_inputs=list(GuidanceCutOff.tensor_inputs),
            )
            images.extend(to_uint8(output.images))
        return images
