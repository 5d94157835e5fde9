"""Command-line flags both roles share (the Bittensor standard ones plus the contest's), and logging."""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bittensor import Wallet

from base.commandline.paths import absolute_path
from base.isolation import quiet

TRACE = 5
DEFAULT_WALLET_PATH = "~/.bittensor/wallets"


@dataclass(frozen=True)
class NetworkConfig:
    network: str
    chain_endpoint: str | None
    netuid: int
    data_dir: Path
    store: str
    huggingface_endpoint: str | None

    @property
    def embedded_chain(self) -> bool:
        """``--subtensor.network local`` without an endpoint is the chain in ``data_dir``, not a node."""
        return self.network == "local" and self.chain_endpoint is None


def add_common_flags(parser: argparse.ArgumentParser, default_contest: str) -> None:
    parser.add_argument("--contest", default=default_contest, help="contest id (default: %(default)s)")
    parser.add_argument("--netuid", type=int, default=39, help="subnet uid (default: %(default)s)")
    parser.add_argument(
        "--subtensor.network",
        dest="network",
        default="local",
        help="finney, test, local (the embedded chain) or a ws:// endpoint (default: %(default)s)",
    )
    parser.add_argument(
        "--subtensor.chain_endpoint",
        dest="chain_endpoint",
        default=None,
        help="a subtensor node's ws:// endpoint; with it, 'local' means that node instead of the embedded chain",
    )
    parser.add_argument("--wallet.name", dest="wallet_name", default="default")
    parser.add_argument("--wallet.hotkey", dest="wallet_hotkey", default="default")
    parser.add_argument("--wallet.path", dest="wallet_path", type=absolute_path, default=DEFAULT_WALLET_PATH)
    parser.add_argument(
        "--store",
        choices=("huggingface", "local"),
        default=None,
        help="where the miner pushes: Hugging Face, or git repositories in data_dir "
        "(default: local on the embedded chain, huggingface otherwise)",
    )
    parser.add_argument(
        "--huggingface.endpoint",
        dest="huggingface_endpoint",
        default=os.environ.get("HF_ENDPOINT"),
        help="Hugging Face Hub address (default: $HF_ENDPOINT, else the public Hub); the token comes from "
        "$HF_TOKEN or `hf auth login`",
    )
    parser.add_argument(
        "--data_dir",
        type=absolute_path,
        default="data",
        help="embedded chain, local repositories, caches and leaderboards (default: %(default)s)",
    )
    parser.add_argument("--logging.debug", dest="debug", action="store_true")
    parser.add_argument("--logging.trace", dest="trace", action="store_true")


def network_config(args: argparse.Namespace) -> NetworkConfig:
    embedded = args.network == "local" and args.chain_endpoint is None
    store = args.store or ("local" if embedded else "huggingface")
    return NetworkConfig(
        args.network, args.chain_endpoint, args.netuid, args.data_dir, store, args.huggingface_endpoint
    )


def configure_logging(args: argparse.Namespace) -> None:
    logging.addLevelName(TRACE, "TRACE")
    level = TRACE if args.trace else logging.DEBUG if args.debug else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.debug or args.trace:
        os.environ[quiet.DEBUG_VARIABLE] = "1"  # the workers started from here print everything too
    else:
        quiet.quiet_this_process()


def load_wallet(args: argparse.Namespace) -> Wallet:
    """The hotkey must already exist (``btcli wallet new_hotkey``); say so in one line if it does not."""
    wallet = Wallet(name=args.wallet_name, hotkey=args.wallet_hotkey, path=str(args.wallet_path))
    if not wallet.hotkey_file.exists_on_device():
        raise SystemExit(f"error: hotkey file {wallet.hotkey_file.path} does not exist (create the wallet first)")
    return wallet
