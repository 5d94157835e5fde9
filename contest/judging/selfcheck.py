"""The miner's self-check: the validator's own judging, on one submission."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contest.baseline import ContestModels
from contest.definitions import Contest
from contest.judging.judge import JudgingRun, judge
from contest.judging.scoring import Verdict
from contest.judging.screening import screen
from pipelines.generation import GenerationInput

SUBMISSION = "submission"


@dataclass(frozen=True)
class SelfCheck:
    verdict: Verdict
    judged: JudgingRun | None = None  # None: out before anything was measured


def self_check(
    models: ContestModels, submission: Path, contest: Contest, inputs: tuple[GenerationInput, ...]
) -> SelfCheck:
    refused = screen(submission, contest, models.baseline_digest)
    if refused is not None:  # out before measuring: no worker, no control
        return SelfCheck(Verdict(None, reason=refused))
    judged = judge(models, {SUBMISSION: submission}, contest, inputs)
    return SelfCheck(judged.judgements[SUBMISSION].verdict, judged)
