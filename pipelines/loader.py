"""Turn an inspected checkpoint into a runtime: the one entry both the miner and the validator use."""

from __future__ import annotations

from pathlib import Path

from diffusers.image_processor import VaeImageProcessor

from pipelines.generation import GenerationSettings, Runtime
from pipelines.manifest import Manifest, OnnxOptions
from pipelines.onnx_parts import load_onnx_parts
from pipelines.onnx_unet import OnnxModule, load_onnx_unet
from pipelines.options import apply_options
from pipelines.torch_runtime import TORCH_DTYPES, DiffusersRuntime, load_sdxl_pipeline


def load_runtime(
    folder: Path,
    manifest: Manifest,
    settings: GenerationSettings,
    device: str,
    default_dtype: str,
) -> Runtime:
    """Load ``folder`` (already passed ``inspect_checkpoint``) with the runtime and options its manifest names."""
    dtype = manifest.torch.dtype or default_dtype
    if manifest.runtime == "onnxruntime":
        options = manifest.onnx or OnnxOptions()
        replaced: dict[str, OnnxModule] = {"unet": load_onnx_unet(folder, options, device, TORCH_DTYPES[dtype])}
        replaced |= load_onnx_parts(folder, options, device, TORCH_DTYPES[dtype])
        pipeline = load_sdxl_pipeline(folder, device, dtype, **dict.fromkeys(replaced))
        for component, module in replaced.items():
            setattr(pipeline, component, module)
        if "vae" in replaced:  # the pipeline sized its image processor without a VAE
            pipeline.vae_scale_factor = 2 ** (len(pipeline.vae.config.block_out_channels) - 1)
            pipeline.image_processor = VaeImageProcessor(vae_scale_factor=pipeline.vae_scale_factor)
    else:
        pipeline = load_sdxl_pipeline(folder, device, dtype)
    helpers = apply_options(pipeline, manifest.torch, manifest.generation, manifest.caching, device)
    return DiffusersRuntime(pipeline, settings, manifest.generation, keep_alive=helpers)
