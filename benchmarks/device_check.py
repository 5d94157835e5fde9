"""What one short run on a CUDA device learns about the SDXL contest there, printed and written as JSON.

It builds (or reuses, under --work-dir) SDXL at its published size with random weights, on contest
sdxl-offline-cuda: every setting of the SDXL contest (fp16, 1024x1024, 20 steps, its sampling caps and limits),
judged through the contest's own code. In order, while the time budget lasts:

1. the device and the versions it runs;
2. the A/A control: the baseline's time per image with its interval and the half-width the pairs reached at
   the contest's caps, its peak device memory per process and energy per image (NVML), its load time;
3. a re-saved copy of the baseline (the null submission, as benchmarks/null_submission.py judges it): the
   worker spread, and torch.compile, float8 weight-only (compute capability 8.9 or newer) and int8
   weight-only, each judged as a submission;
4. a second run, with its own A/A control: the ONNX UNet on ONNX Runtime's CUDA provider and, where TensorRT
   is installed, on its TensorRT provider (the engine is built at load, within the contest's load limit);
5. the machine's drift (the spread of the baseline's medians over every run and pair) and how many
   submissions fit one day on this device.

Each figure is written to the JSON the moment it is known, so a run cut short keeps what it learned. The
SDXL contest's constants (worker spread, drift, image and load limits) are set from this run made on the
contest's device (README, "Contributing").

    poetry run python benchmarks/device_check.py [--contest ID] [--budget-s 420] [--output FILE] [--work-dir DIR]

Without a CUDA device it exits 2 with one line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contest.definitions import Contest

DAY_SECONDS = 24 * 3600
DEFAULT_CONTEST = "sdxl-offline-cuda"
FIXED_BLOCK_HASH = hashlib.sha256(b"device check").digest()  # the same inputs on every device
ONNX_EXPORT_ESTIMATE_S = 240.0  # exporting the full UNet; the second run is skipped below this much budget


def no_device_line(device: str) -> str | None:
    """One line saying why this machine cannot run the check; None where the contest's device is there."""
    import torch

    if device == "cpu" or torch.cuda.is_available():
        return None
    return (
        f"device_check: no CUDA device here (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
        "run it on a machine with an NVIDIA GPU"
    )


@dataclass
class Report:
    """Everything learned so far, rewritten to ``path`` at each step."""

    path: Path
    budget_s: float
    contest: Contest
    started: float = field(default_factory=time.monotonic)
    data: dict[str, Any] = field(default_factory=dict)

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.data["elapsed_s"] = round(time.monotonic() - self.started, 1)
        self.path.write_text(json.dumps(self.data, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"{key}: {json.dumps(value, default=str)}", flush=True)


def device_facts(device: str) -> dict[str, Any]:
    import torch

    from base.measure.device import probe_device

    if device == "cpu":  # the embedded contest: a rehearsal of the stages on this machine
        return asdict(probe_device(device)) | {"compute_capability": None, "memory_bytes": None, "tensorrt": None}
    properties = torch.cuda.get_device_properties(0)
    try:
        import tensorrt

        tensorrt_version: str | None = tensorrt.__version__
    except ImportError:
        tensorrt_version = None
    return asdict(probe_device(device)) | {
        "compute_capability": f"{properties.major}.{properties.minor}",
        "memory_bytes": properties.total_memory,
        "tensorrt": tensorrt_version,
    }


def linked_copy(baseline: Path, destination: Path) -> Path:
    """The baseline's folder with its files hard-linked, not copied (7 GB each otherwise): a recipe that changes
    a file writes a new one."""
    shutil.copytree(baseline, destination, copy_function=os.link)
    return destination


def manifest_submissions(capability: tuple[int, ...]) -> dict[str, Callable[[Path], None]]:
    """The first run's submissions: the null copy, then options that need no conversion."""
    from runtime_comparison import resave_unet

    from pipelines import recipes

    chosen: dict[str, Callable[[Path], None]] = {
        "null copy (re-saved baseline)": resave_unet,
        "torch.compile": lambda folder: recipes.compiled(folder),
    }
    if capability >= (8, 9):
        chosen["float8 weight-only"] = lambda folder: recipes.quantized(folder, "float8_weight_only")
    chosen["int8 weight-only"] = lambda folder: recipes.quantized(folder, "int8_weight_only")
    return chosen


def onnx_submissions(tensorrt: bool) -> dict[str, Callable[[Path], None]]:
    from pipelines import recipes

    chosen: dict[str, Callable[[Path], None]] = {"onnx unet": recipes.onnx_unet}  # CUDA provider first
    if tensorrt:
        chosen["onnx unet, TensorRT provider"] = recipes.tensorrt
    return chosen


def prepare(baseline: Path, work_dir: Path, recipes: dict[str, Callable[[Path], None]], report: Report) -> dict:
    folders = {}
    for number, (name, recipe) in enumerate(recipes.items()):
        started = time.monotonic()
        folder = work_dir / f"run-{report.data.get('runs', 0)}-{number}"
        shutil.rmtree(folder, ignore_errors=True)
        recipe(linked_copy(baseline, folder))
        report.put(f"prepared {name}", {"seconds": round(time.monotonic() - started, 1)})
        folders[name] = folder
    return folders


def submission_row(judgement: Any) -> dict[str, Any]:
    verdict, result, comparison, sampled = (
        judgement.verdict,
        judgement.result,
        judgement.comparison,
        judgement.sampled,
    )
    row: dict[str, Any] = {"valid": verdict.valid, "reason": None if verdict.reason is None else str(verdict.reason)}
    if comparison is not None:
        ratio = comparison.speed_ratio
        row["speed_ratio"] = [ratio.value, ratio.low, ratio.high]
        row["similarity_min"] = comparison.similarity.minimum if comparison.similarity else None
    if result is not None:
        row |= {
            "ms_per_image": 1000 * statistics.median(result.sample_seconds),
            "load_seconds": result.load_seconds,
            "peak_memory_bytes": result.memory.peak_bytes,
            "memory_source": result.memory.source,
            "joules_per_image": result.joules_per_image,
        }
    if sampled is not None:
        row |= {"pairs": sampled.pairs, "stop": sampled.stop.value}
    return row


def judged_run(models: Any, folders: dict[str, Path], report: Report) -> Any:
    """One run of the contest's judging: its A/A control first, then each submission while the budget lasts."""
    from contest.definitions import day_inputs
    from contest.judging.judge import Judgement, judge

    contest = report.contest
    number = report.data.get("runs", 0)
    marks: list[float] = []  # the control's end, then each outcome's arrival
    spent: list[float] = []

    def progress(line: str) -> None:
        print(line, flush=True)
        if line.startswith("A/A control: baseline"):
            marks.append(time.monotonic())

    def record(key: str, outcome: Any) -> None:
        marks.append(time.monotonic())
        spent.append(marks[-1] - marks[-2])
        report.put(f"run {number}: {key}", submission_row(Judgement.of(outcome, contest)) | {"wall_s": spent[-1]})

    run = judge(
        models,
        folders,
        contest,
        day_inputs(contest, FIXED_BLOCK_HASH),
        progress=progress,
        record=record,
        closing=lambda: report.left() < 0,
    )
    report.put("runs", number + 1)
    control = run.controls[0]
    seconds, ratio = control.baseline_seconds, control.speed_ratio
    report.put(
        f"run {number}: A/A control",
        {
            "ms_per_image": [1000 * seconds.value, 1000 * seconds.low, 1000 * seconds.high],
            "speed_ratio": [ratio.value, ratio.low, ratio.high],
            "half_width": ratio.half_width_fraction,
            "target_half_width": contest.sampling.target_half_width,
            "pairs": control.pairs,
            "stop": control.stop.value,
            "copy_load_seconds": control.load_seconds,
            "copy_peak_memory_bytes": control.memory.peak_bytes,
        },
    )
    baseline = run.baseline
    report.put(
        f"run {number}: baseline",
        {
            "load_seconds": baseline.load_seconds,
            "peak_memory_bytes": baseline.memory.peak_bytes,
            "device_used_bytes": baseline.memory.device_used_bytes,
            "memory_source": baseline.memory.source,
            "joules_per_image": baseline.joules_per_image,
            "energy_reason": baseline.energy.reason,
            "harness_share": run.harness_share,
            "wall_seconds": run.wall_seconds,
            "wall_per_submission_s": spent,
        },
    )
    return run


def medians(run: Any) -> list[float]:
    """The baseline's median per image in each control and inside each pair: its drift within the machine."""
    found = [control.baseline_seconds.value for control in run.controls]
    return found + [
        statistics.median(j.sampled.baseline_seconds) for j in run.judgements.values() if j.sampled is not None
    ]


def summary(runs: list[Any], report: Report) -> None:
    contest = report.contest
    seen = [value for run in runs for value in medians(run)]
    null = runs[0].judgements.get("null copy (re-saved baseline)")
    image_s = runs[0].controls[0].baseline_seconds.value
    # One submission at the caps: its load, the warm-up of both sides, then at most max_pairs pairs or max_seconds.
    timed_at_caps = min(2 * contest.sampling.max_pairs * image_s, contest.sampling.max_seconds)
    worst = contest.load_timeout_s + 2 * contest.warmup_samples * image_s + timed_at_caps
    measured = [row for key, row in report.data.items() if key.endswith(": baseline")]
    per_submission = [s for row in measured for s in row["wall_per_submission_s"]]
    report.put(
        "summary",
        {
            "worker_spread": None
            if null is None or null.comparison is None
            else abs(null.comparison.speed_ratio.value - 1.0),
            "contest_worker_spread": contest.sampling.worker_spread,
            "drift": statistics.stdev(seen) / statistics.mean(seen) if len(seen) > 1 else None,
            "contest_drift": contest.control.drift,
            "seconds_per_submission_measured": statistics.median(per_submission) if per_submission else None,
            "submissions_per_day_measured": int(DAY_SECONDS / statistics.median(per_submission))
            if per_submission
            else None,
            "seconds_per_submission_at_caps": worst,
            "submissions_per_day_at_caps": int(DAY_SECONDS / worst),
        },
    )


def run_check(work_dir: Path, report: Report) -> None:
    from contest.baseline import ensure_models

    facts = device_facts(report.contest.device)
    report.put("device", facts)
    started = time.monotonic()
    models = ensure_models(report.contest, work_dir)
    report.put("build_or_load_seconds", round(time.monotonic() - started, 1))
    capability = tuple(int(part) for part in (facts["compute_capability"] or "0.0").split("."))
    runs = [judged_run(models, prepare(models.baseline, work_dir, manifest_submissions(capability), report), report)]
    if report.left() > ONNX_EXPORT_ESTIMATE_S:
        onnx = onnx_submissions(tensorrt=facts["tensorrt"] is not None)
        runs.append(judged_run(models, prepare(models.baseline, work_dir, onnx, report), report))
    else:
        report.put("onnx", f"skipped: {report.left():.0f} s of the budget left, under {ONNX_EXPORT_ESTIMATE_S:.0f}")
    summary(runs, report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contest", default=DEFAULT_CONTEST, help=f"({DEFAULT_CONTEST}; tiny-sdxl-cpu rehearses here)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop starting new work after this (420)")
    parser.add_argument("--output", type=Path, default=Path("device-check.json"), help="the JSON written as it goes")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the model here (default: temporary)")
    args = parser.parse_args(argv)
    from contest.definitions import get_contest

    contest = get_contest(args.contest)
    if (refusal := no_device_line(contest.device)) is not None:
        print(refusal, file=sys.stderr)
        return 2
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="edge-device-check-"))
    report = Report(args.output, args.budget_s, contest)
    report.put("contest", contest.id)
    try:
        run_check(work_dir, report)
        report.put("finished", True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
