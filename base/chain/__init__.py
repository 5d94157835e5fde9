from base.chain.commitment import Commitment, InvalidCommitment
from base.chain.interface import (
    Chain,
    ChainCommitment,
    ChainError,
    Neuron,
    WeightsSet,
    first_block_at_or_after,
    require_aware,
)
from base.chain.local import CHAIN_VERSION, MAX_COMMITMENT_BYTES, SECONDS_PER_BLOCK, TEMPO, LocalChain
from base.chain.subtensor import BittensorChain, resolve

__all__ = [
    "CHAIN_VERSION",
    "MAX_COMMITMENT_BYTES",
    "SECONDS_PER_BLOCK",
    "TEMPO",
    "BittensorChain",
    "Chain",
    "ChainCommitment",
    "ChainError",
    "Commitment",
    "InvalidCommitment",
    "LocalChain",
    "Neuron",
    "WeightsSet",
    "first_block_at_or_after",
    "require_aware",
    "resolve",
]
