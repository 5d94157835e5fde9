"""The embedded default's architecture: a tiny SDXL pipeline, built untrained from configs and a seed.

Every component has the shape of its Stable Diffusion XL counterpart (two CLIP text encoders, SDXL's
``text_time`` UNet conditioning, a KL VAE, an Euler scheduler) at a size a 2-core CPU runs in a fraction
of a second, so the contest's code paths are exercised end to end without downloading weights.
``pipelines.tiny_world.train`` trains it on the shape world; the trained weights ship with the contest.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path

import torch
from diffusers.models import AutoencoderKL, UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline
from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from pipelines.shape_world import grammar_words

TEXT_HIDDEN_SIZE = 32
TEXT_PROJECTION_DIM = 32
TIME_EMBED_DIM = 8
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for raw bytes (the GPT-2/CLIP mapping)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    symbols = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def _whole_word_merges(words: Iterable[str]) -> list[tuple[str, str]]:
    """BPE merges under which each word is one token: each word's left-to-right chain, and where another word's
    merge splits it first, a merge that joins the pieces it is left with (until every word comes out whole)."""
    merges: list[tuple[str, str]] = []
    for _ in range(8):
        ranks = {pair: rank for rank, pair in enumerate(merges)}
        added = False
        for word in words:
            pieces = _apply_merges(word, ranks)
            while len(pieces) > 1:
                merges.append((pieces[0], pieces[1]))
                ranks[merges[-1]] = len(merges) - 1
                pieces = _apply_merges(word, ranks)
                added = True
        if not added:
            return merges
    raise RuntimeError("the grammar's words do not settle into whole tokens")


def _apply_merges(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """The pieces byte-level BPE leaves of one word (CLIP's rule: the lowest-ranked adjacent pair merges first)."""
    pieces = [*word[:-1], word[-1] + "</w>"]
    while len(pieces) > 1:
        pairs = [(ranks.get((a, b), len(ranks)), index) for index, (a, b) in enumerate(pairwise(pieces))]
        rank, index = min(pairs)
        if rank == len(ranks):
            break
        pieces[index : index + 2] = [pieces[index] + pieces[index + 1]]
    return pieces


def build_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is every byte symbol, alone and word-final, and each word of the shape
    world's grammar whole, so a tiny text encoder reads words rather than spelling them out."""
    symbols = _byte_symbols()
    merges = _whole_word_merges(grammar_words())
    merged = list(dict.fromkeys(a + b for a, b in merges))
    vocab_tokens = symbols + [s + "</w>" for s in symbols] + merged + [START_TOKEN, END_TOKEN]
    vocab = {token: index for index, token in enumerate(vocab_tokens)}
    return CLIPTokenizer(
        vocab=vocab,
        merges=merges,  # type: ignore[arg-type]  # the tokenizers backend takes pairs (a list of "a b" is refused)
        unk_token=END_TOKEN,
        bos_token=START_TOKEN,
        eos_token=END_TOKEN,
        pad_token=END_TOKEN,
        model_max_length=77,
    )


def _text_config(vocab_size: int, with_projection: bool) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=TEXT_HIDDEN_SIZE,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=TEXT_PROJECTION_DIM if with_projection else TEXT_HIDDEN_SIZE,
        hidden_act="gelu",
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )


def _unet(sample_size: int) -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        cross_attention_dim=2 * TEXT_HIDDEN_SIZE,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=6 * TIME_EMBED_DIM + TEXT_PROJECTION_DIM,
        norm_num_groups=8,
        use_linear_projection=True,
        transformer_layers_per_block=1,
    )


def _vae(image_size: int) -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 32, 32, 32),
        latent_channels=4,
        # One group: the shape world's flat colours would otherwise lose their colour to each group's mean.
        norm_num_groups=1,
        sample_size=image_size,
    )


def sdxl_scheduler() -> EulerDiscreteScheduler:
    """SDXL's own scheduler settings."""
    return EulerDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
        prediction_type="epsilon",
    )


def build_tiny_sdxl(seed: int, image_size: int = 128) -> StableDiffusionXLPipeline:
    """Build the pipeline untrained (what ``pipelines.tiny_world.train`` starts from); the same seed always gives
    the same weights, on any machine."""
    vocab_size = len(build_tokenizer())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text_encoder = CLIPTextModel(_text_config(vocab_size, with_projection=False))
        text_encoder_2 = CLIPTextModelWithProjection(_text_config(vocab_size, with_projection=True))
        unet = _unet(sample_size=image_size // 8)
        vae = _vae(image_size)
    return sdxl_pipeline(text_encoder, text_encoder_2, unet, vae)


def sdxl_pipeline(
    text_encoder: CLIPTextModel, text_encoder_2: CLIPTextModelWithProjection, unet: UNet2DConditionModel,
    vae: AutoencoderKL,
) -> StableDiffusionXLPipeline:  # fmt: skip
    """The components as an SDXL pipeline for inference, with the byte tokenizer and SDXL's scheduler."""
    return StableDiffusionXLPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        text_encoder_2=text_encoder_2.eval(),
        tokenizer=build_tokenizer(),
        tokenizer_2=build_tokenizer(),
        unet=unet.eval(),
        scheduler=sdxl_scheduler(),  # type: ignore[arg-type]  # diffusers annotates schedulers with an Enum of names
        add_watermarker=False,
    )


def save_tiny_sdxl(folder: Path, seed: int, image_size: int = 128) -> Path:
    """Build and save as an ordinary diffusers folder (safetensors weights)."""
    build_tiny_sdxl(seed, image_size).save_pretrained(folder, safe_serialization=True)
    return folder
