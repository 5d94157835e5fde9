"""Pick the chain and the stores from the flags; the embedded default needs nothing outside the machine."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from base.bittensor_chain import BittensorChain, resolve
from base.chain import Chain
from base.config import NetworkConfig
from base.git_store import GitStore
from base.huggingface_store import HuggingFaceStore
from base.local_chain import LocalChain
from base.store import Store

# How a command opens its chain: ``open_chain`` everywhere but in tests that put an in-process chain behind the SDK.
ChainOpener = Callable[[NetworkConfig], Chain]


def open_chain(config: NetworkConfig) -> Chain:
    if config.embedded_chain:
        return LocalChain(config.data_dir / "chain.sqlite")
    return BittensorChain(resolve(config.network, config.chain_endpoint))


def open_stores(config: NetworkConfig) -> Mapping[str, Store]:
    """Every provider a commitment may name; a validator fetches from whichever one the miner used."""
    return {
        "local": GitStore(config.data_dir / "repositories"),
        "huggingface": HuggingFaceStore(config.huggingface_endpoint),
    }
