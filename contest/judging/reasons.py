"""Why a submission is out: a kind that code and readers can sort on, and a message that says the particulars."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Out(StrEnum):
    """The kinds of reason a submission is out; the value is what the leaderboard publishes."""

    INVALID_COMMITMENT = "invalid-commitment"
    UNKNOWN_CONTEST = "unknown-contest"
    PROVIDER_UNAVAILABLE = "provider-unavailable"
    NO_DISK = "no-disk"
    DOWNLOAD = "download"
    HASH = "hash"
    DUPLICATE = "duplicate"
    NEAR_COPY = "near-copy"
    REFUSED = "refused"
    UNMODIFIED_BASELINE = "unmodified-baseline"
    FAILED = "failed"
    LEFT_PROCESSES = "left-processes"
    SLOWED_BASELINE = "slowed-baseline"
    SIMILARITY = "similarity"
    NOT_JUDGED = "not-judged"


@dataclass(frozen=True)
class Reason:
    kind: Out
    message: str

    def __str__(self) -> str:
        return self.message
