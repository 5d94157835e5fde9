"""An in-process implementation of the bittensor SDK's ``Substrate`` protocol, for tests.

``bt.Subtensor(network, substrate=InProcessSubstrate())`` runs the SDK's own call builders, intents
(weights are conformed, quantised and routed to plaintext or timelocked commit-reveal by the SDK),
signing and read decoders against it. It answers storage reads and runtime calls in the decoded
form a node's RPC backend hands back, and applies the extrinsics the contest submits the way the
subtensor pallets do: the signature must verify, the hotkey must be registered, commitments are
``Raw<n>`` fields of at most 128 bytes, weights need a validator permit and a recent enough version
key. Every submitted extrinsic lands in its own block.

Commitments and registrations are kept with the block they landed in, so a storage read or runtime call
pinned to a block answers in that block's state: a hotkey's commitment as it stood then, the hotkeys
that held the uids then (a uid handed to another hotkey later still shows the earlier one).

It behaves like the SDK over a state-pruned (lite) node: state older than ``state_pruning`` blocks
behind the head is gone, so a storage read or runtime call pinned to such a block fails as the SDK
reports a node's "State already discarded" with no archive pool to retry on. Reading an old block
itself fails too: the block body is still kept, but the SDK decodes it with the runtime version of its
parent, which the node can only answer from the parent's state. ``state_pruning=None`` is an archive
node (or a lite node with the SDK's archive pool behind it). Block ``b`` carries the timestamp of slot
``b`` plus one slot for every missed slot up to it; the starting head's slot is the wall clock unless
``head_time`` says otherwise.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bittensor import calls
from bittensor._transport.errors import StateDiscardedError, SubstrateRequestException
from bittensor.balance import Balance
from bittensor.result import ChainError, ExtrinsicResult, RpcConnectionError, chain_error_from_substrate_request
from bittensor_core import Keypair

MAX_COMMITMENT_FIELD_BYTES = 128
RAO_PER_TAO = 1_000_000_000
STATE_PRUNING = 256  # blocks of state a Substrate node keeps by default
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ComposedCall:
    module: str
    function: str
    params: dict[str, Any]


@dataclass
class Registration:
    """One hotkey's hold on a uid, from the block it was registered in until the block that gave the uid away."""

    hotkey: str
    coldkey: str
    stake_tao: float
    validator_permit: bool
    since: int
    until: int | None = None

    def held_at(self, block: int) -> bool:
        return self.since <= block and (self.until is None or block < self.until)


@dataclass
class Extrinsic:
    signer: str
    call: ComposedCall
    block: int
    success: bool
    error: str | None


@dataclass
class Subnet:
    uids: list[list[Registration]] = field(default_factory=list)  # each uid's holders, oldest first
    commitments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # each hotkey's, oldest first
    weights: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    last_update: dict[int, int] = field(default_factory=dict)
    timelocked_commits: list[dict[str, Any]] = field(default_factory=list)
    commit_reveal: bool = False
    weights_version_key: int = 0
    tempo: int = 360

    def neurons_at(self, block: int) -> list[Registration]:
        """The uids' holders in the state of ``block``, by uid; uids are handed out in block order, so the
        ones first registered after ``block`` are the last and are left out."""
        held = [next((r for r in holders if r.held_at(block)), None) for holders in self.uids]
        return [registration for registration in held if registration is not None]

    def commitments_at(self, block: int) -> dict[str, dict[str, Any]]:
        """``CommitmentOf`` in the state of ``block``: each hotkey's latest record that landed at or before it."""
        state = {}
        for hotkey, records in self.commitments.items():
            landed = [record for record in records if record["block"] <= block]
            if landed:
                state[hotkey] = landed[-1]
        return state


def _node_error(message: str) -> ChainError:
    """A node's JSON-RPC error, as the SDK hands it on."""
    return chain_error_from_substrate_request(SubstrateRequestException(message))


def _hex(value: Any) -> str:
    if isinstance(value, str):
        return "0x" + bytes.fromhex(value.removeprefix("0x")).hex()
    return "0x" + bytes(value).hex()


class InProcessSubstrate:
    """Chain state in memory; ``reachable``/``fail_reads``/``fail_submits`` inject a node's transport faults."""

    block_seconds = 12.0

    def __init__(
        self, genesis_block: int = 1000, state_pruning: int | None = STATE_PRUNING, head_time: datetime | None = None
    ) -> None:
        self.token_symbols: dict[int, str] = {}
        self.block = genesis_block
        self.state_pruning = state_pruning
        head_ms = (head_time or datetime.now(UTC)) - _EPOCH
        self.slot_zero_ms = head_ms // timedelta(milliseconds=1) - int(self.block_seconds * 1000) * genesis_block
        self.missed_slots: set[int] = set()  # block b came one slot late, and so did every block after it
        self.hashes: dict[str, int] = {}
        self.subnets: dict[int, Subnet] = {}
        self.extrinsics: list[Extrinsic] = []
        self.nonces: dict[str, int] = {}
        self.reachable = True
        self.fail_reads = 0  # the next N reads fail in transport, as a dropped connection does
        self.fail_submits = 0  # the next N submissions fail in transport before reaching the chain
        self.reads = 0
        self.finality_lag = 0  # blocks the finalized head trails the best head by

    # Test set-up ------------------------------------------------------------------------------------

    def subnet(self, netuid: int) -> Subnet:
        return self.subnets.setdefault(netuid, Subnet())

    def register(
        self, netuid: int, hotkey: str, *, coldkey: str | None = None, stake_tao: float = 0.0, validator: bool = False
    ) -> int:
        """Give ``hotkey`` the next uid, in the head block; returns the uid."""
        uids = self.subnet(netuid).uids
        uids.append([Registration(hotkey, coldkey or hotkey, stake_tao, validator, since=self.block)])
        return len(uids) - 1

    def replace(self, netuid: int, uid: int, hotkey: str, *, stake_tao: float = 0.0) -> None:
        """Deregister ``uid``'s hotkey and give the uid to ``hotkey`` in the head block, as registering on a
        full subnet prunes a uid."""
        holders = self.subnet(netuid).uids[uid]
        holders[-1].until = self.block
        holders.append(Registration(hotkey, hotkey, stake_tao, False, since=self.block))

    def advance(self, blocks: int) -> None:
        self.block += blocks

    def commits_of(self, signer: str, function: str) -> list[Extrinsic]:
        return [e for e in self.extrinsics if e.signer == signer and e.call.function == function]

    # Display metadata and lifecycle ----------------------------------------------------------------

    def balance(self, rao: int, netuid: int = 0) -> Balance:
        return Balance(int(rao), netuid, self.token_symbols.get(netuid))

    async def connect(self) -> None:
        if not self.reachable:
            raise RpcConnectionError("[Errno 111] Connect call failed")

    async def close(self) -> None:
        return None

    def _read(self) -> None:
        self.reads += 1
        if not self.reachable:
            raise RpcConnectionError("the connection closed")
        if self.fail_reads:
            self.fail_reads -= 1
            raise RpcConnectionError("the connection timed out without a response")

    # Reads ------------------------------------------------------------------------------------------

    @staticmethod
    def hash_of(block: int) -> str:
        return "0x" + hashlib.blake2b(f"block {block}".encode(), digest_size=32).hexdigest()

    async def block_hash(self, block: int | None = None) -> str:
        self._read()
        number = self.block if block is None else block
        if not 0 <= number <= self.block:
            raise _node_error(f"Block not found for block number {number}")
        block_hash = self.hash_of(number)
        self.hashes[block_hash] = number
        return block_hash

    def timestamp_of(self, block: int) -> datetime:
        """The timestamp block ``block`` carries in its ``Timestamp.set`` inherent."""
        return _EPOCH + timedelta(milliseconds=self._timestamp_ms(block))

    def _state_at(self, block_hash: str | None) -> int:
        """The block whose state a read pinned to ``block_hash`` needs; fails where a pruned node has none."""
        if block_hash is None:
            return self.block
        if block_hash not in self.hashes:
            raise _node_error(f"UnknownBlock: Header was not found in the database: {block_hash}")
        return self._require_state(self.hashes[block_hash])

    def _require_state(self, block: int) -> int:
        if self.state_pruning is not None and block < self.block - self.state_pruning:
            raise chain_error_from_substrate_request(StateDiscardedError(self.hash_of(block)))
        return block

    async def block_number(self) -> int:
        self._read()
        return self.block

    async def finalized_block_number(self) -> int:
        self._read()
        return self.block - self.finality_lag

    async def block_time(self) -> float:
        return self.block_seconds

    async def spec_version(self) -> int:
        return 1

    async def get_block(self, block_number: int | None = None, block_hash: str | None = None) -> dict | None:
        self._read()
        number = self.block if block_number is None else block_number
        if block_hash is not None:
            number = self.hashes.get(block_hash, -1)
        if not 0 <= number <= self.block:
            return None
        self._require_state(max(number - 1, 0))  # the runtime version the SDK decodes the block with
        header = {"number": number, "hash": self.hash_of(number), "parentHash": self.hash_of(number - 1)}
        now = [{"name": "now", "value": self._timestamp_ms(number)}]
        timestamp = {"call": {"call_module": "Timestamp", "call_function": "set", "call_args": now}}
        return {"header": header, "extrinsics": [timestamp]}

    def _timestamp_ms(self, block: int) -> int:
        slot = block + sum(1 for missed in self.missed_slots if missed <= block)
        return self.slot_zero_ms + int(self.block_seconds * 1000) * slot

    def _uid(self, netuid: int, hotkey: str, at: int) -> int | None:
        for uid, neuron in enumerate(self.subnet(netuid).neurons_at(at)):
            if neuron.hotkey == hotkey:
                return uid
        return None

    def _storage(self, module: str, item: str, params: list, at: int) -> Any:
        netuid = params[0] if params else None
        subnet = self.subnet(netuid) if isinstance(netuid, int) else None
        match (module, item):
            case ("SubtensorModule", "Uids"):
                return self._uid(netuid, params[1], at)
            case ("SubtensorModule", "CommitRevealWeightsEnabled"):
                return subnet.commit_reveal
            case ("SubtensorModule", "WeightsSetRateLimit" | "MinAllowedWeights"):
                return 0
            case ("SubtensorModule", "MaxWeightsLimit"):
                return 65535
            case ("SubtensorModule", "LastUpdate"):
                return [subnet.last_update.get(uid, 0) for uid in range(len(subnet.neurons_at(at)))]
            case ("SubtensorModule", "ValidatorPermit"):
                return [n.validator_permit for n in subnet.neurons_at(at)]
            case ("SubtensorModule", "SubnetEpochConsensus"):
                return "Yuma"
            case ("SubtensorModule", "Tempo"):
                return subnet.tempo
            case ("SubtensorModule", "RevealPeriodEpochs"):
                return 1
            case ("SubtensorModule", "LastEpochBlock" | "PendingEpochAt" | "SubnetEpochIndex"):
                return 0
            case ("SubtensorModule", "BlocksSinceLastStep"):
                return at % subnet.tempo
            case ("SubtensorModule", "WeightsVersionKey"):
                return subnet.weights_version_key
            case ("Commitments", "CommitmentOf"):
                return subnet.commitments_at(at).get(params[1])
            case ("Timestamp", "Now"):
                return self._timestamp_ms(at)
            case ("MevShield", "NextKey"):
                return None
        raise ChainError(f"storage {module}.{item} is not kept by this chain")

    async def query(self, module: str, storage_function: str, params: list | None = None, block_hash=None) -> Any:
        self._read()
        at = self._state_at(block_hash)
        return self._storage(module, storage_function, list(params or []), at)

    async def map_has_entries(self, module: str, storage_function: str, params: list, block_hash=None) -> bool:
        return bool(await self.query_map(module, storage_function, params, block_hash))

    async def query_map(
        self, module: str, storage_function: str, params: list | None = None, block_hash=None
    ) -> list[tuple[Any, Any]]:
        self._read()
        at = self._state_at(block_hash)
        netuid = (params or [None])[0]
        match (module, storage_function):
            case ("SubtensorModule", "TokenSymbol"):
                return []
            case ("Commitments", "CommitmentOf"):
                return list(self.subnet(netuid).commitments_at(at).items())
            case ("Commitments", "RevealedCommitments"):
                return []
            case ("SubtensorModule", "Uids"):
                return [(n.hotkey, uid) for uid, n in enumerate(self.subnet(netuid).neurons_at(at))]
        raise ChainError(f"storage map {module}.{storage_function} is not kept by this chain")

    async def query_batch(self, module: str, storage_function: str, param_sets: list[list], block_hash=None) -> list:
        return [await self.query(module, storage_function, params, block_hash) for params in param_sets]

    def _metagraph(self, netuid: int, at: int) -> dict[str, Any] | None:
        if netuid not in self.subnets:
            return None
        subnet = self.subnets[netuid]
        neurons = subnet.neurons_at(at)
        stakes = [int(n.stake_tao * RAO_PER_TAO) for n in neurons]
        owner = neurons[0] if neurons else Registration("", "", 0.0, False, since=0)
        return {
            "netuid": netuid,
            "name": list(b"edge"),
            "symbol": list(b"e"),
            "block": at,
            "tempo": subnet.tempo,
            "last_step": at - at % subnet.tempo,
            "blocks_since_last_step": at % subnet.tempo,
            "owner_hotkey": owner.hotkey,
            "owner_coldkey": owner.coldkey,
            "network_registered_at": 0,
            "num_uids": len(neurons),
            "max_uids": 256,
            "hotkeys": [n.hotkey for n in neurons],
            "coldkeys": [n.coldkey for n in neurons],
            "active": [True for _ in neurons],
            "validator_permit": [n.validator_permit for n in neurons],
            "last_update": [subnet.last_update.get(uid, 0) for uid in range(len(neurons))],
            "block_at_registration": [n.since for n in neurons],
            "alpha_stake": stakes,
            "tao_stake": [0 for _ in neurons],
            "total_stake": stakes,
        }

    async def runtime_call(self, api: str, method: str, params: list, block_hash=None) -> Any:
        self._read()
        at = self._state_at(block_hash)
        if (api, method) == ("SubnetInfoRuntimeApi", "get_metagraph"):
            return self._metagraph(params[0], at)
        raise ChainError(f"runtime API {api}.{method} is not served by this chain")

    async def constant(self, module: str, name: str) -> Any:
        raise ChainError(f"constant {module}.{name} is not kept by this chain")

    async def decode_scale(self, type_string: str, data: Any) -> Any:
        raise ChainError("SCALE decoding needs a runtime's metadata")

    async def blocks(self, *, finalized: bool = False):
        yield {"header": {"number": self.block, "parentHash": self.hash_of(self.block - 1)}}

    async def events(self, block_hash: str | None = None) -> list[dict]:
        self._state_at(block_hash)  # System.Events is storage
        return []

    # Calls and fees ---------------------------------------------------------------------------------

    async def compose(self, call) -> ComposedCall:
        """Check the call against the SDK's generated catalogue, as composing against metadata would."""
        module, function, params = call
        builder = getattr(getattr(calls, module, None), function, None)
        if builder is None:
            raise ChainError(f"no call {module}.{function} in the runtime")
        expected = set(inspect.signature(builder).parameters)
        if set(params) != expected:
            raise ChainError(f"{module}.{function} takes {sorted(expected)}, got {sorted(params)}")
        return ComposedCall(module, function, dict(params))

    async def estimate_fee(self, call, keypair) -> Balance:
        return Balance.from_rao(0)

    async def estimate_weight(self, call, keypair) -> dict:
        return {"ref_time": 0, "proof_size": 0}

    async def account_next_index(self, address: str) -> int:
        return self.nonces.get(address, 0)

    async def mev_next_key(self) -> bytes | None:
        return None

    # Writes -----------------------------------------------------------------------------------------

    async def submit(
        self,
        call: ComposedCall,
        keypair,
        *,
        nonce: int | None = None,
        period: int | None = None,
        wait_for_inclusion: bool = True,
        wait_for_finalization: bool = True,
    ) -> ExtrinsicResult:
        if not self.reachable:
            raise RpcConnectionError("the connection closed")
        if self.fail_submits:
            self.fail_submits -= 1
            raise RpcConnectionError("the connection closed while submitting")
        signer = keypair.ss58_address
        payload = repr((call, self.nonces.get(signer, 0))).encode()
        if not Keypair(ss58_address=signer).verify(payload, keypair.sign(payload)):
            return self._include(signer, call, "BadSignature")
        self.nonces[signer] = self.nonces.get(signer, 0) + 1
        try:
            self._dispatch(signer, call)
        except ChainError as error:
            return self._include(signer, call, error.name or str(error))
        return self._include(signer, call, None)

    def _include(self, signer: str, call: ComposedCall, error: str | None) -> ExtrinsicResult:
        self.block += 1
        self.extrinsics.append(Extrinsic(signer, call, self.block, error is None, error))
        extrinsic_id = f"{self.block}-0001"
        if error is not None:
            return ExtrinsicResult(
                success=False,
                message=error,
                block_hash=self.hash_of(self.block),
                extrinsic_id=extrinsic_id,
                error=ChainError(error, error),
            )
        return ExtrinsicResult(
            success=True, message="Success", block_hash=self.hash_of(self.block), extrinsic_id=extrinsic_id
        )

    def _dispatch(self, signer: str, call: ComposedCall) -> None:
        params = call.params
        match (call.module, call.function):
            case ("Commitments", "set_commitment"):
                self._set_commitment(signer, params["netuid"], params["info"])
            case ("SubtensorModule", "set_mechanism_weights"):
                self._set_weights(signer, params)
            case ("SubtensorModule", "commit_timelocked_mechanism_weights"):
                uid = self._registered(signer, params["netuid"])
                record = {"uid": uid, "block": self.block + 1, **params}
                self.subnet(params["netuid"]).timelocked_commits.append(record)
            case _:
                raise ChainError(f"{call.module}.{call.function} is not dispatched by this chain", "CallFiltered")

    def _registered(self, signer: str, netuid: int) -> int:
        if netuid not in self.subnets:
            raise ChainError("MechanismDoesNotExist", "MechanismDoesNotExist")
        uid = self._uid(netuid, signer, self.block)
        if uid is None:
            raise ChainError("HotKeyNotRegisteredInSubNet", "HotKeyNotRegisteredInSubNet")
        return uid

    def _set_commitment(self, signer: str, netuid: int, info: dict[str, Any]) -> None:
        self._registered(signer, netuid)
        fields = []
        for entry in info["fields"]:
            ((variant, value),) = entry.items()
            data = bytes.fromhex(_hex(value)[2:])
            if variant != f"Raw{len(data)}" or len(data) > MAX_COMMITMENT_FIELD_BYTES:
                raise ChainError(f"field {variant} does not hold {len(data)} bytes", "InvalidCommitmentField")
            fields.append({variant: "0x" + data.hex()})
        record = {"block": self.block + 1, "deposit": 0, "info": {"fields": fields}}
        self.subnet(netuid).commitments.setdefault(signer, []).append(record)

    def _set_weights(self, signer: str, params: dict[str, Any]) -> None:
        netuid = params["netuid"]
        uid = self._registered(signer, netuid)
        subnet = self.subnet(netuid)
        neurons = subnet.neurons_at(self.block)
        if not neurons[uid].validator_permit:
            raise ChainError("NeuronNoValidatorPermit", "NeuronNoValidatorPermit")
        if params["version_key"] < subnet.weights_version_key:
            raise ChainError("IncorrectWeightVersionKey", "IncorrectWeightVersionKey")
        dests, weights = list(params["dests"]), list(params["weights"])
        if len(dests) != len(weights) or any(d >= len(neurons) for d in dests):
            raise ChainError("UidVecContainInvalidOne", "UidVecContainInvalidOne")
        subnet.weights[uid] = list(zip(dests, weights, strict=True))
        subnet.last_update[uid] = self.block + 1
