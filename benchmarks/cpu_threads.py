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

from contest.baseline import ensure_models
from contest.definitions import DEFAULT_CONTEST_ID, Contest, get_contest, inspect_for_contest
from contest.inputs import derive_inputs
from pipelines.generation import GenerationInput, Runtime
from pipelines.loader import load_runtime
from pipelines.onnx_unet import export_onnx_checkpoint
from pipelines.torch_runtime import use_cpu_threads

FIXED_BLOCK_HASH = bytes.fromhex("c0de" * 16)


def load(folder: Path, contest: Contest) -> Runtime:
    manifest = inspect_for_contest(folder, contest)
    return load_runtime(folder, manifest, contest.generation, contest.device, contest.default_dtype)


def drawing(runtime: Runtime, inputs: Sequence[GenerationInput]) -> tuple[float, float]:
    """Wall and CPU seconds an image, one image at a time."""
    cpu, wall = time.process_time(), time.perf_counter()
    for item in inputs:
        runtime.generate([item])
    return (time.perf_counter() - wall) / len(inputs), (time.process_time() - cpu) / len(inputs)


def pair_spread(first: Runtime, second: Runtime, inputs: Sequence[GenerationInput]) -> float:
    """The standard deviation of log(second's time / first's) over pairs in ABBA order."""
    logs = []
    for index, item in enumerate(inputs):
        order = (first, second) if index % 4 in (0, 3) else (second, first)
        seconds = {}
        for runtime in order:
            started = time.perf_counter()
            runtime.generate([item])
            seconds[id(runtime)] = time.perf_counter() - started
        logs.append(math.log(seconds[id(second)] / seconds[id(first)]))
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
            runtimes = {"diffusers": load(baseline, contest), "onnxruntime": load(onnx, contest)}
            copy = load(baseline, contest)
            for runtime in (*runtimes.values(), copy):
                runtime.generate(list(warmup))
            spread = pair_spread(runtimes["diffusers"], copy, paired)
            for name, runtime in runtimes.items():
                wall, cpu = drawing(runtime, timed)
                shown = f"{spread:.3f}" if name == "diffusers" else "-"
                figures = f"{wall * 1000:8.0f}  {cpu * 1000:12.0f}  {cpu / wall:10.2f}  {shown:>15}"
                print(f"{threads:<8} {name:<12} {figures}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
