"""Every manifest option against the baseline, through the contest's own judging, on one day's inputs.

One row per option: the speed ratio with its 95% interval, the similarity gate's minimum SSIM and whether
it passed, the score's interval and whether it is a significant improvement, and the load time. Options
this machine cannot run are listed with the reason; their code paths have unit tests with stand-ins.

    poetry run python benchmarks/optimisations.py [--only NAME ...] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from runtime_comparison import FIXED_BLOCK_HASH

from contest.baseline import ensure_models
from contest.definitions import DEFAULT_CONTEST_ID, day_inputs, get_contest
from contest.inputs import parse_block_hash
from contest.judging.judge import Judgement, judge
from pipelines import recipes

OPTIONS: dict[str, Callable[[Path], None]] = {
    "fewer steps (6 of 8)": lambda f: recipes.fewer_steps(f, 6),
    "fewer steps (4 of 8)": lambda f: recipes.fewer_steps(f, 4),
    "guidance cut-off 0.5": lambda f: recipes.guidance_cut_off(f, 0.5),
    "guidance cut-off 0.75": lambda f: recipes.guidance_cut_off(f, 0.75),
    "scheduler DPM-Solver++": lambda f: recipes.scheduler(f, "DPMSolverMultistepScheduler"),
    "deepcache interval 2": lambda f: recipes.deepcache(f, interval=2, branch=0),
    "deepcache interval 3": lambda f: recipes.deepcache(f, interval=3, branch=0),
    "token merging 0.5": lambda f: recipes.token_merging(f, ratio=0.5),
    "int8 weight-only": lambda f: recipes.quantized(f, "int8_weight_only"),
    "int8 dynamic": lambda f: recipes.quantized(f, "int8_dynamic"),
    "torch.compile": lambda f: recipes.compiled(f),
    "onnx unet": recipes.onnx_unet,
    "onnx unet int8": recipes.onnx_quantized_unet,
    "onnx unet, vae, encoders": recipes.onnx_parts,
    "channels_last": lambda f: recipes.update_manifest(f, torch={"channels_last": True}),
}
NOT_HERE = {
    "float8 weight-only / dynamic": "needs a CUDA GPU with compute capability 8.9 or newer",
    "onnx TensorRT provider": "needs onnxruntime-gpu, TensorRT and an NVIDIA GPU",
    "onnx CUDA provider": "needs onnxruntime-gpu and an NVIDIA GPU",
    "torch.compile mode reduce-overhead": "CUDA graphs; on the CPU it is the default mode",
}


def row(name: str, judgement: Judgement) -> str:
    comparison = judgement.comparison
    if comparison is None or judgement.result is None:
        return f"{name:<24}  out: {judgement.verdict.reason}"
    ratio, verdict = comparison.speed_ratio, judgement.verdict
    similarity = comparison.similarity.minimum if comparison.similarity else float("nan")
    gate = "FAIL" if (verdict.reason or "").startswith("similarity") else "pass"
    sampled = judgement.sampled
    significant = "yes" if verdict.significant else "no"
    return (
        f"{name:<24}  {ratio.value:6.3f} [{ratio.low:.3f}, {ratio.high:.3f}]  {similarity:7.3f}  {gate:<4}  "
        f"{verdict.score:+7.3f} [{verdict.low:+.3f}, {verdict.high:+.3f}]  {significant:<3}  "
        f"{judgement.result.load_seconds:6.1f}  {sampled.pairs if sampled else 0:>5}  {verdict.reason or ''}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contest", default=DEFAULT_CONTEST_ID)
    parser.add_argument("--only", nargs="*", default=None, help="option names to run (default: all)")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep checkpoints here (default: temporary)")
    args = parser.parse_args()

    contest = get_contest(args.contest)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="edge-options-"))
    chosen = {name: recipe for name, recipe in OPTIONS.items() if args.only is None or name in args.only}
    try:
        models = ensure_models(contest, work_dir)
        baseline = models.baseline
        folders = {}
        for index, (name, recipe) in enumerate(chosen.items()):
            folder = work_dir / f"option-{index}"
            if not folder.exists():
                shutil.copytree(baseline, folder)
                recipe(folder)
            folders[name] = folder
        inputs = day_inputs(contest, parse_block_hash(FIXED_BLOCK_HASH))
        print(f"contest {contest.id}: every option judged against the baseline, each in its own worker", flush=True)
        judged = judge(models, folders, contest, inputs, progress=print)
        print()
        print(
            f"{'option':<24}  {'speed ratio [95% CI]':<22}  {'min sim':>7}  gate  {'score [95% CI]':<25}  sig  "
            f"{'load s':>6}  {'pairs':>5}  reason"
        )
        for name, judgement in judged.judgements.items():
            print(row(name, judgement))
        for name, reason in NOT_HERE.items():
            print(f"{name:<24}  not run here: {reason}")
        control = judged.controls[0].speed_ratio
        print(
            f"\nA/A control ratio {control.value:.3f} [{control.low:.3f}, {control.high:.3f}]; gate: min similarity >= "
            f"{contest.similarity.threshold}; significant: score's lower bound > {contest.minimum_improvement}"
        )
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, wall {judged.wall_seconds:.0f} s")
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
