"""Several validators' leaderboards for one contest day, side by side.

Only leaderboards whose signature verifies count. The combined ranking orders miners by the
stake-weighted mean of the weights each validator gave them (weights are what reaches the chain). A
validator whose weights are far from the others' stake-weighted mean (total variation distance above
``DEVIATION_LIMIT``, each validator compared with the rest) is flagged.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contest.publish.signature import SignatureInvalid, verify

DEVIATION_LIMIT = 0.5


@dataclass(frozen=True)
class ValidatorView:
    hotkey: str
    stake: float
    ranking: tuple[str, ...]  # valid miners, best first
    weights: Mapping[str, float]
    deviation: float  # total variation distance from the other validators' stake-weighted weights
    deviant: bool


@dataclass(frozen=True)
class Consensus:
    contest: str
    day: str
    validators: tuple[ValidatorView, ...]
    combined: tuple[tuple[str, float], ...]  # miner, stake-weighted weight, best first
    by_rank: tuple[tuple[int, Mapping[str, str | None], bool], ...]  # rank, validator -> miner, all agree


def _weights(document: Mapping[str, Any]) -> dict[str, float]:
    return {row["hotkey"]: float(row["weight"]) for row in document["submissions"] if row["weight"] > 0}


def _ranking(document: Mapping[str, Any]) -> tuple[str, ...]:
    ranked = [row for row in document["submissions"] if row.get("rank") is not None]
    return tuple(row["hotkey"] for row in sorted(ranked, key=lambda row: row["rank"]))


def _mean(weights: Sequence[Mapping[str, float]], stakes: Sequence[float]) -> dict[str, float]:
    total = sum(stakes)
    miners = {miner for vector in weights for miner in vector}
    return {miner: sum(v.get(miner, 0.0) * s for v, s in zip(weights, stakes, strict=True)) / total for miner in miners}


def _distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    return 0.5 * sum(abs(a.get(miner, 0.0) - b.get(miner, 0.0)) for miner in set(a) | set(b))


def consensus(documents: Sequence[Mapping[str, Any]], stakes: Mapping[str, float] | None = None) -> Consensus:
    """``documents`` are parsed leaderboard files; ``stakes`` maps validator hotkeys to stake (default equal)."""
    if len(documents) < 2:
        raise ValueError("a consensus needs leaderboards from at least two validators")
    days = {(document["contest"], document["day"], document["opening_block"]) for document in documents}
    if len(days) != 1:
        raise ValueError(f"the leaderboards are not of one contest day: {sorted(days)}")
    signers = [verify(dict(document)) for document in documents]
    if len(set(signers)) != len(signers):
        raise ValueError("two leaderboards come from the same validator")
    stake = [float((stakes or {}).get(signer, 1.0)) for signer in signers]
    weights = [_weights(document) for document in documents]
    views = []
    for index, signer in enumerate(signers):
        others = [i for i in range(len(signers)) if i != index]
        rest = _mean([weights[i] for i in others], [stake[i] for i in others])
        deviation = _distance(weights[index], rest)
        ranking = _ranking(documents[index])
        deviant = deviation > DEVIATION_LIMIT
        views.append(ValidatorView(signer, stake[index], ranking, weights[index], deviation, deviant))
    combined = sorted(_mean(weights, stake).items(), key=lambda item: (-item[1], item[0]))
    depth = max(len(view.ranking) for view in views)
    by_rank = []
    for position in range(depth):
        picks = {view.hotkey: view.ranking[position] if position < len(view.ranking) else None for view in views}
        by_rank.append((position + 1, picks, len(set(picks.values())) == 1))
    contest, day, _ = days.pop()
    return Consensus(contest, day, tuple(views), tuple(combined), tuple(by_rank))


def format_consensus(result: Consensus) -> str:
    short = {view.hotkey: view.hotkey[:10] for view in result.validators}
    lines = [f"{result.contest} {result.day}: {len(result.validators)} validators", "", "rank by rank:"]
    header = "rank  " + "  ".join(f"{name:<12}" for name in short.values()) + "  agree"
    lines += [header, "-" * len(header)]
    for rank, picks, agree in result.by_rank:
        cells = "  ".join(f"{(picks[v] or '-')[:12]:<12}" for v in short)
        lines.append(f"{rank:<4}  {cells}  {'yes' if agree else 'NO'}")
    lines += ["", "combined (stake-weighted weights):"]
    lines += [f"  {position}. {miner}  {weight:.4f}" for position, (miner, weight) in enumerate(result.combined, 1)]
    lines += ["", "validators:"]
    for view in result.validators:
        flag = "  DEVIATES from the others" if view.deviant else ""
        lines.append(f"  {view.hotkey}  stake {view.stake:g}  distance {view.deviation:.3f}{flag}")
    return "\n".join(lines)


def _stake(text: str) -> tuple[str, float]:
    hotkey, _, amount = text.partition("=")
    return hotkey, float(amount)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contest.publish.consensus", description="Compare several validators' leaderboards for one day."
    )
    parser.add_argument("leaderboards", type=Path, nargs="+", help="signed leaderboard JSON files")
    parser.add_argument("--stake", type=_stake, action="append", default=[], help="HOTKEY=STAKE (default: equal)")
    args = parser.parse_args(argv)
    try:
        documents = [json.loads(path.read_text(encoding="utf-8")) for path in args.leaderboards]
        result = consensus(documents, dict(args.stake))
    except (OSError, json.JSONDecodeError, KeyError, ValueError, SignatureInvalid) as error:
        print(f"error: {error}")
        return 1
    print(format_consensus(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
