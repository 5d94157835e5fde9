from base.commandline.config import (
    DEFAULT_WALLET_PATH,
    NetworkConfig,
    add_common_flags,
    configure_logging,
    load_wallet,
    network_config,
)
from base.commandline.network import ChainOpener, open_chain, open_stores
from base.commandline.paths import absolute_path

__all__ = [
    "DEFAULT_WALLET_PATH",
    "ChainOpener",
    "NetworkConfig",
    "absolute_path",
    "add_common_flags",
    "configure_logging",
    "load_wallet",
    "network_config",
    "open_chain",
    "open_stores",
]
