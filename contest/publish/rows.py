"""A day's submissions as leaderboard rows: who committed what, how it was judged, where it ranked, its weight."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from base.chain import Commitment
from contest.judging.judge import Judgement, Sampled
from contest.judging.scoring import Faced, FaceToFace, Placed, Verdict
from contest.publish.gallery import Gallery
from contest.publish.leaderboard import FaceToFaceRecord, Interval, SamplingRecord, Submission, interval, metrics_from


class Entrant(Protocol):
    """What a row needs of a day's candidate (the day's ``Candidate`` is one)."""

    @property
    def hotkey(self) -> str: ...

    @property
    def uid(self) -> int | None: ...

    @property
    def commit_block(self) -> int: ...

    @property
    def commitment(self) -> Commitment | None: ...

    @property
    def duplicate_of(self) -> str | None: ...


def _interval(verdict: Verdict) -> Interval | None:
    if verdict.score is None:
        return None
    return Interval(value=verdict.score, low=verdict.low, high=verdict.high)


def _sampling(sampled: Sampled | None) -> SamplingRecord | None:
    if sampled is None:
        return None
    return SamplingRecord(
        pairs=sampled.pairs,
        stop_reason=sampled.stop.value,
        baseline_seconds=list(sampled.baseline_seconds),
        submission_seconds=list(sampled.submission_seconds),
        baseline_slowdown=sampled.baseline_slowdown,
        attempts=sampled.attempts,
    )


def _face_to_face(faced: FaceToFace) -> FaceToFaceRecord:
    score = interval(faced.score) if faced.score is not None else None
    return FaceToFaceRecord(earlier=faced.earlier, pairs=faced.pairs, score=score, failed=faced.failed)


def submission_rows(
    entrants: Sequence[Entrant],
    judgements: Mapping[str, Judgement],
    placed: Sequence[Placed],
    shares: Mapping[str, float],
    gallery: Gallery,
    faced: Faced,
    held: Mapping[str, str],
) -> list[Submission]:
    """Every entrant's row, ranked ones first in rank order, then the rest by commit block."""
    places = {p.entry.key: p for p in placed}
    rows = [
        _row(entrant, judgements[entrant.hotkey], places.get(entrant.hotkey), shares.get(entrant.hotkey, 0.0), gallery)
        for entrant in entrants
    ]
    for row in rows:
        row.held_behind = held.get(row.hotkey)
        row.face_to_face = [_face_to_face(f) for f in faced.values() if f.later == row.hotkey]
    return sorted(rows, key=lambda row: (row.rank is None, row.rank or 0, row.commit_block))


def _row(entrant: Entrant, judgement: Judgement, place: Placed | None, weight: float, gallery: Gallery) -> Submission:
    committed, verdict = entrant.commitment, judgement.verdict
    return Submission(
        hotkey=entrant.hotkey,
        uid=entrant.uid,
        repository=committed.repository if committed else None,
        provider=committed.provider if committed else None,
        revision=committed.revision if committed else None,
        commit_block=entrant.commit_block,
        valid=verdict.valid,
        reason=verdict.reason.message if verdict.reason else None,
        reason_kind=verdict.reason.kind if verdict.reason else None,
        duplicate_of=entrant.duplicate_of,
        metrics=metrics_from(judgement.result, judgement.comparison) if judgement.result else None,
        score=verdict.score,
        score_uncertainty=verdict.uncertainty if verdict.valid else None,
        score_interval=_interval(verdict),
        significant=verdict.significant,
        rank=place.rank if place else None,
        tier=place.tier if place else None,
        weight=weight,
        sampling=_sampling(judgement.sampled),
        thumbnails=gallery.thumbnails(entrant.hotkey) if judgement.result else [],
    )
