"""A judged day as its leaderboard: the one mapping from what a day opened, judged and ranked to its record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from contest.judging.hosts import IN_PROCESS
from contest.judging.judge import Judgement, JudgingRun
from contest.judging.scoring import Faced, Placed, WeightVector
from contest.publish.gallery import Gallery
from contest.publish.leaderboard import (
    Device,
    HostRecord,
    Leaderboard,
    LeaderRecord,
    ThumbnailInput,
    WeightVectorRecord,
    control_from,
    metrics_from,
)
from contest.publish.rows import Entrant, submission_rows
from pipelines.generation import GenerationInput


class Opening(Protocol):
    """What the day's opening fixed (the day's ``DayOpening`` is one)."""

    @property
    def contest_id(self) -> str: ...

    @property
    def day(self) -> str: ...

    @property
    def scheduled(self) -> datetime: ...

    @property
    def opened_at(self) -> datetime: ...

    @property
    def block(self) -> int: ...

    @property
    def block_hash(self) -> bytes: ...


class Settlement(Protocol):
    """The day's ranking and weights (the day's ``Settled`` is one)."""

    @property
    def candidates(self) -> Sequence[Entrant]: ...

    @property
    def judgements(self) -> Mapping[str, Judgement]: ...

    @property
    def placed(self) -> Sequence[Placed]: ...

    @property
    def shares(self) -> Mapping[str, float]: ...

    @property
    def vector(self) -> WeightVector: ...

    @property
    def faced(self) -> Faced: ...

    @property
    def held(self) -> Mapping[str, str]: ...

    @property
    def leader(self) -> LeaderRecord | None: ...


def day_leaderboard(
    opening: Opening,
    settled: Settlement,
    judged: JudgingRun,
    *,
    validator_hotkey: str,
    netuid: int,
    minimum_improvement: float,
    baseline_digest: bytes,
    weights_block: int,
    inputs: Sequence[GenerationInput],
    gallery: Gallery,
) -> Leaderboard:
    """The day's leaderboard, unsigned."""
    vector = settled.vector
    spread = [report for report in judged.hosts if report.name != IN_PROCESS]
    rows = submission_rows(
        settled.candidates,
        settled.judgements,
        settled.placed,
        settled.shares,
        gallery,
        settled.faced,
        settled.held,
    )
    for row in rows:
        row.host = judged.judged_on.get(row.hotkey) if spread else None
    return Leaderboard(
        contest=opening.contest_id,
        day=opening.day,
        scheduled_opening=opening.scheduled.isoformat(),
        opened_at=opening.opened_at.isoformat(),
        opening_block=opening.block,
        opening_block_hash="0x" + opening.block_hash.hex(),
        validator_hotkey=validator_hotkey,
        netuid=netuid,
        device=Device(**judged.baseline.device.as_dict()),
        baseline=metrics_from(judged.baseline),
        baseline_digest=baseline_digest.hex(),
        minimum_improvement=minimum_improvement,
        controls=[control_from(reference) for reference in judged.controls],
        hosts=[
            HostRecord(
                name=report.name,
                machine=report.machine,
                controls=[control_from(c) for c in report.controls],
                drained=report.drained,
            )
            for report in spread
        ],
        submissions=rows,
        weights=WeightVectorRecord(uids=list(vector.uids), weights=list(vector.weights), policy=vector.policy),
        leader=settled.leader,
        weights_set_at_block=weights_block,
        harness_share=judged.harness_share,
        thumbnail_inputs=[ThumbnailInput(prompt=item.prompt, seed=item.seed) for item in inputs[: gallery.count]],
        baseline_thumbnails=gallery.thumbnails(None),
    )
