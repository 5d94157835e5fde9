"""The chain as both roles see it: commitments, blocks, the metagraph and weights.

``LocalChain`` (an embedded SQLite chain) implements it for a contest on one machine; the Bittensor
adapter implements the same calls on a real subnet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bittensor import Wallet


class ChainError(RuntimeError):
    """A chain call failed; the message says which call and why."""


@dataclass(frozen=True)
class ChainCommitment:
    """A hotkey's latest commitment as of the block read, with the block it landed in."""

    hotkey: str
    block: int
    data: bytes


@dataclass(frozen=True)
class Neuron:
    uid: int
    hotkey: str
    stake: float
    validator_permit: bool
    coldkey: str = ""  # the hotkey's owner; empty where the chain does not say


@dataclass(frozen=True)
class WeightsSet:
    validator: str
    block: int
    uids: tuple[int, ...]
    weights: tuple[float, ...]
    version_key: int


class Chain(Protocol):
    def current_block(self) -> int: ...

    def finalized_block(self) -> int:
        """The newest block that can no longer be replaced: what every reader will see at its height."""
        ...

    def block_hash(self, block: int) -> bytes: ...

    def block_timestamp(self, block: int) -> datetime:
        """The UTC time the block itself carries, so every reader of the chain agrees on it.

        Raises ``ChainError`` when the block does not exist (negative or beyond the head).
        """
        ...

    def neurons(self, netuid: int, at_block: int | None = None) -> list[Neuron]:
        """The hotkeys registered on the subnet, with their uids, as of ``at_block`` (None: the head).

        A hotkey deregistered after ``at_block`` is still there, one registered after it is not, and a uid
        given to another hotkey since keeps the hotkey it had then: validators reading a past block at
        different times see the same registrations.
        """
        ...

    def tempo(self, netuid: int) -> int:
        """Blocks between the subnet's epochs: how often weights are worth setting."""
        ...

    def commit(self, wallet: Wallet, netuid: int, data: bytes) -> int:
        """Publish ``data`` as the hotkey's commitment; returns the block it landed in."""
        ...

    def commitments(self, netuid: int, at_block: int | None = None) -> list[ChainCommitment]:
        """Each hotkey's latest commitment made at or before ``at_block`` (None: the head).

        A hotkey that commits again later still has its earlier commitment as of that block.
        """
        ...

    def set_weights(
        self, wallet: Wallet, netuid: int, uids: Sequence[int], weights: Sequence[float], version_key: int
    ) -> int:
        """Set the validator's weights; returns the block."""
        ...


class BlockClock(Protocol):
    """The two reads the search needs; any ``Chain`` has them."""

    def current_block(self) -> int: ...

    def block_timestamp(self, block: int) -> datetime: ...


def require_aware(moment: datetime) -> datetime:
    """A naive datetime would be read in the machine's own zone, so validators could disagree."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; chain time needs an aware datetime")
    return moment


@dataclass
class _Timestamps:
    """Block timestamps read once each: on a real node every read is a round trip."""

    chain: BlockClock
    read: dict[int, datetime] = field(default_factory=dict)

    def at(self, block: int) -> datetime:
        if block not in self.read:
            self.read[block] = self.chain.block_timestamp(block)
        return self.read[block]


def first_block_at_or_after(chain: BlockClock, moment: datetime, block_seconds: float = 12.0) -> int | None:
    """The first block whose own timestamp is at or after ``moment``; None while the head is still before it.

    The answer depends on the chain alone, so every validator finds the same block whenever it looks.
    Timestamps never decrease with the block number: guess from the head with ``block_seconds``, gallop
    away from the guess until the answer is bracketed, then bisect. That is about ``2 * log2(head) + 4``
    reads at worst and a handful when blocks keep to ``block_seconds``.
    """
    require_aware(moment)
    if block_seconds <= 0:
        raise ValueError(f"block_seconds must be positive, not {block_seconds}")
    stamps = _Timestamps(chain)
    head = chain.current_block()
    if stamps.at(head) < moment:
        return None
    behind = (stamps.at(head) - moment).total_seconds() / block_seconds
    guess = head - int(min(behind, head))
    before, after = _bracket(stamps, moment, guess, head)
    return _bisect(stamps, moment, before, after)


def _bracket(stamps: _Timestamps, moment: datetime, guess: int, head: int) -> tuple[int, int]:
    """Blocks ``before < after`` with ``before`` earlier than ``moment`` (-1: none is) and ``after`` at or past it."""
    step = 1
    if stamps.at(guess) >= moment:
        after = guess
        while after > 0:
            probe = max(after - step, 0)
            if stamps.at(probe) < moment:
                return probe, after
            after, step = probe, step * 2
        return -1, 0
    before = guess
    while True:  # the head is at or past the moment, so this ends there at the latest
        probe = min(before + step, head)
        if stamps.at(probe) >= moment:
            return before, probe
        before, step = probe, step * 2


def _bisect(stamps: _Timestamps, moment: datetime, before: int, after: int) -> int:
    """Narrow ``before < answer <= after`` down to the answer."""
    while after - before > 1:
        middle = (before + after) // 2
        if stamps.at(middle) >= moment:
            after = middle
        else:
            before = middle
    return after
