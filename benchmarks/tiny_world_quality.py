"""Does the embedded contest's baseline draw what it is told? Colours and retrieval over held-out prompts.

For ``--prompts`` sentences of the shape world's grammar from a seed the training never used, the baseline
draws one picture each, loaded as the validator's worker loads it. Two checks:

- colour: the picture's dominant colour other than the prompt's background is one of the prompt's shapes'
  colours (and, reported beside it, the picture's most common colour is the prompt's background);
- retrieval: among the picture's own prompt and 9 other held-out prompts, the tiny CLIP (the baseline's text
  encoder 2 and the similarity gate's image encoder) ranks the picture's own prompt first.

A contact sheet of the first 16 pictures, each under its prompt, is saved as a PNG.

    poetry run python benchmarks/tiny_world_quality.py [--prompts 100] [--sheet tiny-world.png]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from similarity_calibration import drawer
from transformers import CLIPTextModelWithProjection, CLIPTokenizer

from contest.baseline import ensure_models
from contest.definitions import DEFAULT_CONTEST_ID, get_contest
from pipelines.generation import GenerationInput
from pipelines.image_encoder import ImageEncoder
from pipelines.shape_world import COLOURS, Scene, dominant_colour, nearest_colours, parse_prompt, scenes
from pipelines.tiny_world.train import TrainingPlan, token_ids

HELD_OUT_SEED = 1_000_003  # training draws its scenes from TrainingPlan.seed
CANDIDATES = 10
SHEET_PICTURES = 16


def colour_checks(picture: np.ndarray, scene: Scene) -> tuple[bool, bool]:
    """(the dominant non-background colour is a shape's, the most common colour is the background)."""
    most_common = list(COLOURS)[int(np.bincount(nearest_colours(picture).ravel()).argmax())]
    return dominant_colour(picture, scene.background) in {shape.colour for shape in scene.shapes}, (
        most_common == scene.background
    )


@torch.inference_mode()
def text_embeddings(baseline: Path, prompts: list[str]) -> np.ndarray:
    tokenizer = CLIPTokenizer.from_pretrained(baseline / "tokenizer_2")
    model = CLIPTextModelWithProjection.from_pretrained(baseline / "text_encoder_2", use_safetensors=True).eval()
    return torch.nn.functional.normalize(model(token_ids(tokenizer, prompts)).text_embeds, dim=-1).numpy()


def retrieved(images: np.ndarray, texts: np.ndarray) -> list[bool]:
    """Whether each picture's own prompt scores above the next ``CANDIDATES - 1`` prompts (taken in turn)."""
    count = len(images)
    hits = []
    for index in range(count):
        candidates = [(index + offset) % count for offset in range(CANDIDATES)]
        scores = texts[candidates] @ images[index]
        hits.append(int(np.argmax(scores)) == 0)
    return hits


def contact_sheet(pictures: list[np.ndarray], prompts: list[str], columns: int = 4) -> Image.Image:
    """Each picture at twice its size, its prompt wrapped beneath."""
    side = 2 * pictures[0].shape[0]
    caption = 64
    rows = -(-len(pictures) // columns)
    sheet = Image.new("RGB", (columns * side, rows * (side + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (picture, prompt) in enumerate(zip(pictures, prompts, strict=True)):
        left, top = (index % columns) * side, (index // columns) * (side + caption)
        sheet.paste(Image.fromarray(picture).resize((side, side), Image.Resampling.NEAREST), (left, top))
        draw.multiline_text((left + 4, top + side + 2), "\n".join(textwrap.wrap(prompt, 40)), fill="black")
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contest", default=DEFAULT_CONTEST_ID)
    parser.add_argument("--prompts", type=int, default=100, help="held-out prompts to draw (default: %(default)s)")
    parser.add_argument("--sheet", type=Path, default=Path("tiny-world.png"), help="where to save the contact sheet")
    args = parser.parse_args()
    if args.prompts < CANDIDATES:
        parser.error(f"--prompts must be at least {CANDIDATES}")

    contest = get_contest(args.contest)
    started = time.perf_counter()
    work_dir = Path(tempfile.mkdtemp(prefix="edge-tiny-world-"))
    try:
        models = ensure_models(contest, work_dir)
        held_out = scenes(HELD_OUT_SEED, args.prompts)
        plan = TrainingPlan()
        seen = {scene.prompt for scene in scenes(plan.seed, plan.scenes)}
        prompts = [scene.prompt for scene in held_out]
        pictures = drawer(models.baseline, contest)([GenerationInput(p, seed) for seed, p in enumerate(prompts)])
        colours = [
            colour_checks(picture, parse_prompt(prompt)) for picture, prompt in zip(pictures, prompts, strict=True)
        ]
        images = ImageEncoder(models.image_encoder, contest.device).embed(pictures)
        hits = retrieved(images, text_embeddings(models.baseline, prompts))
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(pictures[:SHEET_PICTURES], prompts[:SHEET_PICTURES]).save(args.sheet)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    count = len(prompts)
    unseen = [prompt not in seen for prompt in prompts]
    print(
        f"contest {contest.id}: {count} held-out prompts (scenes of seed {HELD_OUT_SEED}); {sum(unseen)} of them "
        f"never among the {plan.scenes} training scenes"
    )
    checks = {
        "a shape's colour dominates (background aside)": [c for c, _ in colours],
        "the background's colour is the most common": [b for _, b in colours],
        f"own prompt retrieved first among {CANDIDATES}": hits,
    }
    for name, results in checks.items():
        never_seen = sum(hit for hit, new in zip(results, unseen, strict=True) if new)
        print(f"  {name:<48} {sum(results):3d}/{count}   never seen: {never_seen}/{sum(unseen)}")
    print(f"contact sheet of {min(count, SHEET_PICTURES)} pictures: {args.sheet}")
    print(f"torch {torch.__version__}, wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
