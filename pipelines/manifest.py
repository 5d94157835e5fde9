"""The checkpoint manifest: which runtime runs a checkpoint, with which options.

A submission is data: it can only choose among options the contest allows, so every model forbids
unknown keys and every option is an enumerated value or a bounded number, never a class or module name.
Each option is implemented once, in the validator's runtime (``pipelines.options``).

Format 1 had the runtime and the torch and ONNX basics; format 2 adds generation (steps, scheduler,
guidance cut-off), caching, compilation, quantisation and execution-provider options. Format 1 files
still load; a format 1 file that uses a format 2 key is refused naming the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MANIFEST_NAME = "edge_checkpoint.json"
MANIFEST_VERSION: Final = 2

RuntimeName = Literal["diffusers", "onnxruntime"]
DType = Literal["float32", "float16", "bfloat16"]
Attention = Literal["sdpa", "eager"]
ExecutionProvider = Literal["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
GraphOptimization = Literal["disabled", "basic", "extended", "all"]
SchedulerName = Literal[
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DDIMScheduler",
    "DPMSolverMultistepScheduler",
    "UniPCMultistepScheduler",
    "LCMScheduler",
    "PNDMScheduler",
    "LMSDiscreteScheduler",
    "HeunDiscreteScheduler",
    "KDPM2DiscreteScheduler",
    "DEISMultistepScheduler",
]
SCHEDULERS: frozenset[str] = frozenset(get_args(SchedulerName))
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
# torchao schemes; the float8 ones need a GPU that has float8 (compute capability 8.9 or newer).
Quantization = Literal["int8_weight_only", "int8_dynamic", "float8_weight_only", "float8_dynamic"]

# Parts besides the UNet that can run in ONNX Runtime, each from a fixed file in its component's folder.
OnnxPart = Literal["vae_decoder", "text_encoder", "text_encoder_2"]
ONNX_PART_FILES: dict[str, str] = {
    "vae_decoder": "vae/decoder.onnx",
    "text_encoder": "text_encoder/model.onnx",
    "text_encoder_2": "text_encoder_2/model.onnx",
}


def onnx_part_component(part: str) -> str:
    """The pipeline component a part replaces: the folder its file lives in."""
    return ONNX_PART_FILES[part].split("/", 1)[0]


# The providers that run on an NVIDIA GPU: on a cuda contest a session must run on one of them.
GPU_PROVIDERS: frozenset[str] = frozenset({"TensorrtExecutionProvider", "CUDAExecutionProvider"})
DEFAULT_PROVIDERS: tuple[ExecutionProvider, ...] = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
MAX_STEPS = 200  # a contest's own steps bound this further (``contest.definitions.inspect_for_contest``)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompileOptions(_Strict):
    """``torch.compile`` of the UNet; compiling happens while loading, so it counts as load time."""

    mode: CompileMode = "default"
    fullgraph: bool = False


class TorchOptions(_Strict):
    """Options for the torch parts of a pipeline; ``dtype`` None means the contest's default."""

    dtype: DType | None = Field(
        default=None, description="weights and activations; `null`: the contest's (fp16 on the 4090)"
    )
    channels_last: bool = Field(default=False, description="memory format of the UNet and VAE")
    attention: Attention = Field(default="sdpa", description="attention implementation")
    quantization: Quantization | None = Field(
        default=None,
        description="torchao quantisation of the UNet's linear layers; float8 needs a GPU of compute capability "
        "8.9 or newer (the 4090 has it)",
    )
    compile: CompileOptions | None = Field(
        default=None,
        description="`torch.compile` of the UNet; compiling happens during the load, so it counts as load time "
        "and the load limit applies",
    )


class GenerationOptions(_Strict):
    """Doing less work per image: fewer steps, another scheduler, guidance switched off part-way."""

    steps: int | None = Field(
        default=None,
        ge=1,
        le=MAX_STEPS,
        description="fewer denoising steps; `null`: the contest's, and more than the contest's is refused",
    )
    scheduler: SchedulerName | None = Field(
        default=None,
        description="another scheduler, configured from the checkpoint's "
        "`scheduler_config.json`; `null`: the checkpoint's own",
    )
    guidance_stop: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="classifier-free guidance for this fraction of the steps; after it the UNet's batch halves",
    )


class DeepCacheOptions(_Strict):
    """Reuse the UNet's deep features for ``interval`` steps; only the shallow ``branch`` is recomputed."""

    interval: int = Field(default=3, ge=2, le=10)
    branch: int = Field(default=0, ge=0, le=11)


class TokenMergingOptions(_Strict):
    """Merge this fraction of similar tokens before each attention block (ToMe for Stable Diffusion)."""

    ratio: float = Field(default=0.5, gt=0.0, le=0.75)


class CachingOptions(_Strict):
    deepcache: DeepCacheOptions | None = Field(
        default=None,
        description="DeepCache (the `DeepCache` package): the UNet's deep features are recomputed every `interval` "
        "steps and reused between; `branch` is how shallow the part recomputed every step is",
    )
    token_merging: TokenMergingOptions | None = Field(
        default=None, description="token merging before attention (`tomesd`)"
    )


class TensorrtOptions(_Strict):
    """ONNX Runtime's TensorRT provider: the validator builds the engine at load and caches it by content."""

    fp16: bool = True
    builder_optimization_level: int = Field(default=3, ge=0, le=5)


class CudaOptions(_Strict):
    """ONNX Runtime's CUDA provider."""

    cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = "HEURISTIC"
    prefer_nhwc: bool = False


class OnnxOptions(_Strict):
    """The UNet runs in ONNX Runtime from ``unet_file``, and so do ``parts``; providers are tried in order."""

    unet_file: str = Field(
        default="unet/model.onnx", description="the exported UNet: a `.onnx` file inside the checkpoint's folder"
    )
    parts: tuple[OnnxPart, ...] = Field(
        default=(),
        description="these run in ONNX Runtime too, each named once, from `vae/decoder.onnx`, "
        "`text_encoder/model.onnx`, `text_encoder_2/model.onnx`; their components need no safetensors weights then",
    )
    providers: tuple[ExecutionProvider, ...] = Field(
        default=DEFAULT_PROVIDERS,
        description="in order, the first ones this machine has are used; on the SDXL contest "
        "`CPUExecutionProvider` may only follow the GPU providers and a list without one is refused, and a "
        "session that cannot start a GPU provider fails the load (work moved to the CPU escapes the device's "
        "memory and energy measures)",
    )
    graph_optimization: GraphOptimization = Field(default="all", description="ONNX Runtime's graph optimisation level")
    tensorrt: TensorrtOptions = Field(
        default_factory=TensorrtOptions,
        description="TensorRT provider options; the validator builds the engine at load (load time), cached by "
        "the model's content and these options",
    )
    cuda: CudaOptions = Field(default_factory=CudaOptions, description="CUDA provider options")

    @field_validator("parts")
    @classmethod
    def _each_part_once(cls, parts: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(parts)) != len(parts):
            raise ValueError("each part may be named once")
        return parts


# What format 1 knew, per section; anything else in a format 1 manifest is a format 2 key.
_FORMAT_1_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"format_version", "runtime", "torch", "onnx"}),
    "torch": frozenset({"dtype", "channels_last", "attention"}),
    "onnx": frozenset({"unet_file", "providers", "graph_optimization"}),
}


def _format_2_key(document: dict[str, Any]) -> str | None:
    for section, known in _FORMAT_1_KEYS.items():
        keys = document.get(section, {}) if section else document
        if not isinstance(keys, dict):
            continue
        for key in keys:
            if key not in known:
                return f"{section}.{key}" if section else key
    return None


class Manifest(_Strict):
    format_version: Literal[1, 2] = MANIFEST_VERSION
    runtime: RuntimeName = Field(
        default="diffusers",
        description="torch, or the UNet in ONNX Runtime (and the parts `onnx.parts` names) with the rest in torch",
    )
    torch: TorchOptions = Field(default_factory=TorchOptions)
    generation: GenerationOptions = Field(default_factory=GenerationOptions)
    caching: CachingOptions = Field(default_factory=CachingOptions)
    onnx: OnnxOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _format_1_stays_format_1(cls, document: Any) -> Any:
        if isinstance(document, dict) and document.get("format_version") == 1:
            key = _format_2_key(document)
            if key is not None:
                raise ValueError(f"'{key}' needs format_version 2")
        return document


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    path = folder / MANIFEST_NAME
    # Only what differs from the defaults, so a manifest reads as the list of choices it makes.
    document = {"format_version": manifest.format_version, **manifest.model_dump(mode="json", exclude_defaults=True)}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def read_manifest(folder: Path) -> Manifest:
    """The folder's manifest, or the defaults where it has none."""
    path = folder / MANIFEST_NAME
    return manifest_from_json(path.read_text(encoding="utf-8")) if path.exists() else Manifest()


def manifest_from_json(text: str) -> Manifest:
    """Parse manifest text; raises ``pydantic.ValidationError`` on unknown keys or values."""
    return Manifest.model_validate(json.loads(text))
