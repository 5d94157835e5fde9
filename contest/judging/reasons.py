"""Why a submission is out: a kind that code and readers can sort on, and a message that says the particulars.

A message may quote what a miner chose (a class name, a file name, an error its files caused), so it is cut to
``MAX_MESSAGE_CHARS``: a published reason can never carry a miner's megabytes. Every character that is not
printable is written as its escape (``\x9b``, ``\u202e``, ``\n``): a reason is printed in the validator's terminal
and shown on the page, where a control sequence or a bidirectional override would act instead of being read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_MESSAGE_CHARS = 300
ELLIPSIS = "..."


class ReasonKind(StrEnum):
    """The kinds of reason a submission is out; the value is what the leaderboard publishes."""

    INVALID_COMMITMENT = "invalid-commitment"
    UNKNOWN_CONTEST = "unknown-contest"
    BLOCKED = "blocked"  # on the validator's blocklist (its hotkey or its coldkey)
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
    BASELINE_FAILED = "baseline-failed"  # the validator's own side failed beside it twice: not its fault
    HOST_LOST = "host-lost"  # the host judging it was lost twice: not its fault
    NOT_JUDGED = "not-judged"


@dataclass(frozen=True)
class Reason:
    kind: ReasonKind
    message: str

    def __post_init__(self) -> None:
        message = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in self.message)
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - len(ELLIPSIS)] + ELLIPSIS
        object.__setattr__(self, "message", message)

    def __str__(self) -> str:
        return self.message
