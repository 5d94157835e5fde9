"""Turn an inspected checkpoint into a runtime: the one entry both the miner and the validator use."""

from __future__ import annotations

from pathlib import Path

from pipelines.generation import GenerationSettings, Runtime
from pipelines.manifest import Manifest, OnnxOptions
from pipelines.onnx_unet import load_onnx_unet
from pipelines.torch_runtime import TORCH_DTYPES, DiffusersRuntime, apply_torch_options, load_sdxl_pipeline


def load_runtime(
    folder: Path, manifest: Manifest, settings: GenerationSettings, device: str, default_dtype: str
) -> Runtime:
    """Load ``folder`` (already passed ``inspect_checkpoint``) with the runtime its manifest names."""
    dtype = manifest.torch.dtype or default_dtype
    if manifest.runtime == "onnxruntime":
        unet = load_onnx_unet(folder, manifest.onnx or OnnxOptions(), device, TORCH_DTYPES[dtype])
        pipeline = load_sdxl_pipeline(folder, device, dtype, unet=None)
        pipeline.unet = unet
    else:
        pipeline = load_sdxl_pipeline(folder, device, dtype)
    apply_torch_options(pipeline, manifest.torch)
    return DiffusersRuntime(pipeline, settings)
