"""The ``Chain`` interface on a Bittensor subnet, through the bittensor 11 SDK.

Reads go through the SDK's typed reads (``identity.commitments``, ``subnets.metagraph``,
``block_info``), pinned to a block where the caller asks for one; commitments through the generated
``Commitments.set_commitment`` call signed by the hotkey, and weights through the SDK's ``SetWeights``
intent, which conforms and quantises them to the subnet's limits and picks plaintext or timelocked
commit-reveal from the subnet's settings. Transport failures are retried with exponential back-off;
what is left after that, and anything the chain refuses, becomes a one-line ``ChainError``.

A block's hash and timestamp come from one ``block_info`` read (its header and its ``Timestamp.set``
inherent). The SDK decodes a block with the runtime of its parent, and asking a node for that runtime
needs the parent's state: a lite node keeps state for its last few hundred blocks only (256 by default),
so older blocks are read from an archive pool, which the SDK falls back to on "state discarded". Reads
pinned to a block (a day's commitments and registrations at its opening) need that block's state the same
way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

import bittensor as bt
from bittensor.result import BittensorError, ExtrinsicResult, RpcConnectionError
from bittensor.settings import resolve_endpoint

from base.chain.interface import ChainCommitment, ChainError, Neuron
from base.errors import first_line
from base.retry import DEFAULT_RETRY, RetryPolicy

T = TypeVar("T")


def resolve(network: str, chain_endpoint: str | None) -> str:
    """The websocket endpoint for ``--subtensor.network``/``--subtensor.chain_endpoint``."""
    if chain_endpoint:
        return chain_endpoint
    try:
        return resolve_endpoint(network)[1]
    except ValueError:
        raise ChainError(f"unknown network {network!r}: use finney, test, local or a ws:// endpoint") from None


class BittensorChain:
    def __init__(
        self,
        endpoint: str,
        retry: RetryPolicy = DEFAULT_RETRY,
        archive_endpoints: Sequence[str] | None = None,
        substrate: bt.Substrate | None = None,
    ) -> None:
        """``archive_endpoints`` serve blocks older than the node's state; None takes the SDK's pool for the network.
        ``substrate`` answers for the endpoint instead of a websocket (the SDK's own seam), e.g. an in-process chain.

        A validator that starts late in the day must still read the day's opening block; on finney the SDK's
        public archives cover that, and a custom endpoint needs its own (none by default). The endpoint itself
        is never swapped for another: no fallback pool.
        """
        self.endpoint = endpoint
        self._retry = retry
        archives = None if archive_endpoints is None else list(archive_endpoints)
        self._subtensor = bt.Subtensor(endpoint, substrate=substrate, fallback_endpoints=[], archive_endpoints=archives)

    def _call(self, what: str, action: Callable[[], T]) -> T:
        retrying = self._retry.retrying(RpcConnectionError, what)
        try:
            return retrying(action)
        except RpcConnectionError as error:
            raise ChainError(f"{what}: cannot reach the chain at {self.endpoint}: {first_line(error)}") from None
        except BittensorError as error:
            raise ChainError(f"{what}: {first_line(error)}") from None

    def current_block(self) -> int:
        return self._call("reading the current block", lambda: self._subtensor.block)

    def finalized_block(self) -> int:
        return self._call("reading the finalized block", lambda: self._subtensor.finalized_block)

    def _block_info(self, block: int) -> tuple[str, datetime]:
        """One read for a block's header and body: its hash and its own ``Timestamp.set``."""
        if block < 0:
            raise ChainError(f"block {block} does not exist: blocks start at 0")
        info = self._call(f"reading block {block}", lambda: self._subtensor.block_info(block))
        if info is None or not info.hash:
            raise ChainError(f"block {block} is not known to {self.endpoint}")
        return info.hash, info.timestamp

    def block_hash(self, block: int) -> bytes:
        block_hash, _ = self._block_info(block)
        return bytes.fromhex(block_hash.removeprefix("0x"))

    def block_timestamp(self, block: int) -> datetime:
        """The block's own ``Timestamp.set`` inherent, from the same read as its hash (not a second, storage, read)."""
        _, timestamp = self._block_info(block)
        return timestamp

    def neurons(self, netuid: int, at_block: int | None = None) -> list[Neuron]:
        """The metagraph's neurons in the state of ``at_block`` (its runtime call there), without commitments."""
        what = f"reading the metagraph of subnet {netuid}{_at(at_block)}"
        metagraph = self._call(
            what, lambda: self._subtensor.subnets.metagraph(netuid, block=at_block, commitments=False)
        )
        if metagraph is None:
            raise ChainError(f"subnet {netuid} does not exist on {self.endpoint}")
        return [
            Neuron(neuron.uid, neuron.hotkey, neuron.total_stake.amount, neuron.validator_permit, neuron.coldkey)
            for neuron in metagraph.neurons
        ]

    def tempo(self, netuid: int) -> int:
        what = f"reading the tempo of subnet {netuid}"
        tempo = self._call(what, lambda: self._subtensor.query(("SubtensorModule", "Tempo"), [netuid]))
        if tempo is None:
            raise ChainError(f"subnet {netuid} does not exist on {self.endpoint}")
        return int(tempo)

    def commitments(self, netuid: int, at_block: int | None = None) -> list[ChainCommitment]:
        """The ``CommitmentOf`` map in the state of ``at_block``: each hotkey's entry as it stood then."""
        what = f"reading the commitments of subnet {netuid}{_at(at_block)}"
        rows = self._call(what, lambda: self._subtensor.identity.commitments(netuid, block=at_block))
        # The SDK hands back UTF-8 text when the bytes decode as such, else 0x-hex. Contest commitments
        # start with a version byte below 0x20, so their text form never starts with "0x".
        return [
            ChainCommitment(row["hotkey"], int(row["block"]), _commitment_bytes(row["commitment"]))
            for row in rows
            if row.get("commitment")
        ]

    def _submitted(self, what: str, submit: Callable[[], ExtrinsicResult]) -> int:
        result = self._call(what, submit)
        if not result.success:
            raise ChainError(f"{what}: the chain refused it: {result.message}")
        if result.extrinsic_id:
            return int(result.extrinsic_id.split("-")[0])
        return self.current_block()

    def commit(self, wallet: bt.Wallet, netuid: int, data: bytes) -> int:
        call = bt.calls.Commitments.set_commitment(netuid, {"fields": [{f"Raw{len(data)}": data}]})
        return self._submitted(
            f"committing on subnet {netuid}", lambda: self._subtensor.submit_call(call, wallet, signer="hotkey")
        )

    def set_weights(
        self, wallet: bt.Wallet, netuid: int, uids: Sequence[int], weights: Sequence[float], version_key: int
    ) -> int:
        intent = bt.SetWeights(netuid=netuid, uids=list(uids), weights=list(weights), version_key=version_key)
        return self._submitted(
            f"setting weights on subnet {netuid}", lambda: self._subtensor.execute(intent, wallet, retries=2)
        )


def _at(block: int | None) -> str:
    return "" if block is None else f" at block {block}"


def _commitment_bytes(text: str) -> bytes:
    if text.startswith("0x"):
        with contextlib.suppress(ValueError):
            return bytes.fromhex(text[2:])
    return text.encode("utf-8")
