"""The manifest's torch-side options, applied to a loaded pipeline: implemented once, chosen as data.

Order matters and is fixed here: the scheduler and attention first (they replace modules), then
quantisation (it swaps weights), memory layout, caching (it wraps the UNet's blocks) and compilation
last, so the compiler sees the UNet as it will run.
"""

from __future__ import annotations

import diffusers
import torch
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline

from pipelines.manifest import CachingOptions, GenerationOptions, Quantization, TorchOptions

FLOAT8_CAPABILITY = (8, 9)  # Ada Lovelace (RTX 4090) and newer have float8 tensor cores


class OptionUnavailable(RuntimeError):
    """A valid option this device or installation cannot run; the checkpoint fails with this reason."""


def apply_options(
    pipeline: StableDiffusionXLPipeline,
    torch_options: TorchOptions,
    generation: GenerationOptions,
    caching: CachingOptions,
    device: str,
) -> list[object]:
    """Apply every option in place; returns the helpers that must live as long as the pipeline."""
    if generation.scheduler is not None:
        scheduler_class = getattr(diffusers, generation.scheduler)
        pipeline.scheduler = scheduler_class.from_config(pipeline.scheduler.config)
    _set_attention(pipeline, torch_options)
    if torch_options.quantization is not None:
        quantize(pipeline.unet, torch_options.quantization, device)
    if torch_options.channels_last:
        for model in (pipeline.unet, pipeline.vae):
            if isinstance(model, torch.nn.Module):
                model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's overloads omit it
    helpers = _apply_caching(pipeline, caching)
    if torch_options.compile is not None:
        pipeline.unet = torch.compile(
            pipeline.unet, mode=torch_options.compile.mode, fullgraph=torch_options.compile.fullgraph
        )
    return helpers


def _set_attention(pipeline: StableDiffusionXLPipeline, options: TorchOptions) -> None:
    processor = AttnProcessor2_0() if options.attention == "sdpa" else AttnProcessor()
    for model in (pipeline.unet, pipeline.vae):
        if hasattr(model, "set_attn_processor"):
            model.set_attn_processor(processor)


def quantize(model: torch.nn.Module, scheme: Quantization, device: str) -> None:
    """torchao quantisation of the model's linear layers, in place."""
    if scheme.startswith("float8"):
        _require_float8(device)
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Float8WeightOnlyConfig,
        Int8DynamicActivationInt8WeightConfig,
        Int8WeightOnlyConfig,
        quantize_,
    )

    configs = {
        "int8_weight_only": Int8WeightOnlyConfig,
        "int8_dynamic": Int8DynamicActivationInt8WeightConfig,
        "float8_weight_only": Float8WeightOnlyConfig,
        "float8_dynamic": Float8DynamicActivationFloat8WeightConfig,
    }
    quantize_(model, configs[scheme]())


def _require_float8(device: str) -> None:
    if not device.startswith("cuda") or not torch.cuda.is_available():
        raise OptionUnavailable(f"float8 quantisation needs a CUDA GPU; this device is {device}")
    capability = torch.cuda.get_device_capability(torch.device(device))
    if capability < FLOAT8_CAPABILITY:
        raise OptionUnavailable(
            f"float8 quantisation needs compute capability {FLOAT8_CAPABILITY[0]}.{FLOAT8_CAPABILITY[1]} or newer; "
            f"this GPU has {capability[0]}.{capability[1]}"
        )


def _apply_caching(pipeline: StableDiffusionXLPipeline, caching: CachingOptions) -> list[object]:
    helpers: list[object] = []
    if caching.token_merging is not None:
        import tomesd

        tomesd.apply_patch(pipeline, ratio=caching.token_merging.ratio)
    if caching.deepcache is not None:
        from DeepCache import DeepCacheSDHelper

        helper = DeepCacheSDHelper(pipe=pipeline)
        helper.set_params(cache_interval=caching.deepcache.interval, cache_branch_id=caching.deepcache.branch)
        helper.enable()
        helpers.append(helper)
    return helpers
