"""Keys this validator will not judge: a file of hotkeys and coldkeys, read at each day's opening.

One entry per line, ``hotkey <ss58>`` or ``coldkey <ss58>`` (a coldkey blocks every hotkey it owns on the
subnet, as the chain had it at the opening); ``#`` starts a comment. A blocked submission is out, with its
own reason, before anything of it is downloaded. A file that does not parse stops the day with the line it
cannot read: a blocklist half applied would judge what the operator meant to exclude.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bittensor_core import Keypair

from contest.day.candidates import Candidate
from contest.judging.reasons import ReasonKind

MAX_BLOCKLIST_BYTES = 1024 * 1024
KINDS = ("hotkey", "coldkey")


class BlocklistError(ValueError):
    """The blocklist file cannot be read; the message names the line."""


@dataclass(frozen=True)
class Blocklist:
    hotkeys: frozenset[str] = frozenset()
    coldkeys: frozenset[str] = frozenset()

    @classmethod
    def read(cls, path: Path) -> Blocklist:
        """The file's entries; an empty blocklist where there is no file."""
        if not path.exists():
            return cls()
        if path.stat().st_size > MAX_BLOCKLIST_BYTES:
            raise BlocklistError(f"{path} is over {MAX_BLOCKLIST_BYTES} bytes")
        entries: dict[str, set[str]] = {kind: set() for kind in KINDS}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) != 2 or words[0] not in KINDS:
                raise BlocklistError(f"{path}:{number}: expected 'hotkey <ss58>' or 'coldkey <ss58>', got {line!r}")
            try:
                Keypair(ss58_address=words[1])
            except ValueError as error:
                raise BlocklistError(f"{path}:{number}: {words[1]!r} is not an SS58 address ({error})") from None
            entries[words[0]].add(words[1])
        return cls(frozenset(entries["hotkey"]), frozenset(entries["coldkey"]))

    def apply(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """Each living candidate whose hotkey or owner is listed, out as ``blocked``."""
        return [self._judged(candidate) if candidate.alive else candidate for candidate in candidates]

    def _judged(self, candidate: Candidate) -> Candidate:
        if candidate.hotkey in self.hotkeys:
            return candidate.out(ReasonKind.BLOCKED, "blocked: its hotkey is on this validator's blocklist")
        if candidate.coldkey and candidate.coldkey in self.coldkeys:
            return candidate.out(
                ReasonKind.BLOCKED, f"blocked: its coldkey {candidate.coldkey} is on this validator's blocklist"
            )
        return candidate
