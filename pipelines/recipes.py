"""Optimisation recipes a miner's ``optimize()`` can apply to a checkpoint folder, in place.

Each recipe only writes data: a manifest choice from the contest's allow-list, or weights converted to
another format (ONNX). The validator's runtime implements every option; nothing here runs there.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines.manifest import (
    CompileMode,
    Manifest,
    OnnxOptions,
    OnnxPart,
    Quantization,
    SchedulerName,
    TorchOptions,
    read_manifest,
    write_manifest,
)
from pipelines.onnx_parts import export_part
from pipelines.onnx_unet import export_onnx_checkpoint, quantize_onnx_unet


def update_manifest(folder: Path, **sections: Any) -> Manifest:
    """Merge ``sections`` (e.g. ``torch={"channels_last": True}``) into the folder's manifest and write it."""
    manifest = read_manifest(folder)
    document = manifest.model_dump()
    for section, changes in sections.items():
        if isinstance(changes, dict) and isinstance(document.get(section), dict):
            document[section] = {**document[section], **changes}
        else:
            document[section] = changes
    updated = Manifest.model_validate({**document, "format_version": 2})
    write_manifest(folder, updated)
    return updated


def torch_options(folder: Path, options: TorchOptions) -> None:
    """Choose torch options (dtype, channels_last, attention, quantisation, compilation) as a whole."""
    update_manifest(folder, torch=options.model_dump())


def fewer_steps(folder: Path, steps: int) -> None:
    """Denoise in ``steps`` instead of the contest's (no more than the contest's)."""
    update_manifest(folder, generation={"steps": steps})


def scheduler(folder: Path, name: SchedulerName) -> None:
    """Another scheduler from the allow-list, configured from the checkpoint's own scheduler config."""
    update_manifest(folder, generation={"scheduler": name})


def guidance_cut_off(folder: Path, fraction: float) -> None:
    """Classifier-free guidance for the first ``fraction`` of the steps only; the batch halves after it."""
    update_manifest(folder, generation={"guidance_stop": fraction})


def deepcache(folder: Path, interval: int = 3, branch: int = 0) -> None:
    """Reuse the UNet's deep features between full steps (DeepCache)."""
    update_manifest(folder, caching={"deepcache": {"interval": interval, "branch": branch}})


def token_merging(folder: Path, ratio: float = 0.5) -> None:
    """Merge similar tokens before attention (ToMe for Stable Diffusion)."""
    update_manifest(folder, caching={"token_merging": {"ratio": ratio}})


def compiled(folder: Path, mode: CompileMode = "default", fullgraph: bool = False) -> None:
    """``torch.compile`` the UNet when it loads (the compile time counts as load time)."""
    update_manifest(folder, torch={"compile": {"mode": mode, "fullgraph": fullgraph}})


def quantized(folder: Path, scheme: Quantization) -> None:
    """torchao quantisation of the UNet's linear layers when it loads."""
    update_manifest(folder, torch={"quantization": scheme})


def onnx_unet(folder: Path) -> None:
    """Run the UNet in ONNX Runtime (exported once here); text encoders and VAE stay in torch."""
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        converted = export_onnx_checkpoint(folder, Path(scratch) / "converted")
        shutil.rmtree(folder)
        converted.rename(folder)


def _onnx_runtime(folder: Path) -> None:
    """The ONNX UNet first, where the checkpoint does not run in ONNX Runtime yet: other ONNX recipes build on it."""
    if read_manifest(folder).runtime != "onnxruntime":
        onnx_unet(folder)


def onnx_quantized_unet(folder: Path) -> None:
    """The ONNX UNet with int8 matrix-multiply weights (ONNX Runtime's dynamic quantisation)."""
    _onnx_runtime(folder)
    quantize_onnx_unet(folder / (read_manifest(folder).onnx or OnnxOptions()).unet_file)


def onnx_parts(folder: Path, parts: Sequence[OnnxPart] = ("vae_decoder", "text_encoder", "text_encoder_2")) -> None:
    """Besides the ONNX UNet, run these parts in ONNX Runtime too (each exported once here)."""
    _onnx_runtime(folder)
    for part in parts:
        export_part(folder, part)
    named = (read_manifest(folder).onnx or OnnxOptions()).parts
    update_manifest(folder, onnx={"parts": [*named, *(part for part in parts if part not in named)]})


def tensorrt(folder: Path, fp16: bool = True, builder_optimization_level: int = 3) -> None:
    """Prefer ONNX Runtime's TensorRT provider for the ONNX UNet; the validator builds the engine at load."""
    _onnx_runtime(folder)
    update_manifest(folder, onnx={"tensorrt": {"fp16": fp16, "builder_optimization_level": builder_optimization_level}})
