"""The chain as both roles see it: commitments, blocks, the metagraph and weights.

``LocalChain`` (an embedded SQLite chain) implements it for a contest on one machine; the Bittensor
adapter implements the same calls on a real subnet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bittensor import Wallet


class ChainError(RuntimeError):
    """A chain call failed; the message says which call and why."""


@dataclass(frozen=True)
class ChainCommitment:
    """The latest commitment of a hotkey, with the block it landed in."""

    hotkey: str
    block: int
    data: bytes


@dataclass(frozen=True)
class Neuron:
    uid: int
    hotkey: str
    stake: float
    validator_permit: bool


@dataclass(frozen=True)
class WeightsSet:
    validator: str
    block: int
    uids: tuple[int, ...]
    weights: tuple[float, ...]
    version_key: int


class Chain(Protocol):
    def current_block(self) -> int: ...

    def block_hash(self, block: int) -> bytes: ...

    def neurons(self, netuid: int) -> list[Neuron]: ...

    def tempo(self, netuid: int) -> int:
        """Blocks between the subnet's epochs: how often weights are worth setting."""
        ...

    def commit(self, wallet: Wallet, netuid: int, data: bytes) -> int:
        """Publish ``data`` as the hotkey's commitment; returns the block it landed in."""
        ...

    def commitments(self, netuid: int) -> list[ChainCommitment]: ...

    def set_weights(
        self, wallet: Wallet, netuid: int, uids: Sequence[int], weights: Sequence[float], version_key: int
    ) -> int:
        """Set the validator's weights; returns the block."""
        ...
