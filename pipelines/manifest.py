"""The checkpoint manifest: which runtime runs a checkpoint and with which options.

A submission is data: it can only choose among options the contest allows, so every model forbids
unknown keys and every option is an enumerated value, never a class or module name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_NAME = "edge_checkpoint.json"
MANIFEST_VERSION = 1

RuntimeName = Literal["diffusers", "onnxruntime"]
DType = Literal["float32", "float16", "bfloat16"]
Attention = Literal["sdpa", "eager"]
ExecutionProvider = Literal["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
GraphOptimization = Literal["disabled", "basic", "extended", "all"]

DEFAULT_PROVIDERS: tuple[ExecutionProvider, ...] = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TorchOptions(_Strict):
    """Options for the torch parts of a pipeline; ``dtype`` None means the contest's default."""

    dtype: DType | None = None
    channels_last: bool = False
    attention: Attention = "sdpa"


class OnnxOptions(_Strict):
    """The UNet runs in ONNX Runtime from ``unet_file``; providers are tried in order."""

    unet_file: str = "unet/model.onnx"
    providers: tuple[ExecutionProvider, ...] = DEFAULT_PROVIDERS
    graph_optimization: GraphOptimization = "all"


class Manifest(_Strict):
    format_version: Literal[1] = MANIFEST_VERSION
    runtime: RuntimeName = "diffusers"
    torch: TorchOptions = Field(default_factory=TorchOptions)
    onnx: OnnxOptions | None = None


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    path = folder / MANIFEST_NAME
    path.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def manifest_from_json(text: str) -> Manifest:
    """Parse manifest text; raises ``pydantic.ValidationError`` on unknown keys or values."""
    return Manifest.model_validate(json.loads(text))
