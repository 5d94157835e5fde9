"""Score, rank and weight the day's submissions.

Score = product over the contest's metrics of (baseline / submission) ** weight, minus 1: 0 is the
baseline, 0.5 is half again better. Its 95% interval comes from the speed ratio's, the noisiest term.

Weight goes only to a significant improvement: the score's interval lies wholly above the contest's
minimum improvement, so noise, the baseline and re-uploads of it earn nothing. Ranking is by score,
significant submissions first; scores within the noise of each other share a tier, in which the earliest
commit leads, so a copy with a lucky timing cannot pass the original. Only a tier's leader earns, and weights
fall with the tier; when no submission qualifies they all go to the contest's ``no_winner_uid``. A leader
that would earn past an earlier commit ranked near it earns only once a face-to-face run tells them apart.
The reigning leader (first place on the validator's previous day) keeps first place unless a challenger's
score clears its own by the contest's leader margin (``Reign``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from base.measure import Estimate
from contest.definitions import Contest, SimilarityGate
from contest.judging.compare import Comparison
from contest.judging.reasons import Reason, ReasonKind
from contest.judging.similarity import Similarity

WEIGHT_DECAY = 0.5


@dataclass(frozen=True)
class Verdict:
    """A submission's score with its 95% interval, or why it has none (``reason``)."""

    score: float | None
    low: float = 0.0
    high: float = 0.0
    significant: bool = False  # the interval lies above the contest's minimum improvement
    reason: Reason | None = None

    @property
    def valid(self) -> bool:
        return self.score is not None

    @property
    def uncertainty(self) -> float:
        """Half the interval's width."""
        return (self.high - self.low) / 2


class Committed(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def commit_block(self) -> int: ...


def commit_order(item: Committed) -> tuple[int, str]:
    """Earliest commit first, the key breaking a tie within a block: the one rule wherever submissions claim the
    same thing (a tier's lead, a duplicate's original, a near-copy's original)."""
    return item.commit_block, item.key


@dataclass(frozen=True)
class Entry:
    key: str  # the hotkey
    commit_block: int
    verdict: Verdict


@dataclass(frozen=True)
class Placed:
    """An entry's place in the ranking: its rank (from 1) and its tier (from 1)."""

    entry: Entry
    rank: int
    tier: int


@dataclass(frozen=True)
class WeightVector:
    """What the validator sets on chain, and the rule that produced it."""

    uids: tuple[int, ...]
    weights: tuple[float, ...]
    policy: str


def score_interval(comparison: Comparison, contest: Contest) -> Estimate:
    """The score and its 95% interval: the speed ratio's bounds through the same product.

    Load time is one measurement per checkpoint, and identical copies load up to several times faster or
    slower than each other as the machine's caches and neighbours change, so it can cost a submission
    (a slow start) but never earn it anything: a load ratio above 1 counts as 1.
    """
    weights = contest.metric_weights
    others = [(comparison.memory_ratio, weights.memory), (min(1.0, comparison.load_ratio), weights.load)]
    if comparison.energy_ratio is not None:
        others.append((comparison.energy_ratio, weights.energy))
    rest = math.prod(ratio**weight for ratio, weight in others if weight)
    speed = comparison.speed_ratio

    def scored(ratio: float) -> float:
        return ratio**weights.time * rest - 1.0

    return Estimate(scored(speed.value), scored(speed.low), scored(speed.high))


def similarity_refusal(similarity: Similarity, gate: SimilarityGate) -> str | None:
    """Why the similarity gate puts these images out, or None where they pass."""
    if similarity.minimum < gate.threshold:
        return f"similarity {similarity.minimum:.4f} is below the threshold {gate.threshold:.2f}"
    if similarity.mean < gate.mean_threshold:
        return f"mean similarity {similarity.mean:.4f} is below the threshold {gate.mean_threshold:.2f}"
    return None


def score(comparison: Comparison, contest: Contest) -> Verdict:
    similarity = comparison.similarity
    if similarity is None:
        raise ValueError("a verdict needs the images compared")
    refusal = similarity_refusal(similarity, contest.similarity)
    if refusal is not None:
        return invalid(ReasonKind.SIMILARITY, refusal)
    interval = score_interval(comparison, contest)
    significant = interval.low > contest.minimum_improvement
    return Verdict(interval.value, interval.low, interval.high, significant)


def invalid(kind: ReasonKind, message: str) -> Verdict:
    return Verdict(None, reason=Reason(kind, message))


def clearly_beats(a: Verdict, b: Verdict, tie_margin: float) -> bool:
    """``a`` is better than ``b`` by more than their combined noise and the contest's tie margin."""
    if a.score is None or b.score is None:
        raise ValueError("only scored verdicts compare")
    return a.score - b.score > max(tie_margin, math.hypot(a.uncertainty, b.uncertainty))


def _score(entry: Entry) -> float:
    if entry.verdict.score is None:
        raise ValueError(f"{entry.key} has no score to rank")
    return entry.verdict.score


def _tiers(entries: Sequence[Entry], tie_margin: float) -> list[list[Entry]]:
    """Best score first; an entry joins the current tier unless some member clearly beats it."""
    tiers: list[list[Entry]] = []
    for entry in sorted(entries, key=lambda e: (-_score(e), *commit_order(e))):
        current = tiers[-1] if tiers else None
        if current is None or any(clearly_beats(member.verdict, entry.verdict, tie_margin) for member in current):
            tiers.append([entry])
        else:
            current.append(entry)
    return [sorted(tier, key=commit_order) for tier in tiers]


@dataclass(frozen=True)
class Reign:
    """The reigning leader and the score a challenger needs to take first place from it: its score today plus
    the contest's leader margin for the days it has led."""

    key: str
    required: float


def rank(
    entries: Sequence[Entry], tie_margin: float, held: Mapping[str, str] | None = None, reign: Reign | None = None
) -> list[Placed]:
    """Valid entries, best first: significant ones above the rest, each group in tiers led by the earliest commit.

    Only scores decide (the order of ``entries`` never matters), and an entry that clearly beats another
    always ranks above it, unless it is ``held``: a later entry that face to face could not be told apart from
    an earlier one (its key -> theirs) joins that entry's tier, behind it; or unless the ``reign``ing leader,
    significant today, stands in its way: a tier above the leader's whose earner does not score above
    ``reign.required`` goes just below the leader's tier, in its order.
    """
    held = held or {}
    valid = {entry.key: entry for entry in entries if entry.verdict.valid}
    free = [entry for entry in valid.values() if entry.key not in held]
    groups = ([e for e in free if e.verdict.significant], [e for e in free if not e.verdict.significant])
    tiers = [tier for group in groups for tier in _tiers(group, tie_margin)]
    tier_of = {entry.key: tier for tier in tiers for entry in tier}
    for key in held:
        if key in valid and (home := _home(key, held, tier_of)) is not None:
            home.append(valid[key])
    if reign is not None and reign.key in tier_of and valid[reign.key].verdict.significant:
        tiers = _defended(tiers, tier_of[reign.key], reign.required)
    placed: list[Placed] = []
    for tier_number, tier in enumerate(tiers, start=1):
        for entry in sorted(tier, key=commit_order):
            placed.append(Placed(entry, len(placed) + 1, tier_number))
    return placed


def _defended(tiers: list[list[Entry]], leaders_tier: list[Entry], required: float) -> list[list[Entry]]:
    """The tiers above the leader's whose earner (earliest commit) does not score above ``required`` moved just
    below it."""
    at = next(number for number, tier in enumerate(tiers) if tier is leaders_tier)
    above = tiers[:at]
    challengers = [tier for tier in above if _score(min(tier, key=commit_order)) > required]
    stood_off = [tier for tier in above if _score(min(tier, key=commit_order)) <= required]
    return [*challengers, leaders_tier, *stood_off, *tiers[at + 1 :]]


def _home(key: str, held: Mapping[str, str], tier_of: Mapping[str, list[Entry]]) -> list[Entry] | None:
    """The tier of the earliest entry ``key`` is held behind, through entries held in turn."""
    seen = {key}
    while (key := held[key]) in held:
        if key in seen:
            return None
        seen.add(key)
    return tier_of.get(key)


def weights(placed: Sequence[Placed]) -> dict[str, float]:
    """Geometric shares by tier over the significant tiers' leaders; they sum to 1 (nothing when none qualifies).

    Only a tier's earliest commit earns: a later entry no member of its tier is clearly worse than has added
    nothing, so a copy of the leader that draws other bytes (one weight nudged) earns nothing however many
    hotkeys commit it.
    """
    leaders: dict[int, Entry] = {}
    for p in sorted(placed, key=lambda p: p.rank):
        leaders.setdefault(p.tier, p.entry)
    eligible = [leaders[tier] for tier in sorted(leaders) if leaders[tier].verdict.significant]
    raw = [WEIGHT_DECAY**position for position in range(len(eligible))]
    total = sum(raw)
    return {entry.key: share / total for entry, share in zip(eligible, raw, strict=True)}


@dataclass(frozen=True)
class FaceToFace:
    """A later entry measured directly against an earlier one, the earlier in the baseline's place.

    Each entry's score comes from its own run beside the baseline, minutes apart, and the machine's drift
    between runs is larger than either run's interval shows; side by side in one run, that drift cancels.
    """

    earlier: str
    later: str
    score: Estimate | None  # the later entry's score with the earlier one as its baseline, with its 95% interval
    pairs: int = 0
    failed: str | None = None  # how a side failed when measured again (then ``score`` is None)
    earlier_failed: bool = False  # the side that failed: the earlier (the later stands) or the later (it is held)

    @property
    def summary(self) -> str:
        if self.score is None:
            return str(self.failed)
        return f"score {self.score.value:+.3f} [{self.score.low:+.3f}, {self.score.high:+.3f}] over {self.pairs} pairs"

    def later_stands_above(self, minimum_improvement: float) -> bool:
        """The later entry improves on the earlier as a submission must on the baseline (or the earlier failed)."""
        if self.score is None:
            return self.earlier_failed
        return self.score.low > minimum_improvement

    def later_stands_below(self, minimum_improvement: float) -> bool:
        """The earlier entry improves on the later as a submission must on the baseline (or the earlier failed):
        the later is another model, not a copy of it that drew a slow run."""
        if self.score is None:
            return self.earlier_failed
        return 1.0 / (1.0 + self.score.high) - 1.0 > minimum_improvement


Faced = Mapping[tuple[str, str], FaceToFace]  # (earlier, later) -> their face-to-face


@dataclass(frozen=True)
class Ranking:
    """The ranking once every entry that would earn past an earlier commit has been told apart from it."""

    placed: list[Placed]
    shares: dict[str, float]
    held: dict[str, str]  # later entry -> the earlier one whose tier it joined, not told apart face to face
    next_face_to_face: tuple[str, str] | None  # (earlier, later) still to measure; the later is held until then


def ranking(
    entries: Sequence[Entry], tie_margin: float, minimum_improvement: float, faced: Faced, reign: Reign | None = None
) -> Ranking:
    """``rank`` and ``weights``, where an entry earns past an earlier commit only once told apart from it face to face.

    A tier's leader that is later than an entry ranked near it must, in a direct run: improve on the best
    earlier entry below it (its tier is real), and be improved on by the nearest earlier entry above it (it
    is a different model, not a copy that drew a slow run). Until that is measured, or when it fails, it
    is held: it joins that earlier entry's tier, behind it, and earns nothing there.
    """
    held: dict[str, str] = {}
    pending: tuple[str, str] | None = None
    while True:
        placed = rank(entries, tie_margin, held, reign)
        shares = weights(placed)
        doubt = _first_doubt(placed, shares, minimum_improvement, faced)
        if doubt is None:
            return Ranking(placed, shares, held, pending)
        earlier, later = doubt
        held[later] = earlier
        if (earlier, later) not in faced and pending is None:
            pending = doubt


def _first_doubt(
    placed: Sequence[Placed], shares: Mapping[str, float], minimum_improvement: float, faced: Faced
) -> tuple[str, str] | None:
    """The first earner, by rank, not yet told apart from an earlier entry near it: (earlier, later)."""
    for p in placed:
        if p.entry.key not in shares:
            continue
        earlier = [q for q in placed if commit_order(q.entry) < commit_order(p.entry)]
        above = [q for q in earlier if q.rank < p.rank]
        below = [q for q in earlier if q.rank > p.rank]
        checks = []
        if above:
            checks.append((above[-1].entry.key, FaceToFace.later_stands_below))
        if below:
            checks.append((below[0].entry.key, FaceToFace.later_stands_above))
        for key, told_apart in checks:
            result = faced.get((key, p.entry.key))
            if result is None or not told_apart(result, minimum_improvement):
                return key, p.entry.key
    return None


def weight_vector(shares: Mapping[str, float], uids: Mapping[str, int], contest: Contest) -> WeightVector:
    """The shares by uid, or, when no submission qualified, everything to the contest's ``no_winner_uid``."""
    if not shares:
        policy = f"no submission is a significant improvement: all weight to uid {contest.no_winner_uid}"
        return WeightVector((contest.no_winner_uid,), (1.0,), policy)
    policy = (
        f"the earliest commit of each significant tier, by tier, each {WEIGHT_DECAY:g} of the one above; a later "
        "commit leads past earlier ones near it only when face to face it differs from them by the minimum improvement"
    )
    return WeightVector(tuple(uids[key] for key in shares), tuple(shares.values()), policy)
