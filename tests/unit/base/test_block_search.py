"""The first block at or after a moment: the chain alone decides it, whenever and wherever it is asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.chain import ChainError, LocalChain, first_block_at_or_after
from tests.support.days import HeldClock

GENESIS = datetime(2026, 7, 15, 9, 0, 0, 500_000, tzinfo=UTC)
BLOCK = timedelta(seconds=12)
MS = timedelta(milliseconds=1)


class Timestamps:
    """A chain that is only its blocks' timestamps (milliseconds after genesis), counting the search's reads."""

    def __init__(self, stamps_ms: Sequence[int]) -> None:
        self.stamps_ms = stamps_ms
        self.reads = 0

    def current_block(self) -> int:
        return len(self.stamps_ms) - 1

    def block_timestamp(self, block: int) -> datetime:
        if not 0 <= block < len(self.stamps_ms):
            raise ChainError(f"block {block} does not exist")
        self.reads += 1
        return GENESIS + self.stamps_ms[block] * MS


def read_bound(head: int) -> int:
    return 2 * head.bit_length() + 4


def linear(stamps_ms: Sequence[int], moment: datetime) -> int | None:
    return next((block for block, stamp in enumerate(stamps_ms) if GENESIS + stamp * MS >= moment), None)


@pytest.fixture
def held(tmp_path: Path) -> tuple[LocalChain, HeldClock]:
    clock = HeldClock(GENESIS)
    chain = LocalChain(tmp_path / "chain.sqlite", clock=clock)
    clock.now += 500 * BLOCK + timedelta(seconds=3)
    return chain, clock


def test_a_moment_on_a_block_is_that_block_and_a_millisecond_later_the_next(held) -> None:
    chain, _ = held
    assert chain.current_block() == 500
    on_block = chain.block_timestamp(123)
    assert first_block_at_or_after(chain, on_block) == 123
    assert first_block_at_or_after(chain, on_block + MS) == 124
    assert first_block_at_or_after(chain, on_block - MS) == 123
    assert (
        first_block_at_or_after(chain, on_block.astimezone(ZoneInfo("America/New_York"))) == 123
    )  # the zone is irrelevant


def test_before_genesis_is_block_zero_and_after_the_head_is_not_yet(held) -> None:
    chain, _ = held
    assert first_block_at_or_after(chain, GENESIS - timedelta(days=3)) == 0
    assert first_block_at_or_after(chain, GENESIS) == 0
    head_time = chain.block_timestamp(500)
    assert first_block_at_or_after(chain, head_time) == 500
    assert first_block_at_or_after(chain, head_time + MS) is None


def test_validators_looking_at_different_times_find_the_same_block(held, tmp_path: Path) -> None:
    chain, clock = held
    opening = GENESIS + timedelta(hours=3, seconds=5)  # between two blocks
    early = first_block_at_or_after(chain, opening)
    assert early is None  # not on chain yet, whatever a validator's own clock says

    clock.now = opening + timedelta(seconds=20)
    on_time = first_block_at_or_after(chain, opening)
    clock.now += timedelta(hours=20)
    late = LocalChain(tmp_path / "chain.sqlite", clock=HeldClock(clock.now))
    late.advance(77)
    assert first_block_at_or_after(late, opening) == on_time == 901
    assert chain.block_timestamp(900) < opening <= chain.block_timestamp(901)


def test_a_moment_without_a_time_zone_is_refused(held) -> None:
    chain, _ = held
    with pytest.raises(ValueError, match="no time zone"):
        first_block_at_or_after(chain, datetime(2026, 7, 15, 12, 0))


def test_blocks_keeping_to_their_time_take_a_handful_of_reads() -> None:
    chain = Timestamps(range(0, 12_000 * 2_000_000, 12_000))
    assert first_block_at_or_after(chain, GENESIS + 1_234_567 * BLOCK - MS) == 1_234_567
    assert chain.reads <= 4


_GAPS_MS = st.one_of(
    st.just(0),  # runs of equal timestamps
    st.integers(1, 30_000),  # ordinary and late blocks
    st.integers(30_000, 10**8),  # a chain halted for hours
)
# Long stretches of one gap each, so a chain can be long and its pace far from the search's estimate.
_STRETCHES = st.lists(st.tuples(st.integers(1, 4000), _GAPS_MS), max_size=12)


@st.composite
def chains_and_moments(draw: st.DrawFn) -> tuple[list[int], datetime, float]:
    gaps = [gap for count, gap in draw(_STRETCHES) for _ in range(count)]
    gaps += draw(st.lists(_GAPS_MS, max_size=40))
    stamps_ms = [0, *accumulate(gaps)]
    anchor = GENESIS + stamps_ms[draw(st.integers(0, len(stamps_ms) - 1))] * MS
    near = st.sampled_from([-MS, timedelta(0), MS])
    offset = draw(st.one_of(near, st.timedeltas(-timedelta(days=2), timedelta(days=2))))
    moment = draw(st.sampled_from([anchor + offset, GENESIS + stamps_ms[-1] * MS + MS, GENESIS - MS]))
    return stamps_ms, moment, draw(st.floats(0.25, 120.0))


@settings(max_examples=300, deadline=None)
@given(chains_and_moments())
def test_the_search_agrees_with_a_linear_scan_within_its_read_bound(case) -> None:
    stamps_ms, moment, block_seconds = case
    chain = Timestamps(stamps_ms)
    assert first_block_at_or_after(chain, moment, block_seconds) == linear(stamps_ms, moment)
    assert chain.reads <= read_bound(chain.current_block())
