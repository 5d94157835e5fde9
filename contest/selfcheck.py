"""The miner's self-check: the validator's own benchmark, comparison and scoring, on one submission."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from base.inputs import GenerationInput
from contest.benchmark import BenchmarkRequest, run_benchmark
from contest.compare import compare
from contest.definitions import Contest
from contest.report import ReportRow, format_table
from contest.scoring import Verdict, score


@dataclass(frozen=True)
class SelfCheck:
    verdict: Verdict
    table: str


def self_check(
    baseline: Path, submission: Path, contest: Contest, inputs: tuple[GenerationInput, ...]
) -> SelfCheck:
    baseline_result = run_benchmark(BenchmarkRequest(baseline, contest.id, inputs))
    submission_result = run_benchmark(BenchmarkRequest(submission, contest.id, inputs))
    rows = [
        ReportRow("baseline", baseline_result, compare(baseline_result, baseline_result)),
        ReportRow("submission", submission_result, comparison := compare(baseline_result, submission_result)),
    ]
    return SelfCheck(score(comparison, contest), format_table(rows))
