"""The embedded chain from the shell: register a hotkey, show the block, list commitments, advance blocks.

    poetry run python -m contest.cli.localnet register --wallet.name alice [--validator]
    poetry run python -m contest.cli.localnet block
    poetry run python -m contest.cli.localnet commitments
    poetry run python -m contest.cli.localnet advance 10
    poetry run python -m contest.cli.localnet open_day

Every command takes ``--data_dir`` (the chain lives in ``<data_dir>/chain.sqlite``, the same file the miner
and validator use with ``--subtensor.network local``) and ``--netuid``. ``register`` creates the wallet's
hotkey without a password when it does not exist yet (a wallet made with ``btcli wallet create`` works
as it is).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bittensor import Wallet

from base.chain import ChainError, LocalChain
from base.chain import commitment as codec
from base.commandline import DEFAULT_WALLET_PATH, absolute_path
from contest.day.opening import move_to_next_opening
from contest.definitions import DEFAULT_CONTEST_ID, get_contest

VALIDATOR_STAKE = 1000.0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data_dir", type=absolute_path, default="data", help="(default: %(default)s)")
    common.add_argument("--netuid", type=int, default=39, help="subnet uid (default: %(default)s)")
    parser = argparse.ArgumentParser(
        prog="python -m contest.cli.localnet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser("register", parents=[common], help="give a wallet's hotkey a uid on the subnet")
    register.add_argument("--wallet.name", dest="wallet_name", required=True)
    register.add_argument("--wallet.hotkey", dest="wallet_hotkey", default="default")
    register.add_argument("--wallet.path", dest="wallet_path", type=absolute_path, default=DEFAULT_WALLET_PATH)
    register.add_argument(
        "--validator", action="store_true", help=f"with a validator permit and {VALIDATOR_STAKE:.0f} stake"
    )
    commands.add_parser("block", parents=[common], help="the current block and its time")
    commands.add_parser("commitments", parents=[common], help="every hotkey's latest commitment on the subnet")
    advance = commands.add_parser(
        "advance", parents=[common], help="produce blocks now instead of waiting 12 s for each"
    )
    advance.add_argument("blocks", type=int)
    open_day = commands.add_parser(
        "open_day",
        parents=[common],
        help="produce blocks up to the contest's next opening: a day opens after what is committed",
    )
    open_day.add_argument("--contest", default=DEFAULT_CONTEST_ID, help="contest id (default: %(default)s)")
    return parser


def _register(chain: LocalChain, args: argparse.Namespace) -> str:
    wallet = Wallet(name=args.wallet_name, hotkey=args.wallet_hotkey, path=str(args.wallet_path))
    created = ""
    if not wallet.coldkeypub_file.exists_on_device():  # the owner a registration names, as on the real chain
        wallet.create_new_coldkey(use_password=False, overwrite=False, suppress=True)
        created = f"created coldkey {wallet.coldkey_file.path} (no password); "
    if not wallet.hotkey_file.exists_on_device():
        wallet.create_new_hotkey(use_password=False, overwrite=False, suppress=True)
        created += f"created hotkey {wallet.hotkey_file.path} (no password); "
    hotkey, coldkey = wallet.hotkey.ss58_address, wallet.coldkeypub.ss58_address
    stake = VALIDATOR_STAKE if args.validator else 0.0
    uid = chain.register(hotkey, args.netuid, stake=stake, validator_permit=args.validator, coldkey=coldkey)
    role = "validator" if args.validator else "miner"
    return f"{created}{hotkey} is uid {uid} on subnet {args.netuid} ({role})"


def _commitments(chain: LocalChain, netuid: int) -> str:
    lines = []
    for entry in chain.commitments(netuid):
        try:
            shown = codec.decode(entry.data)
            what = f"{shown.contest_id} {shown.provider}:{shown.repository}@{shown.revision[:12]}"
        except codec.InvalidCommitment as error:
            what = f"invalid: {error}"
        lines.append(f"block {entry.block:>7}  {entry.hotkey}  {what}")
    return "\n".join(lines) or f"no commitments on subnet {netuid}"


def run(args: argparse.Namespace) -> str:
    chain = LocalChain(args.data_dir / "chain.sqlite")
    if args.command == "register":
        return _register(chain, args)
    if args.command == "commitments":
        return _commitments(chain, args.netuid)
    if args.command == "advance":
        if args.blocks < 1:
            raise ValueError(f"advance needs a positive number of blocks, got {args.blocks}")
        chain.advance(args.blocks)
    if args.command == "open_day":
        move_to_next_opening(chain, get_contest(args.contest))
    block = chain.current_block()
    return f"block {block} at {chain.block_timestamp(block).isoformat(timespec='seconds')}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(run(args), flush=True)
    except (ChainError, ValueError) as error:
        print(f"error: {error}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
