"""A copy of the baseline that differs only in bytes that do not change the model, judged again and again.

Its safetensors are written again with other metadata, so its content hash and model digest differ from the
baseline's and it is measured like any submission. Each trial uses other inputs (another block hash) and a
fresh baseline worker, as a day would. An honest harness gives it a speed-ratio interval that contains 1.0
about 95% of the time, and weight never: its score is not a significant improvement.

    poetry run python benchmarks/null_submission.py [--trials 20] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import tempfile
from pathlib import Path

from runtime_comparison import resaved_copy

from contest.baseline import ensure_models
from contest.definitions import DEFAULT_CONTEST_ID, day_inputs, get_contest
from contest.judging.judge import judge
from contest.judging.scoring import Entry, rank, weights

KEY = "resaved"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contest", default=DEFAULT_CONTEST_ID)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--work-dir", type=Path, default=None, help="keep checkpoints here (default: temporary)")
    args = parser.parse_args()

    contest = get_contest(args.contest)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="edge-null-"))
    try:
        models = ensure_models(contest, work_dir)
        baseline = models.baseline
        copy = resaved_copy(baseline, work_dir / "resaved")
        header = f"{'trial':>5}  {'pairs':>5}  {'stop':<15}  {'speed ratio [95% CI]':<24}  {'contains 1':<10}"
        print(f"{header}  {'score [95% CI]':<28}  {'A/A control ratio':<24}  weight", flush=True)
        contained = unpaid = 0
        medians: list[float] = []  # the baseline's median in each run: the machine's drift between runs
        for trial in range(args.trials):
            block_hash = hashlib.sha256(f"null-submission trial {trial}".encode()).digest()
            inputs = day_inputs(contest, block_hash)
            judged = judge(models, {KEY: copy}, contest, inputs, progress=lambda _: None)
            judgement = judged.judgements[KEY]
            medians += [control.baseline_seconds.value for control in judged.controls]
            if judgement.sampled is not None:
                medians.append(statistics.median(judgement.sampled.baseline_seconds))
            if judgement.comparison is None:
                print(f"{trial + 1:>5}  out: {judgement.verdict.reason}", flush=True)
                unpaid += 1
                continue
            verdict, ratio = judgement.verdict, judgement.comparison.speed_ratio
            weight = weights(rank([Entry(KEY, 1, verdict)], contest.tie_margin)).get(KEY, 0.0)
            contained += ratio.contains(1.0)
            unpaid += weight == 0.0
            control = judged.controls[0].speed_ratio
            print(
                f"{trial + 1:>5}  {judgement.sampled.pairs:>5}  {judgement.sampled.stop.value:<15}  "
                f"{ratio.value:.3f} [{ratio.low:.3f}, {ratio.high:.3f}]{'':<5}  {ratio.contains(1.0)!s:<10}  "
                f"{verdict.score:+.4f} [{verdict.low:+.4f}, {verdict.high:+.4f}]  "
                f"{control.value:.3f} [{control.low:.3f}, {control.high:.3f}]{'':<5}  {weight:.4f}",
                flush=True,
            )
        print(f"\nratio interval contains 1.0: {contained} of {args.trials}; no weight: {unpaid} of {args.trials}")
        drift = statistics.stdev(medians) / statistics.mean(medians)
        print(
            f"the baseline's median over {len(medians)} runs: {statistics.mean(medians) * 1000:.1f} ms, relative "
            f"spread {drift:.3f} (the contest assumes drift {contest.control.drift})"
        )
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
