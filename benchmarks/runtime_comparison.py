"""Benchmark the tiny baseline against an identical copy (A/A) and its ONNX Runtime variant.

A/A shows the harness's own noise (the speed ratio's interval must contain 1.0); the ONNX row shows
what a real optimisation looks like through the same judging code the contest uses.

    poetry run python benchmarks/runtime_comparison.py [--samples 120] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from base.inputs import derive_inputs, parse_block_hash
from contest.baseline import ensure_baseline
from contest.definitions import DEFAULT_CONTEST_ID, get_contest
from contest.judging import judge
from contest.report import ReportRow, format_table
from pipelines.onnx_unet import export_onnx_checkpoint

FIXED_BLOCK_HASH = "0x" + "5eed" * 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contest", default=DEFAULT_CONTEST_ID)
    parser.add_argument("--samples", type=int, default=120, help="timed images per checkpoint")
    parser.add_argument("--block-hash", default=FIXED_BLOCK_HASH, help="seed of the inputs (32 bytes, hex)")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep checkpoints here (default: temporary)")
    args = parser.parse_args()

    contest = get_contest(args.contest)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="edge-bench-"))
    try:
        baseline = ensure_baseline(contest, work_dir)
        copy = work_dir / "a-a-copy"
        if not copy.exists():
            shutil.copytree(baseline, copy)
        onnx = work_dir / "onnx-unet"
        if not onnx.exists():
            export_onnx_checkpoint(baseline, onnx)
        inputs = derive_inputs(parse_block_hash(args.block_hash), contest.id, args.samples)

        print(f"contest {contest.id}: {args.samples} timed images per checkpoint, each checkpoint in its own worker,")
        print("measured in alternation with the baseline's worker", flush=True)
        judged = judge(baseline, {"a/a copy": copy, "onnx unet": onnx}, contest, inputs, progress=print)
        rows = [ReportRow(name, j.result, j.comparison) for name, j in judged.judgements.items() if j.result]
        print()
        print(format_table(judged.baseline, rows, judged.harness_share))
        aa = judged.judgements["a/a copy"].comparison.speed_ratio
        print(
            f"\nA/A speed ratio {aa.value:.3f} [{aa.low:.3f}, {aa.high:.3f}]: "
            f"contains 1.0: {aa.contains(1.0)}, half-width {aa.half_width_fraction:.1%}"
        )
        device = judged.baseline.device
        print(f"device: {device.name} ({device.kind}), torch {device.torch}, wall {judged.wall_seconds:.1f} s")
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
