"""Optimisation recipes a miner's ``optimize()`` can apply to a checkpoint folder, in place."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pipelines.manifest import MANIFEST_NAME, Manifest, TorchOptions, write_manifest
from pipelines.onnx_unet import export_onnx_checkpoint


def onnx_unet(folder: Path) -> None:
    """Run the UNet in ONNX Runtime (exported once here); text encoders and VAE stay in torch."""
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        converted = export_onnx_checkpoint(folder, Path(scratch) / "converted")
        shutil.rmtree(folder)
        converted.rename(folder)


def torch_options(folder: Path, options: TorchOptions) -> None:
    """Choose torch options (dtype, channels_last, attention) for a diffusers checkpoint."""
    manifest_file = folder / MANIFEST_NAME
    manifest = Manifest.model_validate_json(manifest_file.read_text()) if manifest_file.exists() else Manifest()
    write_manifest(folder, manifest.model_copy(update={"torch": options}))
