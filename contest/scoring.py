"""Score, rank and weight the day's submissions.

Score = product over the contest's metrics of (baseline / submission) ** weight, minus 1: 0 is the
baseline, 0.5 is half again better. A later submission takes an earlier one's place only when it is
better by more than the measurement noise, so re-uploading a rival's work with a lucky timing earns
nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from contest.compare import Comparison
from contest.definitions import Contest

MARGIN_FLOOR = 0.02
WEIGHT_DECAY = 0.5


@dataclass(frozen=True)
class Verdict:
    """A submission's score and its noise, or why it has none."""

    score: float | None
    uncertainty: float
    reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.score is not None


@dataclass(frozen=True)
class Entry:
    key: str  # the hotkey
    commit_block: int
    verdict: Verdict


def score(comparison: Comparison, contest: Contest) -> Verdict:
    if comparison.similarity.minimum < contest.similarity_threshold:
        return Verdict(
            None,
            0.0,
            f"similarity {comparison.similarity.minimum:.4f} is below the threshold {contest.similarity_threshold:.2f}",
        )
    weights = contest.metric_weights
    factors = [
        (comparison.speed_ratio.value, weights.time),
        (comparison.memory_ratio, weights.memory),
        (comparison.load_ratio, weights.load),
    ]
    if comparison.energy_ratio is not None:
        factors.append((comparison.energy_ratio, weights.energy))
    product = math.prod(ratio**weight for ratio, weight in factors if weight)
    # First-order noise of the score from the speed ratio's confidence interval, the noisiest term.
    uncertainty = product * weights.time * comparison.speed_ratio.half_width_fraction
    return Verdict(product - 1.0, uncertainty)


def invalid(reason: str) -> Verdict:
    return Verdict(None, 0.0, reason)


def margin(earlier: Verdict, later: Verdict) -> float:
    return max(MARGIN_FLOOR, math.hypot(earlier.uncertainty, later.uncertainty))


def rank(entries: Sequence[Entry]) -> list[Entry]:
    """Valid entries, best first: each, in commit order, climbs past those it clearly beats."""
    ordered: list[Entry] = []
    for entry in sorted((e for e in entries if e.verdict.valid), key=lambda e: (e.commit_block, e.key)):
        position = len(ordered)
        while position > 0:
            above = ordered[position - 1]
            if entry.verdict.score <= above.verdict.score + margin(above.verdict, entry.verdict):
                break
            position -= 1
        ordered.insert(position, entry)
    return ordered


def weights(ranked: Sequence[Entry]) -> dict[str, float]:
    """Geometric weights by rank over the submissions that beat the baseline (all valid ones if none did)."""
    eligible = [entry for entry in ranked if entry.verdict.score > 0] or list(ranked)
    raw = [WEIGHT_DECAY**position for position in range(len(eligible))]
    total = sum(raw)
    return {entry.key: share / total for entry, share in zip(eligible, raw, strict=True)}
