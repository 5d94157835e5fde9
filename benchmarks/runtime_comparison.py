"""Benchmark the tiny baseline against an identical copy (A/A) and its ONNX Runtime variant, in one run.

A/A shows the harness's own noise (the speed ratio's interval should contain 1.0); the ONNX row shows what
a real optimisation looks like through the same judging code the contest uses. The baseline's median inside
each pair shows whether a submission disturbs the baseline it is compared with: inside the ONNX pair it
should match its median inside the A/A pair.

    poetry run python benchmarks/runtime_comparison.py [--pairs 60] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import tempfile
from pathlib import Path

from safetensors.numpy import load_file, save_file

from contest.baseline import ensure_models
from contest.definitions import DEFAULT_CONTEST_ID, Contest, day_inputs, get_contest
from contest.inputs import parse_block_hash
from contest.judging.judge import judge
from contest.publish.report import ReportRow, format_table
from pipelines.onnx_unet import export_onnx_checkpoint

FIXED_BLOCK_HASH = "0x" + "5eed" * 16
UNET_WEIGHTS = Path("unet") / "diffusion_pytorch_model.safetensors"


def resave_unet(folder: Path) -> None:
    """The UNet's weights written again with other metadata: other bytes, the same model. The file is replaced,
    never written through, so a folder of hard links to the baseline leaves the baseline as it was."""
    weights = folder / UNET_WEIGHTS
    tensors = load_file(weights)
    weights.unlink()
    save_file(tensors, weights, metadata={"format": "pt", "saved_by": "a re-save"})


def resaved_copy(baseline: Path, destination: Path) -> Path:
    """The baseline with its UNet re-saved (``resave_unet``)."""
    if not destination.exists():
        shutil.copytree(baseline, destination)
        resave_unet(destination)
    return destination


def fixed_pairs(contest: Contest, pairs: int | None) -> Contest:
    """The contest with exactly ``pairs`` pairs per comparison (its own adaptive sampling when None)."""
    if pairs is None:
        return contest
    sampling = dataclasses.replace(contest.sampling, min_pairs=pairs, max_pairs=pairs)
    return dataclasses.replace(contest, sampling=sampling)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contest", default=DEFAULT_CONTEST_ID)
    parser.add_argument("--pairs", type=int, default=60, help="pairs per comparison, a multiple of 4 (0: adaptive)")
    parser.add_argument("--block-hash", default=FIXED_BLOCK_HASH, help="seed of the inputs (32 bytes, hex)")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep checkpoints here (default: temporary)")
    args = parser.parse_args()

    contest = fixed_pairs(get_contest(args.contest), args.pairs or None)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="edge-bench-"))
    try:
        models = ensure_models(contest, work_dir)
        baseline = models.baseline
        copy = resaved_copy(baseline, work_dir / "a-a-copy")
        onnx = work_dir / "onnx-unet"
        if not onnx.exists():
            export_onnx_checkpoint(baseline, onnx)
        inputs = day_inputs(contest, parse_block_hash(args.block_hash))

        print(f"contest {contest.id}: each checkpoint in its own worker, paired with the baseline's worker,")
        print(f"{contest.sampling.min_pairs}-{contest.sampling.max_pairs} pairs per comparison", flush=True)
        judged = judge(models, {"a/a copy": copy, "onnx unet": onnx}, contest, inputs, progress=print)
        rows = [ReportRow(name, j.result, j.comparison) for name, j in judged.judgements.items() if j.result]
        print()
        print(format_table(judged.baseline, rows, judged.harness_share))
        print("\nthe baseline inside each pair:")
        (control,) = judged.controls
        print(f"  control (A/A, same folder): median {control.baseline_seconds.value * 1000:.1f} ms")
        for name, judgement in judged.judgements.items():
            sampled = judgement.sampled
            if sampled is None:
                print(f"  {name}: {judgement.verdict.reason}")
                continue
            ratio = judgement.comparison.speed_ratio
            print(
                f"  {name}: median {statistics.median(sampled.baseline_seconds) * 1000:.1f} ms over {sampled.pairs}"
                f" pairs ({sampled.baseline_slowdown:+.1%} against the control); speed ratio {ratio.value:.3f} "
                f"[{ratio.low:.3f}, {ratio.high:.3f}], contains 1.0: {ratio.contains(1.0)}"
            )
        device = judged.baseline.device
        print(f"device: {device.name} ({device.kind}), torch {device.torch}, wall {judged.wall_seconds:.1f} s")
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
