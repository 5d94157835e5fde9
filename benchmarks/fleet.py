"""One set of submissions judged in process and by Ray hosts: wall time, Ray's overhead, and do they agree?

The set: the ONNX Runtime UNet (clearly faster), a re-saved copy of the baseline (as fast as it) and a checkpoint
carrying a pickle (refused at screening). It is judged once by the
validator's own process, then by ``--hosts`` Ray actors on a local Ray instance, where a custom resource lets
this machine stand for that many contest devices. Printed: each run's wall time, what each host spent opening
(its workers and its A/A control), the overhead per submission, and whether the two runs agree on every
submission's validity and reason kind and on the winner.

On a machine with fewer cores than hosts need (each host's baseline and submission run side by side), hosts
compete for the cores, so the wall time does not fall with more hosts: the figure to read there is the
overhead. On one GPU per host each host has its own device.

    poetry run python benchmarks/fleet.py [--hosts 2] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import ray
from runtime_comparison import FIXED_BLOCK_HASH, resaved_copy  # beside this script

from contest.baseline import ensure_models
from contest.definitions import DEFAULT_CONTEST_ID, day_inputs, get_contest
from contest.inputs import parse_block_hash
from contest.judging.judge import judge
from contest.judging.ray_hosts import RayFleet, connect
from pipelines.onnx_unet import export_onnx_checkpoint


def with_pickle(baseline: Path, destination: Path) -> Path:
    if not destination.exists():
        shutil.copytree(baseline, destination)
        (destination / "unet" / "weights.data").write_bytes(b"\x80\x04K\x01.")
    return destination


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=2, help="Ray hosts this machine stands for (default: 2)")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep checkpoints here (default: temporary)")
    args = parser.parse_args()

    contest = get_contest(DEFAULT_CONTEST_ID)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="edge-fleet-"))
    models = ensure_models(contest, work_dir)
    onnx = work_dir / "onnx-unet"
    if not onnx.exists():
        export_onnx_checkpoint(models.baseline, onnx)
    submissions = {
        "onnx": onnx,
        "resaved-baseline": resaved_copy(models.baseline, work_dir / "resaved"),
        "pickle": with_pickle(models.baseline, work_dir / "pickle"),
    }
    inputs = day_inputs(contest, parse_block_hash(FIXED_BLOCK_HASH))

    print(f"in process: {len(submissions)} submissions", flush=True)
    alone = judge(models, submissions, contest, inputs, progress=lambda _: None)

    started = time.perf_counter()
    connect("local", args.hosts)
    ray_start = time.perf_counter() - started
    print(f"Ray: {args.hosts} hosts ({ray_start:.1f} s to start Ray)", flush=True)
    opened: list[float] = []

    def progress(line: str) -> None:
        if " is ready on " in line:
            opened.append(time.perf_counter())

    began = time.perf_counter()
    spread = judge(models, submissions, contest, inputs, progress=progress, hosts=RayFleet())
    hosts_open_s = (opened[-1] if opened else began) - began
    ray.shutdown()

    print()
    print(f"{'run':<12} {'wall s':>8} {'controls':>9} {'timed s':>8} {'harness':>8}")
    for name, run in (("in process", alone), (f"{args.hosts} hosts", spread)):
        print(
            f"{name:<12} {run.wall_seconds:8.1f} {len(run.controls):9d} {run.timed_seconds:8.1f} "
            f"{run.harness_share:8.0%}"
        )
    judged = len(submissions)
    overhead = spread.wall_seconds - alone.wall_seconds
    print(f"\nhosts open (workers started, A/A control run on each): {hosts_open_s:.1f} s after judging began")
    print(
        f"wall time with {args.hosts} hosts minus in process: {overhead:+.1f} s ({overhead / judged:+.1f} s/submission)"
    )
    same_kinds, same_winner = alone.kinds() == spread.kinds(), alone.top_scored() == spread.top_scored()
    print(f"same validity and reason kinds: {same_kinds}; same winner: {same_winner} ({spread.top_scored()})")
    for key in submissions:
        print(f"  {key:<18} in process {alone.kinds()[key]:<12} {args.hosts} hosts {spread.kinds()[key]}")


if __name__ == "__main__":
    main()
