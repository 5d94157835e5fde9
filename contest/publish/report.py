"""Plain-text tables, the same for the miner's self-check and the validator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from base.measure import Estimate, median_ci
from contest.judging.checkpoint_worker import BenchmarkResult
from contest.judging.compare import Comparison
from contest.judging.judge import JudgingRun
from contest.publish.leaderboard import ControlRecord, Interval, Leaderboard, LeaderRecord, Submission, control_from

MIB = 1024 * 1024


@dataclass(frozen=True)
class ReportRow:
    name: str
    result: BenchmarkResult
    comparison: Comparison | None


def format_interval(estimate: Estimate | Interval | None, scale: float = 1.0, digits: int = 1, sign: str = "") -> str:
    """``value [low, high]``, each times ``scale`` (``sign`` "+" shows it always); "-" for none. The terminal's
    and the page's one format."""
    if estimate is None:
        return "-"
    value, low, high = (number * scale for number in (estimate.value, estimate.low, estimate.high))
    return f"{value:{sign}.{digits}f} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def _render(lines: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    rendered = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return rendered


def _row(name: str, result: BenchmarkResult, comparison: Comparison | None) -> tuple[str, ...]:
    joules = result.joules_per_image
    return (
        name,
        result.runtime,
        format_interval(comparison.submission_time if comparison else median_ci(result.sample_seconds), 1000.0),
        format_interval(comparison.speed_ratio, digits=3) if comparison else "-",
        f"{similarity.minimum:.4f}/{similarity.mean:.4f}"
        if comparison and (similarity := comparison.similarity)
        else "-",
        f"{result.memory.peak_bytes / MIB:.0f}",
        "n/a" if joules is None else f"{joules:.2f} J",
        f"{result.load_seconds:.2f}",
    )


def format_table(baseline: BenchmarkResult, rows: Sequence[ReportRow], harness_share: float | None = None) -> str:
    """The baseline, then each submission against the baseline it was measured in alternation with."""
    header = ("name", "runtime", "median ms/img [95% CI]", "speed ratio [95% CI]", "similarity min/mean", "peak MiB")
    lines = [(*header, "energy/img", "load s"), _row("baseline", baseline, None)]
    lines += [_row(row.name, row.result, row.comparison) for row in rows]
    rendered = _render(lines)
    if baseline.energy.reason:
        rendered.append(f"energy: {baseline.energy.reason}")
    if harness_share is not None:
        rendered.append(f"harness share (wall time outside timed generation): {harness_share:.0%}")
    return "\n".join(rendered)


def format_controls(controls: Sequence[ControlRecord]) -> list[str]:
    """One line per A/A control: the baseline's reference time and the harness's own ratio."""
    return ["controls (the baseline against an identical copy):"] + [
        f"  after {c.after_submissions} submissions: baseline {format_interval(c.baseline_seconds_per_image, 1000.0)} "
        f"ms/image, speed ratio {format_interval(c.speed_ratio, digits=3)} over {c.pairs} pairs"
        for c in controls
    ]


def format_judged(judged: JudgingRun) -> str:
    """What a run of judging measured: the baseline, each measured submission and the controls (the self-check's)."""
    rows = [
        ReportRow(key, judgement.result, judgement.comparison)
        for key, judgement in judged.judgements.items()
        if judgement.result is not None
    ]
    if not rows:
        return ""
    controls = format_controls([control_from(reference) for reference in judged.controls])
    return "\n".join([format_table(judged.baseline, rows, judged.harness_share), *controls])


def format_score(row: Submission, missing: str = "invalid") -> str:
    """A submission's score with its 95% interval, the same in the terminal and on the page."""
    if row.score_interval is None:
        return missing
    return format_interval(row.score_interval, digits=4, sign="+")


def format_leader(leader: LeaderRecord) -> str:
    """First place, since when, and the score that would take it: the same in the terminal and on the page."""
    held = "today" if leader.days_held == 0 else f"on {leader.since}, {leader.days_held} days ago"
    return (
        f"leader {leader.hotkey[:12]} (took first place {held}); to lead the next day: score above "
        f"{leader.score_to_lead:+.4f} (its score today plus the leader margin {leader.margin:.4f})"
    )


def format_leaderboard(leaderboard: Leaderboard) -> str:
    """The day's ranking, the A/A controls, the weights' rule, then every submission that is out and why."""
    header = ("rank", "tier", "uid", "hotkey", "repository", "score [95% CI]", "significant", "speed ratio [95% CI]")
    lines = [(*header, "pairs", "similarity min", "weight")]
    for row in leaderboard.submissions:
        metrics, sampling = row.metrics, row.sampling
        lines.append(
            (
                str(row.rank) if row.rank else "-",
                (f"{row.tier} (held)" if row.held_behind else str(row.tier)) if row.tier else "-",
                "-" if row.uid is None else str(row.uid),
                row.hotkey[:12],
                row.repository or "-",
                format_score(row),
                ("yes" if row.significant else "no") if row.valid else "-",
                format_interval(metrics.speed_ratio, digits=3) if metrics and metrics.speed_ratio else "-",
                f"{sampling.pairs} ({sampling.stop_reason})" if sampling else "-",
                f"{metrics.similarity.minimum:.4f}" if metrics and metrics.similarity else "-",
                f"{row.weight:.4f}",
            )
        )
    weights = leaderboard.weights
    hosts = [
        f"  {host.name} on {host.machine}: judged "
        + (", ".join(row.hotkey[:12] for row in leaderboard.submissions if row.host == host.name) or "nothing")
        + (f"; drained: {host.drained}" if host.drained else "")
        for host in leaderboard.hosts
    ]
    summary = [
        *(["judging hosts (each with its own baseline and A/A controls):", *hosts] if hosts else []),
        *format_controls(leaderboard.controls),
        f"weights ({weights.policy}): "
        + ", ".join(f"uid {uid} {share:.4f}" for uid, share in zip(weights.uids, weights.weights, strict=True)),
        *([format_leader(leaderboard.leader)] if leaderboard.leader else []),
    ]
    faced = [
        f"  {row.hotkey[:12]} against {run.earlier[:12]}: "
        + (
            f"score {format_interval(run.score, digits=4, sign='+')} over {run.pairs} pairs"
            if run.score
            else str(run.failed)
        )
        + (" (held behind it)" if row.held_behind == run.earlier else "")
        for row in leaderboard.submissions
        for run in row.face_to_face
    ]
    reasons = [f"  {row.hotkey[:12]}: {row.reason}" for row in leaderboard.submissions if row.reason]
    return "\n".join(
        _render(lines)
        + summary
        + (["face to face (the later against the earlier, in the baseline's place):", *faced] if faced else [])
        + (["out:", *reasons] if reasons else [])
    )
