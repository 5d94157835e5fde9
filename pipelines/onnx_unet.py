"""The UNet in ONNX Runtime: an export helper for miners and a drop-in UNet for the SDXL pipeline.

The UNet is where the time goes; the VAE decoder and the text encoders can follow (``pipelines.onnx_parts``,
sharing the sessions opened here). The pipeline's scheduling and guidance stay the reference code, unchanged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import torch
from diffusers.configuration_utils import FrozenDict
from diffusers.models import UNet2DConditionModel

from base.measure import parse_device
from base.stores import folder_digest
from pipelines.manifest import GPU_PROVIDERS, Manifest, OnnxOptions, write_manifest

INPUT_NAMES = ("sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids")
OUTPUT_NAME = "noise_pred"
OPSET = 17
# Under the temporary folder: in a worker, its own scratch folder (``base.isolation.worker``), deleted when it closes.
ENGINE_CACHE = "edge-contest-engines"
GRAPH_OPTIMIZATION = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class _ExportableUNet(torch.nn.Module):
    """Flattens SDXL's ``added_cond_kwargs`` into plain tensor inputs, which ONNX needs."""

    def __init__(self, unet: UNet2DConditionModel) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
        added = {"text_embeds": text_embeds, "time_ids": time_ids}
        return self.unet(sample, timestep, encoder_hidden_states, added_cond_kwargs=added, return_dict=False)[0]


def export_unet(unet: UNet2DConditionModel, destination: Path, text_embed_dim: int, batch: int = 2) -> Path:
    """Export in float32 with a dynamic batch axis (guidance doubles the batch)."""
    unet = unet.eval()
    config = unet.config
    latent = config["sample_size"]
    example = (
        torch.randn(batch, config["in_channels"], latent, latent),
        torch.full((batch,), 500.0),
        torch.randn(batch, 77, config["cross_attention_dim"]),
        torch.randn(batch, text_embed_dim),
        torch.randn(batch, 6),
    )
    destination.parent.mkdir(parents=True, exist_ok=True)
    batch_axis = {0: "batch"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            _ExportableUNet(unet),
            example,
            str(destination),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={name: batch_axis for name in (*INPUT_NAMES, OUTPUT_NAME)},
            opset_version=OPSET,
            dynamo=False,
        )
    return destination


def choose_providers(preference: Sequence[str], available: Sequence[str]) -> list[str]:
    """The preferred providers this machine has, in preference order."""
    chosen = [name for name in preference if name in available]
    if not chosen:
        raise RuntimeError(f"none of the execution providers {list(preference)} is available ({list(available)})")
    return chosen


# ONNX Runtime's thread pools otherwise spin for a while after each run, taking cores from whatever runs
# next; in a contest that is the baseline being timed against this checkpoint.
NO_SPINNING = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}


def engine_folder(model_file: Path, options: OnnxOptions, engine_cache: Path) -> Path:
    """Where engines built for this model (its folder's content, external data included) and options live."""
    digest = hashlib.sha256(folder_digest(model_file.parent))
    digest.update(model_file.name.encode())
    digest.update(options.tensorrt.model_dump_json().encode())
    return engine_cache / digest.hexdigest()[:32]


def provider_options(providers: Sequence[str], options: OnnxOptions, engines: Path) -> list[dict[str, str]]:
    """Each chosen provider's options: the engine is built here, at load, and kept only in ``engines``."""
    tensorrt = options.tensorrt
    known = {
        "TensorrtExecutionProvider": {
            "trt_fp16_enable": str(tensorrt.fp16),
            "trt_builder_optimization_level": str(tensorrt.builder_optimization_level),
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(engines),
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": str(engines),
        },
        "CUDAExecutionProvider": {
            "cudnn_conv_algo_search": options.cuda.cudnn_conv_algo_search,
            "prefer_nhwc": "1" if options.cuda.prefer_nhwc else "0",
        },
    }
    return [known.get(name, {}) for name in providers]


def open_session(model_file: Path, options: OnnxOptions) -> ort.InferenceSession:
    session_options = ort.SessionOptions()
    session_options.graph_optimization_level = GRAPH_OPTIMIZATION[options.graph_optimization]
    for key, value in NO_SPINNING.items():
        session_options.add_session_config_entry(key, value)
    session_options.intra_op_num_threads = torch.get_num_threads()  # one thread setting for both libraries
    providers = choose_providers(options.providers, ort.get_available_providers())
    engines = engine_folder(model_file, options, Path(tempfile.gettempdir()) / ENGINE_CACHE)
    if "TensorrtExecutionProvider" in providers:
        engines.mkdir(parents=True, exist_ok=True)
    session = ort.InferenceSession(
        str(model_file),
        sess_options=session_options,
        providers=providers,
        provider_options=provider_options(providers, options, engines),
    )
    # Otherwise a provider that fails while running is swapped for the CPU, silently, for the rest of the session.
    session.disable_fallback()
    return session


def check_session_device(session: ort.InferenceSession, device: str) -> None:
    """On a cuda device the session must run on the GPU, or not at all.

    ONNX Runtime starts a session on the CPU alone where the GPU providers cannot start (a CPU build, a missing
    CUDA or cuDNN library), with no more than a warning; on a cuda contest that would take the work out of sight of
    the device's memory and energy measures.
    """
    providers = session.get_providers()
    if parse_device(device).kind == "cuda" and providers[0] not in GPU_PROVIDERS:
        raise RuntimeError(
            f"the ONNX Runtime session runs on {providers} on device {device}: neither CUDAExecutionProvider nor "
            f"TensorrtExecutionProvider started (this ONNX Runtime has {ort.get_available_providers()})"
        )


class OnnxModule(torch.nn.Module):
    """A pipeline component answered from an ONNX Runtime session.

    Carries the original component's config and answers in the device and dtype the pipeline expects,
    so the pipeline code runs unchanged around it.
    """

    def __init__(self, session: ort.InferenceSession, config: object, device: str, dtype: torch.dtype) -> None:
        super().__init__()
        check_session_device(session, device)
        self.session, self.config = session, config
        self._device, self._dtype = torch.device(device), dtype

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    def run(
        self, outputs: list[str], feeds: dict[str, torch.Tensor], input_dtype: torch.dtype, output_dtype: torch.dtype
    ) -> list[torch.Tensor]:
        """The session on the CPU copies of ``feeds`` (as ``input_dtype``), its outputs on this module's device."""
        arrays = {
            name: np.ascontiguousarray(value.detach().to("cpu", input_dtype).numpy()) for name, value in feeds.items()
        }
        return [torch.from_numpy(array).to(self._device, output_dtype) for array in self.session.run(outputs, arrays)]


class OnnxUNet(OnnxModule):
    """Answers the pipeline's UNet calls, with the one attribute of the UNet's the SDXL pipeline also reads."""

    def __init__(self, session: ort.InferenceSession, config: FrozenDict, device: str, dtype: torch.dtype) -> None:
        super().__init__(session, config, device, dtype)
        self.add_embedding = SimpleNamespace(
            linear_1=SimpleNamespace(in_features=config["projection_class_embeddings_input_dim"])
        )

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        encoder_hidden_states: torch.Tensor,
        added_cond_kwargs: dict[str, torch.Tensor],
        return_dict: bool = False,
        **_: object,
    ) -> tuple[torch.Tensor]:
        batch = sample.shape[0]
        timesteps = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1).expand(batch)
        feeds = {
            "sample": sample,
            "timestep": timesteps,
            "encoder_hidden_states": encoder_hidden_states,
            "text_embeds": added_cond_kwargs["text_embeds"],
            "time_ids": added_cond_kwargs["time_ids"],
        }
        (noise,) = self.run([OUTPUT_NAME], feeds, torch.float32, self._dtype)
        return (noise,)


def load_onnx_unet(folder: Path, options: OnnxOptions, device: str, dtype: torch.dtype) -> OnnxUNet:
    config = FrozenDict(UNet2DConditionModel.load_config(folder / "unet"))
    return OnnxUNet(open_session(folder / options.unet_file, options), config, device, dtype)


def export_onnx_checkpoint(source: Path, destination: Path) -> Path:
    """Copy a diffusers checkpoint and replace its UNet weights with an ONNX export of them."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(".git"))
    unet = UNet2DConditionModel.from_pretrained(source / "unet", use_safetensors=True, local_files_only=True)
    text_encoder_config = json.loads((source / "text_encoder_2" / "config.json").read_text(encoding="utf-8"))
    options = OnnxOptions()
    export_unet(unet, destination / options.unet_file, text_embed_dim=text_encoder_config["projection_dim"])
    for weights in (destination / "unet").glob("*.safetensors"):
        weights.unlink()
    write_manifest(destination, Manifest(runtime="onnxruntime", onnx=options))
    return destination


def quantize_onnx_unet(model_file: Path) -> None:
    """Replace the model with ONNX Runtime's dynamic int8 quantisation of its matrix multiplies, in place.

    Only MatMul: this CPU's integer convolutions run slower than float ones (see the optimisations benchmark).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = model_file.with_name(model_file.stem + ".int8.onnx")
    quantize_dynamic(model_file, quantized, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
    quantized.replace(model_file)
