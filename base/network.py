"""Pick the chain and the stores from the flags; the embedded default needs nothing outside the machine."""

from __future__ import annotations

from collections.abc import Mapping

from base.chain import Chain, ChainError
from base.config import NetworkConfig
from base.git_store import GitStore
from base.local_chain import LocalChain
from base.store import Store


def open_chain(config: NetworkConfig) -> Chain:
    if config.network == "local" and config.chain_endpoint is None:
        return LocalChain(config.data_dir / "chain.sqlite")
    raise ChainError(f"network {config.network!r}: only the embedded 'local' chain is available in this version")


def open_stores(config: NetworkConfig) -> Mapping[str, Store]:
    return {"local": GitStore(config.data_dir / "repositories")}
