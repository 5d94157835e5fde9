"""The leaderboard a validator publishes for each contest day: a versioned, schema-checked JSON file.

``leaderboard.schema.json`` beside this module is generated from these models
(``python -m contest.publish.leaderboard``) and checked against them by the tests.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from base.measure import Estimate, median_ci
from contest.judging import similarity as judging_similarity
from contest.judging.checkpoint_worker import BenchmarkResult
from contest.judging.compare import Comparison
from contest.judging.reasons import ReasonKind

if TYPE_CHECKING:  # judging publishes through this module's thumbnails, so it is imported for types only
    from contest.judging.judge import Reference

# 2: thumbnails; 3: significance, tiers, sampling, controls, weights set; 4: SSIM and CLIP parts; 5: reason kinds;
# 6: the baseline-failed kind, only a tier's earliest commit earns, dissimilar checkpoints stop after one block;
# 7: face-to-face runs, the entries held behind an earlier one, judging hosts and the host-lost kind
SCHEMA_VERSION = 9
SCHEMA_FILE = Path(__file__).with_name("leaderboard.schema.json")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Interval(_Model):
    value: float
    low: float
    high: float


class SimilarityRecord(_Model):
    """The gate's combined score over the day's images, and the lowest of each of its two parts.

    The parts are absent from leaderboards before schema 4 (SSIM alone), which still read.
    """

    minimum: float
    mean: float
    ssim_minimum: float | None = None
    clip_minimum: float | None = None


class Metrics(_Model):
    """One checkpoint's measurements; ratios are baseline / submission (above 1 is better)."""

    runtime: str
    seconds_per_image: Interval
    speed_ratio: Interval | None = None
    load_seconds: float
    load_ratio: float | None = None
    peak_memory_bytes: int
    memory_source: str
    device_used_memory_bytes: int | None = None
    memory_ratio: float | None = None
    joules_per_image: float | None = None
    energy_unavailable_reason: str | None = None
    energy_ratio: float | None = None
    similarity: SimilarityRecord | None = None


class Thumbnail(_Model):
    """A picture a checkpoint drew; its hash puts it under the leaderboard's signature."""

    file: str  # relative to the folder the leaderboard file is in
    sha256: str


class ThumbnailInput(_Model):
    prompt: str
    seed: int


class Device(_Model):
    kind: str
    name: str
    driver: str | None
    python: str
    torch: str
    cuda_runtime: str | None
    diffusers: str
    transformers: str
    onnxruntime: str
    onnxruntime_providers: list[str]


class SamplingRecord(_Model):
    """How a comparison was sampled: the raw per-pair times, so anyone can recompute its figures."""

    pairs: int
    stop_reason: Literal["precise", "cannot-qualify", "qualifies", "dissimilar", "pair-cap", "time-cap"]
    baseline_seconds: list[float]  # the baseline's time for each pair, in order
    submission_seconds: list[float]
    baseline_slowdown: float  # the baseline's median here over its median beside an identical copy, minus 1
    attempts: int  # 2 when the baseline ran too slow beside it the first time and it was measured again


class ControlRecord(_Model):
    """An A/A control: the baseline against an identical copy of itself."""

    after_submissions: int  # judged in the same run before it
    pairs: int
    stop_reason: str
    baseline_seconds_per_image: Interval
    speed_ratio: Interval  # contains 1.0 when the harness is fair
    load_seconds: float  # the copy's: what submissions' load times are compared with
    peak_memory_bytes: int  # the copy's


class HostRecord(_Model):
    """A judging host of a day spread over several devices, and its own A/A controls."""

    name: str
    machine: str  # its hostname and device
    controls: list[ControlRecord]
    drained: str | None = None  # why it was given no more submissions (its baseline drifted); schema 9


class FaceToFaceRecord(_Model):
    """A submission measured directly against an earlier one, the earlier in the baseline's place."""

    earlier: str  # the earlier submission's hotkey
    pairs: int
    score: Interval | None  # this submission's score with the earlier one as its baseline
    failed: str | None = None  # how a side failed when measured again (then there is no score)


class WeightVectorRecord(_Model):
    uids: list[int]
    weights: list[float]
    policy: str  # the rule that gave them


class LeaderRecord(_Model):
    """First place and what it takes to pass it (``contest.definitions.LeaderPolicy``)."""

    hotkey: str
    since: str  # the day it took first place
    days_held: int  # days since then (0: it took first place today)
    margin: float  # what a challenger must score above its score on the next day, in score units
    score_to_lead: float  # its score today plus that margin: the score that would lead the next day


class Submission(_Model):
    hotkey: str
    uid: int | None
    repository: str | None
    provider: str | None
    revision: str | None
    commit_block: int
    valid: bool
    reason: str | None = None
    reason_kind: ReasonKind | None = None  # what kind of reason ``reason`` is; absent before schema 5
    duplicate_of: str | None = None
    metrics: Metrics | None = None
    score: float | None = None
    score_uncertainty: float | None = None  # half the score interval's width
    score_interval: Interval | None = None  # 95%
    significant: bool = False  # the interval lies above the contest's minimum improvement: it can earn weight
    rank: int | None = None
    tier: int | None = None  # scores within the noise of each other share a tier; its earliest commit leads
    held_behind: str | None = None  # an earlier submission face to face could not tell it from: in its tier
    face_to_face: list[FaceToFaceRecord] = Field(default_factory=list)  # against earlier ones, as the later
    host: str | None = None  # the judging host, when the day was spread over several; None in process
    weight: float = 0.0
    sampling: SamplingRecord | None = None
    thumbnails: list[Thumbnail] = Field(default_factory=list)  # one per ``Leaderboard.thumbnail_inputs``


class LeaderboardSignature(_Model):
    """The validator hotkey's signature over the leaderboard without this field (see ``contest.publish.signature``)."""

    scheme: str
    value: str  # hex


class Leaderboard(_Model):
    schema_version: int = Field(default=SCHEMA_VERSION)
    contest: str
    day: str  # the New York calendar date the day opened on
    scheduled_opening: str  # ISO 8601, the contest's opening time that day
    opened_at: str  # ISO 8601 UTC: the opening block's own timestamp, the first at or after the scheduled time
    opening_block: int
    opening_block_hash: str
    validator_hotkey: str
    netuid: int
    device: Device
    baseline: Metrics
    baseline_digest: str  # the model digest that recognises an unmodified baseline
    minimum_improvement: float
    controls: list[ControlRecord]
    hosts: list[HostRecord] = Field(default_factory=list)  # empty when the validator judged in its own process
    submissions: list[Submission]
    weights: WeightVectorRecord
    leader: LeaderRecord | None = None  # None when no submission earned; absent before schema 8
    weights_set_at_block: int | None = None
    harness_share: float  # share of the day's benchmark wall time spent outside timed generation
    thumbnail_inputs: list[ThumbnailInput] = Field(default_factory=list)  # the first of the day's inputs
    baseline_thumbnails: list[Thumbnail] = Field(default_factory=list)
    signature: LeaderboardSignature | None = None

    def all_thumbnails(self) -> list[Thumbnail]:
        return self.baseline_thumbnails + [thumbnail for row in self.submissions for thumbnail in row.thumbnails]


def interval(estimate: Estimate) -> Interval:
    return Interval(value=estimate.value, low=estimate.low, high=estimate.high)


def metrics_from(result: BenchmarkResult, comparison: Comparison | None = None) -> Metrics:
    """A benchmark result, and its comparison with the baseline where it has one, as leaderboard metrics."""
    return Metrics(
        runtime=result.runtime,
        seconds_per_image=interval(comparison.submission_time if comparison else median_ci(result.sample_seconds)),
        speed_ratio=interval(comparison.speed_ratio) if comparison else None,
        load_seconds=result.load_seconds,
        load_ratio=comparison.load_ratio if comparison else None,
        peak_memory_bytes=result.memory.peak_bytes,
        memory_source=result.memory.source,
        device_used_memory_bytes=result.memory.device_used_bytes,
        memory_ratio=comparison.memory_ratio if comparison else None,
        joules_per_image=result.joules_per_image,
        energy_unavailable_reason=result.energy.reason,
        energy_ratio=comparison.energy_ratio if comparison else None,
        similarity=similarity_from(comparison.similarity) if comparison and comparison.similarity else None,
    )


def similarity_from(similarity: judging_similarity.Similarity) -> SimilarityRecord:
    return SimilarityRecord(
        minimum=similarity.minimum,
        mean=similarity.mean,
        ssim_minimum=min(similarity.ssim),
        clip_minimum=min(similarity.clip),
    )


def control_from(reference: Reference) -> ControlRecord:
    """An A/A control, as the leaderboard publishes it."""
    return ControlRecord(
        after_submissions=reference.after_submissions,
        pairs=reference.pairs,
        stop_reason=reference.stop.value,
        baseline_seconds_per_image=interval(reference.baseline_seconds),
        speed_ratio=interval(reference.speed_ratio),
        load_seconds=reference.load_seconds,
        peak_memory_bytes=reference.memory.peak_bytes,
    )


def schema() -> dict:
    return Leaderboard.model_json_schema()


def leaderboards_root(data_dir: Path) -> Path:
    """Where a validator publishes: one folder per contest, one file per contest day."""
    return data_dir / "leaderboards"


def leaderboard_path(data_dir: Path, contest_id: str, day: str, opening_block: int) -> Path:
    return leaderboards_root(data_dir) / contest_id / f"{day}-{opening_block}.json"


def write_leaderboard(leaderboard: Leaderboard, path: Path) -> Path:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as handle:
        handle.write(leaderboard.model_dump_json(indent=2))
        handle.write("\n")
    os.replace(handle.name, path)
    return path


def read_leaderboard(path: Path) -> Leaderboard:
    return Leaderboard.model_validate_json(path.read_text(encoding="utf-8"))


if __name__ == "__main__":
    SCHEMA_FILE.write_text(json.dumps(schema(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
