"""When a contest day opens, as the chain says: the same block for every validator, whenever it starts.

The day's opening block is the first block whose own timestamp is at or after the contest's opening time
(12:00 America/New_York). It fixes the commitment cut-off and, through its hash, the day's inputs, so two
validators started minutes or hours apart judge the same commitments on the same inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from base.chain import Chain, LocalChain, first_block_at_or_after
from contest.day.schedule import latest_opening, next_opening
from contest.definitions import Contest

WAIT_S = 2.0  # between looks at the chain while it has not reached the opening yet


@dataclass(frozen=True)
class DayOpening:
    contest_id: str
    scheduled: datetime  # the contest's opening time that day
    block: int  # the first block at or after it
    block_hash: bytes
    opened_at: datetime  # that block's own timestamp
    day: str  # the scheduled opening's calendar date in the contest's time zone


def chain_time(chain: Chain) -> datetime:
    """The chain's own clock: its head block's timestamp."""
    return chain.block_timestamp(chain.current_block())


def opening_at(chain: Chain, contest: Contest, scheduled: datetime) -> DayOpening | None:
    """The day that opens at ``scheduled``, or None while no block has reached that time or it is not final.

    A block still open to replacement could give validators that read it at different moments different
    hashes, hence different inputs: the opening is read only once it is finalized.
    """
    block = first_block_at_or_after(chain, scheduled)
    if block is None or block > chain.finalized_block():
        return None
    day = scheduled.astimezone(ZoneInfo(contest.timezone)).date().isoformat()
    return DayOpening(contest.id, scheduled, block, chain.block_hash(block), chain.block_timestamp(block), day)


def open_day(
    chain: Chain,
    contest: Contest,
    scheduled: datetime | None = None,
    waiting: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], None] = time.sleep,
) -> DayOpening:
    """The day opening at ``scheduled`` (default: the latest opening by the chain's clock).

    A scheduled time the chain has not reached or finalized yet (the validator's clock runs ahead of the
    chain's, or finality trails by a few blocks) is waited for while ``waiting()`` is true.
    """
    when = scheduled or latest_opening(contest, chain_time(chain))
    while (opening := opening_at(chain, contest, when)) is None:
        if not waiting():
            raise TimeoutError(f"the chain has not reached and finalized {when.isoformat()} yet")
        sleep(WAIT_S)
    return opening


def move_to_next_opening(chain: LocalChain, contest: Contest) -> int:
    """On the embedded chain, produce blocks up to the contest's next opening; returns the new head.

    A day then opens after everything committed so far, as it does on a live chain by waiting (the demo,
    the agreement benchmark and the tests use this).
    """
    return chain.advance_to(next_opening(contest, chain_time(chain)))
