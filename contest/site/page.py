"""The leaderboard page: one contest day as HTML, with its pictures and each miner's score across days.

The page is rendered on the server (Jinja2, autoescaped) and needs no script: the score chart is an
inline SVG whose geometry is computed here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from contest.definitions import CONTESTS
from contest.publish.leaderboard import Submission, Thumbnail
from contest.publish.report import format_interval, format_leader, format_score
from contest.site.archive import PublishedDay

MIB = 1024 * 1024
HISTORY_DAYS = 30  # the chart's span
HISTORY_MINERS = 8  # lines on the chart, best latest score first
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#65a30d")
CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 720, 260, 48


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    score: float
    day: str


@dataclass(frozen=True)
class ChartSeries:
    hotkey: str
    label: str
    colour: str
    points: tuple[ChartPoint, ...]

    @property
    def polyline(self) -> str:
        return " ".join(f"{point.x:.1f},{point.y:.1f}" for point in self.points)


@dataclass(frozen=True)
class ScoreChart:
    width: int
    height: int
    left: float  # the plot's horizontal extent
    right: float
    days: tuple[tuple[float, str], ...]  # x, label
    ticks: tuple[tuple[float, str], ...]  # y, label
    zero: float  # y of score 0 (the baseline)
    series: tuple[ChartSeries, ...]


@dataclass(frozen=True)
class GalleryRow:
    label: str
    thumbnails: tuple[Thumbnail, ...]


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    return start if high == low else start + (value - low) * (end - start) / (high - low)


def score_chart(days: Sequence[PublishedDay]) -> ScoreChart:
    """Each miner's score on each of the latest days it had a valid one (invalid days leave a gap)."""
    days = list(days)[-HISTORY_DAYS:]
    scores: dict[str, dict[int, float]] = {}
    labels: dict[str, str] = {}
    for index, published in enumerate(days):
        for row in published.leaderboard.submissions:
            if row.valid and row.score is not None:
                scores.setdefault(row.hotkey, {})[index] = row.score
                labels[row.hotkey] = f"{row.uid if row.uid is not None else '-'} {row.repository or row.hotkey[:10]}"
    last_seen = {hotkey: max(by_day) for hotkey, by_day in scores.items()}

    def recent_and_best(hotkey: str) -> tuple[int, float, str]:
        return -last_seen[hotkey], -scores[hotkey][last_seen[hotkey]], hotkey

    chosen = sorted(scores, key=recent_and_best)[:HISTORY_MINERS]
    values = [score for hotkey in chosen for score in scores[hotkey].values()] + [0.0]
    low, high = min(values), max(values)
    pad = 0.1 * (high - low) or 0.1
    low, high = low - pad, high + pad
    left, right = CHART_MARGIN + 8, CHART_WIDTH - 16
    top, bottom = 16, CHART_HEIGHT - CHART_MARGIN

    def x(index: int) -> float:
        return _scale(index, 0, max(1, len(days) - 1), left, right) if len(days) > 1 else (left + right) / 2

    def y(score: float) -> float:
        return _scale(score, low, high, bottom, top)

    series = tuple(
        ChartSeries(
            hotkey,
            labels[hotkey],
            COLOURS[position % len(COLOURS)],
            tuple(ChartPoint(x(i), y(s), s, days[i].leaderboard.day) for i, s in sorted(scores[hotkey].items())),
        )
        for position, hotkey in enumerate(chosen)
    )
    ticks = tuple((y(low + (high - low) * step / 4), f"{low + (high - low) * step / 4:+.2f}") for step in range(5))
    every = math.ceil(len(days) / 8)  # at most eight day labels
    day_marks = tuple((x(i), day.leaderboard.day) for i, day in enumerate(days) if (len(days) - 1 - i) % every == 0)
    return ScoreChart(CHART_WIDTH, CHART_HEIGHT, left - 8, right + 8, day_marks, ticks, y(0.0), series)


def gallery_rows(published: PublishedDay) -> list[GalleryRow]:
    """The baseline first, then every submission with pictures, in leaderboard order."""
    board = published.leaderboard
    if not board.baseline_thumbnails:  # a leaderboard from before thumbnails were kept
        return []
    rows = [GalleryRow("baseline", tuple(board.baseline_thumbnails))]
    for row in board.submissions:
        if row.thumbnails:
            place = f"#{row.rank}" if row.rank else "invalid"
            rows.append(GalleryRow(f"{place} {row.repository or row.hotkey[:12]}", tuple(row.thumbnails)))
    return rows


def day_url(published: PublishedDay) -> str:
    return f"/days/{quote(published.contest)}/{quote(published.name)}"


def file_url(published: PublishedDay, relative: str = "") -> str:
    """A file of the day's (its JSON by default, or a thumbnail listed in it) as the server serves it."""
    return f"/leaderboards/{quote(published.contest)}/{quote(relative or published.path.name)}"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}\u00d7"  # a multiplication sign


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / MIB:,.0f}"


def _score(row: Submission) -> str:
    return format_score(row, missing="-")


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("contest.site", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(interval=format_interval, ratio=_ratio, mib=_mib, score=_score, leader=format_leader)
    return environment


def render_day(published: PublishedDay, history: Sequence[PublishedDay], contests: Sequence[str]) -> str:
    """The page of one day; ``history`` is the contest's published days, oldest first."""
    board = published.leaderboard
    contest = CONTESTS.get(board.contest)
    return (
        _environment()
        .get_template("leaderboard.html")
        .render(
            day=published,
            board=board,
            description=contest.description if contest else "",
            ranked=[row for row in board.submissions if row.rank is not None],
            out=[row for row in board.submissions if row.rank is None],
            gallery=gallery_rows(published),
            chart=score_chart(history),
            history=list(reversed(history)),
            contests=contests,
            day_url=day_url,
            file_url=file_url,
        )
    )


def render_empty(root: str) -> str:
    return _environment().get_template("empty.html").render(root=root)
