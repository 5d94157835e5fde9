"""What a validator exposes to Prometheus: the day's progress, its outcomes and timings, the A/A control, the
weights and the errors (``--metrics.port``; docs/validating.md, "Metrics", says what to alert on).

Each validator has its own registry, served on loopback unless told otherwise: the figures are the operator's,
not the public's (the leaderboard is the public record).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, start_http_server

from contest.judging.judge import Judgement, Measurement, Outcome, Reference

SUBMISSION_SECONDS = (5, 10, 30, 60, 120, 300, 600, 1200, 1800)
UPDATE_STATES = ["unchecked", "current", "updated", "refused", "failed"]


class DayMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.submissions = Gauge("edge_day_submissions", "Commitments collected for the current day", registry=registry)
        self.judged = Gauge("edge_day_judged", "The current day's submissions with an outcome", registry=registry)
        self.outcomes = Counter(
            "edge_outcomes", "Outcomes stored, by kind: measured, or the reason it is out", ["kind"], registry=registry
        )
        self.day_outcomes = Gauge(
            "edge_day_outcomes", "The last settled day's submissions by kind: valid, or the reason", ["kind"],
            registry=registry,
        )  # fmt: skip
        self.submission_seconds = Histogram(
            "edge_submission_seconds", "Wall time between stored outcomes (the first includes the A/A control)",
            buckets=SUBMISSION_SECONDS, registry=registry,
        )  # fmt: skip
        self.seconds_per_image = Gauge(
            "edge_seconds_per_image", "Median seconds per image, latest measured pair", ["side"], registry=registry
        )
        self.control_ratio = Gauge(
            "edge_control_speed_ratio", "The latest A/A control's speed ratio (1.0: a fair harness)", registry=registry
        )
        self.weights_block = Gauge("edge_weights_block", "Block of the latest weights set", registry=registry)
        self.head_block = Gauge("edge_chain_head_block", "The chain's head at the latest check", registry=registry)
        self.errors = Counter("edge_errors", "Errors recorded (a day's or the weights')", registry=registry)
        self.update_state = Enum(
            "edge_update", "The latest self-update check (--autoupdate)", states=UPDATE_STATES, registry=registry
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` from a daemon thread for as long as the process lives."""
        start_http_server(port, addr=host, registry=self.registry)

    def day_opened(self, submissions: int, judged: int) -> None:
        self.submissions.set(submissions)
        self.judged.set(judged)

    def stored(self, outcome: Outcome, seconds: float) -> None:
        """One submission's outcome, stored after ``seconds`` of judging."""
        self.judged.inc()
        self.submission_seconds.observe(seconds)
        if isinstance(outcome, Measurement):
            self.outcomes.labels("measured").inc()
            self.seconds_per_image.labels("baseline").set(statistics.median(outcome.baseline.sample_seconds))
            self.seconds_per_image.labels("submission").set(statistics.median(outcome.result.sample_seconds))
        else:
            self.outcomes.labels(outcome.kind.value).inc()

    def settled(self, judgements: Mapping[str, Judgement], controls: Sequence[Reference]) -> None:
        """The day's final kinds, and its latest A/A control."""
        self.day_outcomes.clear()
        for judgement in judgements.values():
            reason = judgement.verdict.reason
            self.day_outcomes.labels("valid" if reason is None else reason.kind.value).inc()
        if controls:
            self.control_ratio.set(controls[-1].speed_ratio.value)

    def weights_set(self, block: int) -> None:
        self.weights_block.set(block)

    def chain_head(self, block: int) -> None:
        self.head_block.set(block)

    def error(self) -> None:
        self.errors.inc()

    def update_checked(self, status: str) -> None:
        self.update_state.state(status)
