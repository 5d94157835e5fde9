"""Signed leaderboards: a validator signs each leaderboard with its hotkey; anyone can verify a file.

The signed bytes are the leaderboard's JSON without its ``signature`` field, with sorted keys and no
whitespace, so the check does not depend on how the file was indented or which tool re-wrote it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bittensor import Wallet
from bittensor_core import Keypair

from contest.publish.leaderboard import Leaderboard, LeaderboardSignature

SCHEME = "sr25519"


class SignatureInvalid(ValueError):
    """The file was not signed by the hotkey it names, was changed after signing, or is not signed."""


def signed_bytes(document: dict[str, Any]) -> bytes:
    unsigned = {key: value for key, value in document.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(leaderboard: Leaderboard, wallet: Wallet) -> Leaderboard:
    hotkey = wallet.hotkey.ss58_address
    if hotkey != leaderboard.validator_hotkey:
        raise ValueError(f"the leaderboard names validator {leaderboard.validator_hotkey}, not this hotkey {hotkey}")
    signature = wallet.hotkey.sign(signed_bytes(leaderboard.model_dump(mode="json")))
    return leaderboard.model_copy(update={"signature": LeaderboardSignature(scheme=SCHEME, value=signature.hex())})


def verify(document: dict[str, Any], hotkey: str | None = None) -> str:
    """The hotkey that signed ``document`` (a parsed leaderboard file); ``hotkey`` pins who must have."""
    signature = document.get("signature")
    if not isinstance(signature, dict) or signature.get("scheme") != SCHEME:
        raise SignatureInvalid("the leaderboard carries no sr25519 signature")
    signer = document.get("validator_hotkey")
    if not isinstance(signer, str):
        raise SignatureInvalid("the leaderboard names no validator hotkey")
    if hotkey is not None and signer != hotkey:
        raise SignatureInvalid(f"the leaderboard names validator {signer}, not {hotkey}")
    try:
        valid = Keypair(ss58_address=signer).verify(signed_bytes(document), bytes.fromhex(signature["value"]))
    except (TypeError, ValueError) as error:
        raise SignatureInvalid(f"the signature cannot be checked: {error}") from None
    if not valid:
        raise SignatureInvalid(f"the signature does not match: the file was changed or not signed by {signer}")
    return signer


def check_thumbnails(path: Path, leaderboard: Leaderboard) -> None:
    """Refuse thumbnails beside the leaderboard file at ``path`` whose bytes are not the ones it lists (and signs).

    A leaderboard is complete without its pictures, so thumbnails that are not there are not reported.
    """
    folder = path.parent.resolve()
    changed = []
    for thumbnail in leaderboard.all_thumbnails():
        file = (folder / thumbnail.file).resolve()
        present = file.is_relative_to(folder) and file.is_file()
        if present and hashlib.sha256(file.read_bytes()).hexdigest() != thumbnail.sha256:
            changed.append(thumbnail.file)
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise SignatureInvalid(f"the thumbnail {changed[0]}{more} is not the one signed")


def verify_published(path: Path, document: dict[str, Any], leaderboard: Leaderboard, hotkey: str | None = None) -> str:
    """The hotkey that signed ``document`` (the file at ``path``, parsed as ``leaderboard``) and its thumbnails."""
    signer = verify(document, hotkey)
    check_thumbnails(path, leaderboard)
    return signer


def verify_file(path: Path, hotkey: str | None = None) -> str:
    document = json.loads(path.read_text(encoding="utf-8"))
    return verify_published(path, document, Leaderboard.model_validate(document), hotkey)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contest.publish.signature", description="Verify a signed leaderboard."
    )
    parser.add_argument("leaderboard", type=Path, help="a leaderboard JSON file")
    parser.add_argument("--hotkey", help="the validator hotkey (ss58) that must have signed it")
    args = parser.parse_args(argv)
    try:
        signer = verify_file(args.leaderboard, args.hotkey)
    except (OSError, ValueError, SignatureInvalid) as error:
        print(f"error: {args.leaderboard}: {error}")
        return 1
    print(f"ok: {args.leaderboard} is signed by {signer}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
