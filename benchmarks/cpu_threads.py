"""Why the tiny contest draws on one CPU thread: each thread count's speed, CPU time and pair-to-pair noise.

For each thread count, the tiny baseline and its ONNX Runtime variant are loaded in this process as a worker
loads them (``use_cpu_threads`` first, so ONNX Runtime's pool follows torch's) and draw the same inputs: the
wall and CPU milliseconds an image, how many cores that kept busy, and, over A/A pairs of two loads of the
baseline in ABBA order, the spread of the pairs' log time ratio (what the speed ratio's interval is made of).

    poetry run python benchmarks/cpu_threads.py [--threads 1 2] [--images 12] [--pairs 24]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from similarity_calibration import Draw, drawer

from contest.baseline import ensure_models
from contest.definitions import DEFAULT_CONTEST_ID, get_contest
from contest.inputs import derive_inputs
from contest.judging.pairing import order_of
from pipelines.generation import GenerationInput
from pipelines.onnx_unet import export_onnx_checkpoint
from pipelines.torch_runtime import use_cpu_threads

FIXED_BLOCK_HASH = bytes.fromhex("c0de" * 16)


def drawing(draw: Draw, inputs: Sequence[GenerationInput]) -> tuple[float, float]:
    """Wall and CPU seconds an image, one image at a time."""
    cpu, wall = time.process_time(), time.perf_counter()
    for item in inputs:
        draw([item])
    return (time.perf_counter() - wall) / len(inputs), (time.process_time() - cpu) / len(inputs)


def pair_spread(first: Draw, second: Draw, inputs: Sequence[GenerationInput]) -> float:
    """The standard deviation of log(second's time / first's) over pairs in the judging's ABBA order."""
    logs = []
    for index, item in enumerate(inputs):
        seconds = [0.0, 0.0]
        for side in order_of(index):
            started = time.perf_counter()
            (first, second)[side]([item])
            seconds[side] = time.perf_counter() - started
        logs.append(math.log(seconds[1] / seconds[0]))
    return statistics.stdev(logs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contest", default=DEFAULT_CONTEST_ID)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--images", type=int, default=12, help="images timed per runtime and thread count")
    parser.add_argument("--pairs", type=int, default=24, help="A/A pairs per thread count")
    args = parser.parse_args()
    contest = get_contest(args.contest)
    inputs = derive_inputs(FIXED_BLOCK_HASH, contest.id, args.images + args.pairs + 2, contest.prompts)
    warmup, timed, paired = inputs[:2], inputs[2 : 2 + args.images], inputs[2 + args.images :]
    work_dir = Path(tempfile.mkdtemp(prefix="edge-threads-"))
    try:
        baseline = ensure_models(contest, work_dir).baseline
        onnx = export_onnx_checkpoint(baseline, work_dir / "onnx-unet")
        print("threads  runtime      ms/image  CPU ms/image  busy cores  A/A pair spread")
        for threads in args.threads:
            use_cpu_threads(threads)
            draws = {"diffusers": drawer(baseline, contest), "onnxruntime": drawer(onnx, contest)}
            copy = drawer(baseline, contest)
            for draw in (*draws.values(), copy):
                draw(list(warmup))
            spread = pair_spread(draws["diffusers"], copy, paired)
            for name, draw in draws.items():
                wall, cpu = drawing(draw, timed)
                shown = f"{spread:.3f}" if name == "diffusers" else "-"
                figures = f"{wall * 1000:8.0f}  {cpu * 1000:12.0f}  {cpu / wall:10.2f}  {shown:>15}"
                print(f"{threads:<8} {name:<12} {figures}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
