"""The miner's self-check: the validator's own judging, on one submission."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from base.inputs import GenerationInput
from contest.baseline import ContestModels
from contest.definitions import Contest
from contest.judging import judge, screen
from contest.leaderboard import control_from
from contest.report import ReportRow, format_controls, format_table
from contest.scoring import Verdict, invalid
from pipelines.model_digest import model_digest

SUBMISSION = "submission"


@dataclass(frozen=True)
class SelfCheck:
    verdict: Verdict
    table: str


def self_check(
    models: ContestModels, submission: Path, contest: Contest, inputs: tuple[GenerationInput, ...]
) -> SelfCheck:
    refused = screen(submission, contest, model_digest(models.baseline, contest.default_dtype))
    if refused is not None:  # out before measuring: no worker, no control
        return SelfCheck(invalid(refused.refusal or ""), "")
    judged = judge(models, {SUBMISSION: submission}, contest, inputs)
    judgement = judged.judgements[SUBMISSION]
    if judgement.result is None:
        return SelfCheck(judgement.verdict, "")
    rows = [ReportRow(SUBMISSION, judgement.result, judgement.comparison)]
    controls = format_controls([control_from(reference) for reference in judged.controls])
    table = "\n".join([format_table(judged.baseline, rows, judged.harness_share), *controls])
    return SelfCheck(judgement.verdict, table)
