"""Pick the chain and the stores from the flags; the embedded default needs nothing outside the machine."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from base.chain import BittensorChain, Chain, LocalChain, resolve
from base.commandline.config import NetworkConfig
from base.stores import GitStore, HuggingFaceStore, Store

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
