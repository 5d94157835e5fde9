"""Validator entry:

    poetry run python validator/validator.py [--once] --netuid N --subtensor.network NET \\
        --wallet.name W --wallet.hotkey H

A run holds the data folder's lock (``base.isolation.folder_lock``) for the life of the process, taken before
anything is written there: a second validator on the same folder says which process holds it and exits
with status 1. ``status`` only reads, so it takes no lock and works beside a running validator.

The workers' server imports this script as the program's main module (``base.isolation.worker``), so the command
itself is imported only when the script runs: the server then spends its start on the runtimes alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from base.isolation import FolderLocked, hold_folder_lock


def main(argv: Sequence[str] | None = None) -> int:
    from contest.cli.validating import build_parser
    from contest.cli.validating import main as validate

    args = build_parser().parse_args(argv)
    if args.command == "status":
        return validate(argv)
    try:
        lock = hold_folder_lock(args.data_dir)
    except FolderLocked as error:
        print(f"error: {error}", flush=True)
        return 1
    try:
        return validate(argv)
    finally:
        lock.release()


if __name__ == "__main__":
    raise SystemExit(main())
