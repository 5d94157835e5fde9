"""Stable Diffusion XL at its published size, with random weights from a seed, built offline.

The real contest's baseline comes from the Hugging Face Hub. This one has the same architecture and size (a
2.6B-parameter UNet, the KL VAE, CLIP ViT-L and OpenCLIP bigG text encoders, the Euler scheduler) and the same
classes, so on a machine that cannot reach the Hub every CUDA path (fp16 torch, ONNX Runtime's CUDA and
TensorRT providers, NVML, torch.compile) still runs and is timed at the real size. Its pictures mean nothing:
it serves device checks, never a day that pays.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import torch
from accelerate import init_empty_weights
from diffusers.models import AutoencoderKL, UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from pipelines.tiny_sdxl import build_tokenizer, sdxl_pipeline

# The published sizes (stabilityai/stable-diffusion-xl-base-1.0's configs).
TEXT_VOCAB_SIZE = 49408
UNET = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "block_out_channels": (320, 640, 1280),
    "layers_per_block": 2,
    "transformer_layers_per_block": (1, 2, 10),
    "attention_head_dim": (5, 10, 20),
    "cross_attention_dim": 2048,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
    "norm_num_groups": 32,
}
VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "force_upcast": True,
}
TEXT_ENCODER = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                "hidden_act": "quick_gelu", "projection_dim": 768}  # fmt: skip
TEXT_ENCODER_2 = {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 20,
                  "hidden_act": "gelu", "projection_dim": 1280}  # fmt: skip


def _text_config(sizes: dict, end_token_id: int) -> CLIPTextConfig:
    """The tokenizer is the tiny one (every byte, no merges); the embedding keeps CLIP's vocabulary size."""
    return CLIPTextConfig(vocab_size=TEXT_VOCAB_SIZE, max_position_embeddings=77, bos_token_id=end_token_id - 1,
                          eos_token_id=end_token_id, pad_token_id=end_token_id, **sizes)  # fmt: skip


# Values drawn once and repeated through the 3.5B weights: drawing each of them takes half a minute on a CPU,
# repeating a draw a few seconds. A prime length keeps the repeats off the tensors' rows.
PATTERN_LENGTH = 1_000_003


def build_full_sdxl(seed: int) -> StableDiffusionXLPipeline:
    """Build the pipeline in float16 (about 7 GB; built in half precision, so 16 GB of memory suffice)."""
    end_token_id = len(build_tokenizer()) - 1  # the tiny tokenizer's last token ends the text
    pattern = weight_pattern(seed)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float16)
    try:
        with init_empty_weights():  # parameters without storage; buffers (CLIP's position ids) as built
            text_encoder = CLIPTextModel(_text_config(TEXT_ENCODER, end_token_id))
            text_encoder_2 = CLIPTextModelWithProjection(_text_config(TEXT_ENCODER_2, end_token_id))
            unet = UNet2DConditionModel(**UNET)
            vae = AutoencoderKL(**VAE)
    finally:
        torch.set_default_dtype(default_dtype)
    offsets = itertools.count(0, 7919)
    for model in (text_encoder, text_encoder_2, unet, vae):
        fill_weights(model, pattern, offsets)
    return sdxl_pipeline(text_encoder, text_encoder_2, unet, vae)


def weight_pattern(seed: int) -> torch.Tensor:
    """The draw every weight is filled from: ``PATTERN_LENGTH`` values uniform in [-1, 1), from ``seed``."""
    return torch.rand(PATTERN_LENGTH, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def fill_weights(model: torch.nn.Module, pattern: torch.Tensor, offsets: Iterator[int]) -> None:
    """Give every weight storage and a value of the kind and scale its layer's own initialisation gives: a linear
    or convolution layer uniform within 1/sqrt(fan-in), an embedding within CLIP's 0.02, a normalisation one and
    zero. The values come from ``pattern``, each tensor at its own offset."""
    for module in model.modules():
        own = dict(module.named_parameters(recurse=False))
        if not own:
            continue
        for name, empty in own.items():
            module.register_parameter(name, torch.nn.Parameter(torch.empty(empty.shape, dtype=empty.dtype)))
        if isinstance(module, torch.nn.Linear | torch.nn.Conv2d):
            bound = 1.0 / math.sqrt(module.weight[0].numel())
            for parameter in (module.weight, module.bias):
                if parameter is not None:
                    _fill(parameter, pattern, next(offsets), bound)
        elif isinstance(module, torch.nn.Embedding):
            _fill(module.weight, pattern, next(offsets), 0.02)
        elif isinstance(module, torch.nn.GroupNorm | torch.nn.LayerNorm):
            torch.nn.init.ones_(module.weight)
            torch.nn.init.zeros_(module.bias)
        else:
            raise TypeError(f"no initialisation for a {type(module).__name__}")


@torch.no_grad()
def _fill(parameter: torch.Tensor, pattern: torch.Tensor, offset: int, bound: float) -> None:
    """``pattern`` from ``offset`` on, scaled by ``bound``, repeated through ``parameter``.

    The scaled block is cast once and broadcast over the tensor's rows of ``PATTERN_LENGTH``, so no temporary is
    as large as the tensor: the 3.5B weights fill in seconds.
    """
    block = (torch.roll(pattern, -(offset % PATTERN_LENGTH)) * bound).to(parameter.dtype)
    flat = parameter.view(-1)
    whole, rest = divmod(flat.numel(), PATTERN_LENGTH)
    if whole:
        flat[: whole * PATTERN_LENGTH].view(whole, PATTERN_LENGTH).copy_(block.expand(whole, PATTERN_LENGTH))
    flat[whole * PATTERN_LENGTH :].copy_(block[:rest])


def save_full_sdxl(folder: Path, seed: int) -> Path:
    """Build and save as an ordinary diffusers folder (float16 safetensors)."""
    build_full_sdxl(seed).save_pretrained(folder, safe_serialization=True)
    return folder
