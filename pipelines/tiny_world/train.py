"""Train the embedded contest's models on the shape world, from seeds, on a CPU.

    python -m pipelines.tiny_world.train --output contest/data/tiny-sdxl-cpu

Three stages, each seeded, on pictures and sentences of ``pipelines.shape_world``:

1. the VAE learns to draw the pictures back from their latents;
2. text encoder 2 and a tiny CLIP vision model learn, contrastively, which sentence goes with which picture:
   the vision model is the similarity gate's image encoder, the text side gives the UNet its pooled text;
3. the UNet, with text encoder 1, learns to take the noise out of the pictures' latents given their sentences,
   seeing no sentence a tenth of the time, as the zero embeddings of SDXL's unconditional branch.

The architecture is ``pipelines.tiny_sdxl``'s, so every runtime and optimisation path runs unchanged on the
trained weights. ``output`` receives ``baseline/`` (a diffusers folder) and ``image-encoder/``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from diffusers.models import AutoencoderKL, UNet2DConditionModel
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from diffusers.training_utils import EMAModel, compute_snr
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer, CLIPVisionModelWithProjection

from pipelines.image_encoder import save_image_encoder, tiny_image_processor, tiny_vision_config
from pipelines.shape_world import render, scenes
from pipelines.tiny_sdxl import build_tiny_sdxl, sdxl_pipeline, sdxl_scheduler

UNCONDITIONAL_SHARE = 0.1  # of the UNet's examples, trained with SDXL's empty-prompt (zero) embeddings
MIN_SNR_GAMMA = 5.0  # the UNet's loss weighting (Min-SNR): the noisiest steps, where layout and colour are set, count
EMA_DECAY = 0.999  # the UNet and text encoder 1 ship as an exponential moving average of their training weights
GRADIENT_CLIP = 1.0
LATENT_NOISE = 0.1


@dataclass(frozen=True)
class TrainingPlan:
    """How much of the world each stage sees; the defaults take about 35 minutes on 2 CPU cores."""

    seed: int = 0
    image_size: int = 128
    scenes: int = 8000
    vae_steps: int = 2000
    vae_batch: int = 32
    vae_crop: int = 32  # the VAE is convolutional: it learns on crops, sixteen times cheaper than whole pictures
    clip_steps: int = 600
    clip_batch: int = 128
    unet_steps: int = 5000
    unet_batch: int = 32

    def scaled(self, share: float) -> TrainingPlan:
        """The same plan with every stage's steps multiplied by ``share`` (at least one step each)."""
        steps = {name: max(1, round(getattr(self, name) * share)) for name in ("vae_steps", "clip_steps", "unet_steps")}
        return replace(self, **steps)


class Progress:
    """One line per tenth of a stage: the step, the mean loss since the last line, and the time so far."""

    def __init__(self, stage: str, steps: int) -> None:
        self.stage, self.steps, self.started, self.losses = stage, steps, time.monotonic(), list[float]()
        self.every = max(1, steps // 10)

    def step(self, index: int, loss: float) -> None:
        self.losses.append(loss)
        if (index + 1) % self.every == 0 or index + 1 == self.steps:
            elapsed = time.monotonic() - self.started
            print(
                f"  {self.stage}: step {index + 1}/{self.steps}  loss {np.mean(self.losses):.4f}  {elapsed:.0f} s",
                flush=True,
            )
            self.losses.clear()


def world(plan: TrainingPlan) -> tuple[list[str], np.ndarray]:
    """The plan's scenes as sentences and uint8 NxHxWx3 pictures."""
    drawn = scenes(plan.seed, plan.scenes)
    pictures = np.stack([np.asarray(render(scene, plan.image_size)) for scene in drawn])
    return [scene.prompt for scene in drawn], pictures


def to_model_range(pictures: np.ndarray) -> torch.Tensor:
    """uint8 NxHxWx3 to the VAE's float NCHW in [-1, 1]."""
    return torch.from_numpy(pictures).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def batches(generator: torch.Generator, count: int, batch: int) -> Iterator[torch.Tensor]:
    """Random indices into ``count`` examples, a batch at a time, forever."""
    while True:
        yield torch.randint(0, count, (batch,), generator=generator)


def _optimiser(
    parameters: list[torch.nn.Parameter], learning_rate: float, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    optimiser = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.0)
    warmup = min(100, steps // 10)
    return optimiser, get_cosine_schedule_with_warmup(optimiser, warmup, steps)


def _update(
    loss: torch.Tensor,
    parameters: list[torch.nn.Parameter],
    optimiser: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LambdaLR,
) -> None:
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, GRADIENT_CLIP)
    optimiser.step()
    schedule.step()
    optimiser.zero_grad(set_to_none=True)


def train_vae(vae: AutoencoderKL, pictures: np.ndarray, plan: TrainingPlan) -> None:
    generator = torch.Generator().manual_seed(plan.seed + 1)
    parameters = list(vae.parameters())
    optimiser, schedule = _optimiser(parameters, 2e-3, plan.vae_steps)
    progress = Progress("VAE", plan.vae_steps)
    vae.train()
    limit = plan.image_size - plan.vae_crop + 1
    for step, indices in zip(range(plan.vae_steps), batches(generator, len(pictures), plan.vae_batch), strict=False):
        top, left = (int(v) for v in torch.randint(0, limit, (2,), generator=generator))
        crop = pictures[indices.numpy(), top : top + plan.vae_crop, left : left + plan.vae_crop]
        target = to_model_range(np.ascontiguousarray(crop))
        # An autoencoder on the posterior's mean (the pipeline only ever decodes), with a little noise so the
        # decoder forgives the UNet's near misses.
        means = vae.encode(target).latent_dist.mean
        drawn = vae.decode(means + LATENT_NOISE * torch.randn(means.shape, generator=generator)).sample
        loss = (drawn - target).abs().mean() + (drawn - target).pow(2).mean()
        _update(loss, parameters, optimiser, schedule)
        progress.step(step, loss.item())
    vae.eval()


@torch.no_grad()
def encode(vae: AutoencoderKL, pictures: np.ndarray, batch: int = 64) -> torch.Tensor:
    """The pictures' latents (the posterior's means), scaled to unit spread; the scale goes into the VAE's config
    for the pipeline to undo."""
    means = torch.cat(
        [vae.encode(to_model_range(pictures[i : i + batch])).latent_dist.mean for i in range(0, len(pictures), batch)]
    )
    scaling_factor = float(1.0 / means.std())
    vae.register_to_config(scaling_factor=scaling_factor)
    return means * scaling_factor


def token_ids(tokenizer: CLIPTokenizer, prompts: list[str]) -> torch.Tensor:
    """As the pipeline tokenizes: padded to the tokenizer's length."""
    encoded = tokenizer(
        prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    return encoded.input_ids


def train_clip(
    text_encoder_2: CLIPTextModelWithProjection,
    vision: CLIPVisionModelWithProjection,
    ids: torch.Tensor,
    pictures: np.ndarray,
    plan: TrainingPlan,
) -> None:
    torch.manual_seed(plan.seed + 2)
    generator = torch.Generator().manual_seed(plan.seed + 2)
    pixels = tiny_image_processor()(images=list(pictures), return_tensors="pt")["pixel_values"]
    log_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    parameters = [*text_encoder_2.parameters(), *vision.parameters(), log_scale]
    optimiser, schedule = _optimiser(parameters, 2e-3, plan.clip_steps)
    progress = Progress("CLIP", plan.clip_steps)
    text_encoder_2.train()
    vision.train()
    for step, indices in zip(range(plan.clip_steps), batches(generator, len(pictures), plan.clip_batch), strict=False):
        texts = torch.nn.functional.normalize(text_encoder_2(ids[indices]).text_embeds, dim=-1)
        images = torch.nn.functional.normalize(vision(pixel_values=pixels[indices]).image_embeds, dim=-1)
        logits = log_scale.clamp(max=math.log(100.0)).exp() * images @ texts.T
        labels = torch.arange(len(indices))
        loss = (
            torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)
        ) / 2
        _update(loss, parameters, optimiser, schedule)
        progress.step(step, loss.item())
    text_encoder_2.eval()
    vision.eval()


def conditioning(
    text_encoder: CLIPTextModel, text_encoder_2: CLIPTextModelWithProjection, ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """What the SDXL pipeline gives the UNet: both encoders' penultimate hidden states side by side, and the
    second's projected text embedding."""
    first = text_encoder(ids, output_hidden_states=True).hidden_states[-2]
    with torch.no_grad():
        second = text_encoder_2(ids, output_hidden_states=True)
    return torch.cat([first, second.hidden_states[-2]], dim=-1), second.text_embeds


def train_unet(
    unet: UNet2DConditionModel,
    text_encoder: CLIPTextModel,
    text_encoder_2: CLIPTextModelWithProjection,
    ids: torch.Tensor,
    latents: torch.Tensor,
    plan: TrainingPlan,
) -> None:
    torch.manual_seed(plan.seed + 3)
    generator = torch.Generator().manual_seed(plan.seed + 3)
    noise_schedule = DDPMScheduler.from_config(sdxl_scheduler().config)
    size = plan.image_size
    time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32).repeat(plan.unet_batch, 1)
    parameters = [*unet.parameters(), *text_encoder.parameters()]
    optimiser, schedule = _optimiser(parameters, 1e-3, plan.unet_steps)
    average = EMAModel(parameters, decay=EMA_DECAY)
    progress = Progress("UNet", plan.unet_steps)
    unet.train()
    text_encoder.train()
    text_encoder_2.eval()
    for step, indices in zip(range(plan.unet_steps), batches(generator, len(latents), plan.unet_batch), strict=False):
        clean = latents[indices]
        noise = torch.randn(clean.shape, generator=generator)
        timesteps = torch.randint(0, noise_schedule.config.num_train_timesteps, (len(indices),), generator=generator)
        embeddings, pooled = conditioning(text_encoder, text_encoder_2, ids[indices])
        keep = (torch.rand(len(indices), generator=generator) >= UNCONDITIONAL_SHARE).float()
        predicted = unet(
            noise_schedule.add_noise(clean, noise, timesteps),
            timesteps,
            encoder_hidden_states=embeddings * keep[:, None, None],
            added_cond_kwargs={"text_embeds": pooled * keep[:, None], "time_ids": time_ids[: len(indices)]},
        ).sample
        snr = compute_snr(noise_schedule, timesteps)
        weights = torch.clamp(snr, max=MIN_SNR_GAMMA) / snr
        loss = ((predicted - noise).pow(2).mean(dim=(1, 2, 3)) * weights).mean()
        _update(loss, parameters, optimiser, schedule)
        average.step(parameters)
        progress.step(step, loss.item())
    average.copy_to(parameters)
    unet.eval()
    text_encoder.eval()


def train(output: Path, plan: TrainingPlan) -> tuple[Path, Path]:
    """Train every stage and save ``output/baseline`` and ``output/image-encoder``; torch's global random state
    and determinism setting are the caller's again afterwards."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            return _train_stages(output, plan)
    finally:
        torch.use_deterministic_algorithms(deterministic)


def _train_stages(output: Path, plan: TrainingPlan) -> tuple[Path, Path]:
    started = time.monotonic()
    untrained = build_tiny_sdxl(plan.seed, plan.image_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.seed)
        vision = CLIPVisionModelWithProjection(tiny_vision_config())
    prompts, pictures = world(plan)
    print(f"the world: {len(prompts)} scenes at {plan.image_size}x{plan.image_size}", flush=True)
    train_vae(untrained.vae, pictures, plan)
    latents = encode(untrained.vae, pictures)
    ids = token_ids(untrained.tokenizer, prompts)
    train_clip(untrained.text_encoder_2, vision, ids, pictures, plan)
    train_unet(untrained.unet, untrained.text_encoder, untrained.text_encoder_2, ids, latents, plan)
    trained = sdxl_pipeline(untrained.text_encoder, untrained.text_encoder_2, untrained.unet, untrained.vae)
    baseline, image_encoder = output / "baseline", output / "image-encoder"
    trained.save_pretrained(baseline, safe_serialization=True)
    save_image_encoder(vision, image_encoder)
    print(f"trained in {time.monotonic() - started:.0f} s: {baseline} and {image_encoder}", flush=True)
    return baseline, image_encoder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train the embedded contest's tiny SDXL and tiny CLIP on the shape world"
    )
    parser.add_argument("--output", type=Path, required=True, help="folder to write baseline/ and image-encoder/ into")
    parser.add_argument("--seed", type=int, default=TrainingPlan.seed)
    parser.add_argument(
        "--steps",
        type=float,
        default=1.0,
        help="share of the plan's training steps (default %(default)s: the whole plan)",
    )
    args = parser.parse_args(argv)
    if args.steps <= 0:
        parser.error("--steps must be above 0")
    train(args.output, TrainingPlan(seed=args.seed).scaled(args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
