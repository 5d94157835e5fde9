"""Where the similarity gate's threshold comes from: every allowed option and every known-bad case, scored.

Each row draws the day's image set (the first ``min_pairs`` inputs) for several days and scores it against
the baseline's with the validator's own gate (``contest.judging.embedding.ImageEncoderWorker``: grayscale SSIM and
CLIP image-embedding cosine, weighted as the contest says). Allowed options (every manifest recipe, and the
baseline loaded again) should pass; known-bad cases (weights that drifted, weights that make NaN, a blank
image, a model that ignores the prompt) must fail. The table prints the lowest score of each row over all
its images, whether the contest's threshold separates the two groups, and what the gate sees day by day (the
minimum over one day's set): on how many days it lets the row through, and the range of the day minima and
of the day means.

    poetry run python benchmarks/similarity_calibration.py [--days 20] [--only NAME ...] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from optimisations import OPTIONS
from safetensors.torch import load_file, save_file

from contest.baseline import ensure_models
from contest.cli.demo import VAE_WEIGHTS, drifted_copy
from contest.definitions import DEFAULT_CONTEST_ID, Contest, get_contest, inspect_for_contest
from contest.inputs import derive_inputs
from contest.judging.embedding import ImageEncoderWorker
from contest.judging.scoring import similarity_refusal
from contest.judging.similarity import Similarity
from pipelines import recipes
from pipelines.generation import GenerationInput
from pipelines.loader import load_runtime

Draw = Callable[[Sequence[GenerationInput]], list[np.ndarray]]

EXTREMES: dict[str, Callable[[Path], None]] = {  # allowed, but how far they go is the threshold's business
    "fewer steps (2 of 8)": lambda f: recipes.fewer_steps(f, 2),
    "deepcache interval 5": lambda f: recipes.deepcache(f, interval=5, branch=0),
}


@dataclass(frozen=True)
class Row:
    name: str
    allowed: bool
    similarity: Similarity


def day_inputs(contest: Contest, days: int) -> list[GenerationInput]:
    """The image sets of ``days`` days, one after another."""
    inputs: list[GenerationInput] = []
    for day in range(days):
        block_hash = hashlib.sha256(f"similarity calibration day {day}".encode()).digest()
        inputs += derive_inputs(block_hash, contest.id, contest.sampling.min_pairs, contest.prompts)
    return inputs


def drawer(folder: Path, contest: Contest) -> Draw:
    """The checkpoint's images, loaded as the validator's worker loads it (guard, manifest, runtime)."""
    runtime = load_runtime(
        folder, inspect_for_contest(folder, contest), contest.generation, contest.device, contest.default_dtype
    )
    return runtime.generate


def nan_copy(baseline: Path, destination: Path) -> Path:
    """The baseline with one VAE decoder weight set to NaN: every image it draws is NaN, converted to black."""
    shutil.copytree(baseline, destination)
    weights = load_file(destination / VAE_WEIGHTS)
    name = next(name for name in weights if name.startswith("decoder.conv_out.weight"))
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, destination / VAE_WEIGHTS, metadata={"format": "pt"})
    return destination


def unet_noise_copy(baseline: Path, destination: Path, scale: float) -> Path:
    """The baseline with noise of ``scale`` times each UNet tensor's spread added: a quantisation gone wrong."""
    shutil.copytree(baseline, destination)
    path = destination / "unet" / "diffusion_pytorch_model.safetensors"
    weights = load_file(path)
    generator = torch.Generator().manual_seed(2)
    noisy = {
        name: tensor + scale * torch.randn(tensor.shape, generator=generator) * tensor.std()
        if tensor.numel() > 1
        else tensor
        for name, tensor in weights.items()
    }
    save_file(noisy, path, metadata={"format": "pt"})
    return destination


def prompt_ignored(draw: Draw) -> Draw:
    """The baseline's pictures for the same seeds and other prompts: what a model that ignores the text draws."""

    def drawn(inputs: Sequence[GenerationInput]) -> list[np.ndarray]:
        shifted = [replace(item, prompt=inputs[(index + 1) % len(inputs)].prompt) for index, item in enumerate(inputs)]
        return draw(shifted)

    return drawn


def words_swapped(draw: Draw, first: str, second: str) -> Draw:
    """The baseline's pictures for the same seeds with two words swapped in every prompt: a model that mixes up
    two colours (the red-team day's checkpoint with two tokenizer entries swapped draws the same)."""

    def swap(prompt: str) -> str:
        words = prompt.split(" ")
        return " ".join(second if word == first else first if word == second else word for word in words)

    return lambda inputs: draw([replace(item, prompt=swap(item.prompt)) for item in inputs])


def constant(value: int, contest: Contest) -> Draw:
    shape = (contest.generation.height, contest.generation.width, 3)
    return lambda inputs: [np.full(shape, value, np.uint8) for _ in inputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contest", default=DEFAULT_CONTEST_ID)
    parser.add_argument("--days", type=int, default=20, help="image sets to draw for each row (default: %(default)s)")
    parser.add_argument("--only", nargs="*", default=None, help="row names to run (default: all)")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep checkpoints here (default: temporary)")
    args = parser.parse_args()

    contest = get_contest(args.contest)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="edge-calibration-"))
    started = time.perf_counter()
    try:
        models = ensure_models(contest, work_dir)
        inputs = day_inputs(contest, args.days)
        baseline_draw = drawer(models.baseline, contest)
        reference = baseline_draw(inputs)

        def built(name: str, make: Callable[[Path], object]) -> Draw:
            folder = work_dir / "checkpoints" / hashlib.sha256(name.encode()).hexdigest()[:12]
            if not folder.exists():
                make(folder)
            return drawer(folder, contest)

        def option(recipe: Callable[[Path], None]) -> Callable[[Path], None]:
            def make(folder: Path) -> None:
                shutil.copytree(models.baseline, folder)
                recipe(folder)

            return make

        allowed: dict[str, Callable[[], Draw]] = {"baseline, loaded again": lambda: drawer(models.baseline, contest)}
        for name, recipe in {**OPTIONS, **EXTREMES}.items():
            allowed[name] = lambda name=name, recipe=recipe: built(name, option(recipe))
        bad: dict[str, Callable[[], Draw]] = {
            "drifted VAE decoder": lambda: built("drift", lambda f: drifted_copy(models.baseline, f)),
            "UNet weights +20% noise": lambda: built("noise", lambda f: unet_noise_copy(models.baseline, f, 0.2)),
            "NaN weights (black)": lambda: built("nan", lambda f: nan_copy(models.baseline, f)),
            "blank (black)": lambda: constant(0, contest),
            "blank (mid grey)": lambda: constant(128, contest),
            "prompt ignored": lambda: prompt_ignored(baseline_draw),
            "red and blue swapped": lambda: words_swapped(baseline_draw, "red", "blue"),
        }
        rows: list[Row] = []
        with ImageEncoderWorker(models.image_encoder, contest) as encoder:
            for is_allowed, group in ((True, allowed), (False, bad)):
                for name, make_draw in group.items():
                    if args.only is not None and name not in args.only:
                        continue
                    print(f"drawing: {name}", flush=True)
                    rows.append(Row(name, is_allowed, encoder.similarity(reference, make_draw()(inputs))))
        report(rows, contest, len(inputs), time.perf_counter() - started)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)


def must_fail(row: Row) -> bool:
    """A known-bad case, or a recipe pushed so far (``EXTREMES``) that it draws other pictures."""
    return not row.allowed or row.name in EXTREMES


def by_day(similarity: Similarity, day_images: int) -> list[Similarity]:
    """What the gate sees on each day image set the row drew (``day_images`` each, in order)."""
    days = [slice(start, start + day_images) for start in range(0, len(similarity.per_image), day_images)]
    return [Similarity.of(similarity.per_image[day], similarity.ssim[day], similarity.clip[day]) for day in days]


def report(rows: list[Row], contest: Contest, images: int, wall_s: float) -> None:
    gate, day_images = contest.similarity, contest.sampling.min_pairs
    print(
        f"\ncontest {contest.id}: {images} images a row, days of {day_images}; score = {gate.clip_weight:.2f} CLIP + "
        f"{1 - gate.clip_weight:.2f} SSIM (grayscale); a day passes with its minimum at least {gate.threshold} "
        f"and its mean at least {gate.mean_threshold}"
    )
    columns = "min SSIM  min CLIP  min score    mean  all   days passed  day minima     day means"
    print(f"{'case':<26}  {'kind':<7}  {columns}")
    days_of = {row.name: by_day(row.similarity, day_images) for row in rows}
    for row in rows:
        similarity, days = row.similarity, days_of[row.name]
        passed = sum(similarity_refusal(day, gate) is None for day in days)
        minima, means = [day.minimum for day in days], [day.mean for day in days]
        print(
            f"{row.name:<26}  {'allowed' if row.allowed else 'bad':<7}  {min(similarity.ssim):8.4f}  "
            f"{min(similarity.clip):8.4f}  {similarity.minimum:9.4f}  {similarity.mean:6.4f}  "
            f"{'pass' if similarity_refusal(similarity, gate) is None else 'FAIL'}  {passed:>7}/{len(days):<3}  "
            f"{min(minima):.4f}-{max(minima):.4f}  {min(means):.4f}-{max(means):.4f}"
        )
    kept = [row for row in rows if row.allowed and all(similarity_refusal(d, gate) is None for d in days_of[row.name])]
    for figure, threshold in (("minimum", gate.threshold), ("mean", gate.mean_threshold)):
        values = {row.name: [getattr(day, figure) for day in days_of[row.name]] for row in rows}
        below = [row for row in rows if must_fail(row) and max(values[row.name]) < threshold]
        if kept and below:
            worst = max(below, key=lambda row: max(values[row.name]))
            closest = min(kept, key=lambda row: min(values[row.name]))
            high, low = max(values[worst.name]), min(values[closest.name])
            print(
                f"day {figure}: highest case it keeps out {high:.4f} ({worst.name}), lowest recipe "
                f"passing every day {low:.4f} ({closest.name}); threshold {threshold}, margins "
                f"{threshold - high:+.4f} / {low - threshold:+.4f}"
            )
    changed = [row.name for row in rows if not must_fail(row) and row not in kept]
    if changed:
        print(f"recipes that change what this contest's baseline draws on some days, at these settings: {changed}")
    print(f"torch {torch.__version__}, wall {wall_s:.0f} s")


if __name__ == "__main__":
    main()
