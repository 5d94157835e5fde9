"""Plain-text tables of benchmark comparisons, the same for the miner's self-check and the validator."""

from __future__ import annotations

from dataclasses import dataclass

from base.stats import Estimate
from contest.benchmark import BenchmarkResult
from contest.compare import Comparison
from contest.leaderboard import Leaderboard

MIB = 1024 * 1024


@dataclass(frozen=True)
class ReportRow:
    name: str
    result: BenchmarkResult
    comparison: Comparison


def _estimate(estimate: Estimate, scale: float = 1.0, digits: int = 1) -> str:
    return (
        f"{estimate.value * scale:.{digits}f} "
        f"[{estimate.low * scale:.{digits}f}, {estimate.high * scale:.{digits}f}]"
    )


def _energy(result: BenchmarkResult) -> str:
    joules = result.joules_per_image
    return f"{joules:.2f} J" if joules is not None else "n/a"


def format_table(rows: list[ReportRow]) -> str:
    header = (
        "name",
        "runtime",
        "median ms/img [95% CI]",
        "speed ratio [95% CI]",
        "SSIM min/mean",
        "peak MiB",
        "energy/img",
        "load s",
        "harness share",
    )
    lines = [header]
    for row in rows:
        result, comparison = row.result, row.comparison
        share = result.harness_share
        lines.append(
            (
                row.name,
                result.runtime,
                _estimate(comparison.submission_time, 1000.0),
                _estimate(comparison.speed_ratio, digits=3),
                f"{comparison.similarity.minimum:.4f}/{comparison.similarity.mean:.4f}",
                f"{result.memory.peak_bytes / MIB:.0f}",
                _energy(result),
                f"{result.load_seconds:.2f}",
                "n/a" if share is None else f"{share:.0%}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    notes = {row.result.energy.reason for row in rows if row.result.energy.reason}
    return "\n".join(rendered + [f"energy: {reason}" for reason in sorted(notes)])


def format_leaderboard(leaderboard: Leaderboard) -> str:
    """The day's ranking, then every submission that is out and why."""
    header = ("rank", "uid", "hotkey", "repository", "score", "speed ratio [95% CI]", "SSIM min", "weight")
    lines = [header]
    for row in leaderboard.submissions:
        metrics = row.metrics
        speed = metrics.speed_ratio if metrics else None
        lines.append(
            (
                str(row.rank) if row.rank else "-",
                "-" if row.uid is None else str(row.uid),
                row.hotkey[:12],
                row.repository or "-",
                "invalid" if row.score is None else f"{row.score:+.4f}",
                f"{speed.value:.3f} [{speed.low:.3f}, {speed.high:.3f}]" if speed else "-",
                f"{metrics.similarity.minimum:.4f}" if metrics and metrics.similarity else "-",
                f"{row.weight:.4f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    reasons = [f"  {row.hotkey[:12]}: {row.reason}" for row in leaderboard.submissions if row.reason]
    return "\n".join(rendered + (["out:", *reasons] if reasons else []))
