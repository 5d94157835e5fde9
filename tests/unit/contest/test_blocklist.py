"""The validator's blocklist: parsed strictly, applied to hotkeys and to the coldkeys that own them."""

from __future__ import annotations

from pathlib import Path

import pytest
from bittensor_core import Keypair

from contest.day.blocklist import Blocklist, BlocklistError
from contest.day.candidates import Candidate
from contest.judging.reasons import ReasonKind

HOTKEY = Keypair.create_from_seed(bytes([0x11]) * 32).ss58_address
OWNER = Keypair.create_from_seed(bytes([0x22]) * 32).ss58_address
OTHER = Keypair.create_from_seed(bytes([0x33]) * 32).ss58_address


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "blocklist.txt"
    path.write_text(text)
    return path


def test_entries_comments_and_blank_lines(tmp_path: Path) -> None:
    path = written(tmp_path, f"# exploiters\n\nhotkey {HOTKEY}\n  coldkey {OWNER}   # and all it owns\n")
    assert Blocklist.read(path) == Blocklist(frozenset({HOTKEY}), frozenset({OWNER}))


def test_no_file_blocks_nothing(tmp_path: Path) -> None:
    assert Blocklist.read(tmp_path / "absent.txt") == Blocklist(frozenset(), frozenset())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"hotkey {HOTKEY}\nuid 3\n", r":2: expected 'hotkey <ss58>' or 'coldkey <ss58>', got 'uid 3'$"),
        (f"hotkey {HOTKEY} {OWNER}\n", r":1: expected 'hotkey <ss58>' or 'coldkey <ss58>'"),
        (f"coldkey {OWNER[:-1]}X\n", r":1: '5\w+X' is not an SS58 address \(invalid ss58 address: Invalid checksum\)$"),
    ],
)
def test_a_line_that_does_not_parse_is_named_with_its_number(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BlocklistError, match=message):
        Blocklist.read(written(tmp_path, text))


def test_blocked_hotkeys_and_owned_hotkeys_are_out_and_the_rest_untouched() -> None:
    candidates = [
        Candidate(HOTKEY, 1, 10, coldkey=OTHER),
        Candidate(OTHER, 2, 11, coldkey=OWNER),
        Candidate(OWNER, 3, 12, coldkey=OTHER),  # a hotkey string equal to a blocked coldkey is not owned by it
        Candidate(OTHER + "-unowned", 4, 13),  # the chain named no owner
        Candidate(HOTKEY + "-out", 5, 14).out(ReasonKind.INVALID_COMMITMENT, "invalid commitment: short"),
    ]
    judged = Blocklist(frozenset({HOTKEY}), frozenset({OWNER})).apply(candidates)
    assert [c.reason.kind if c.reason else None for c in judged] == [
        ReasonKind.BLOCKED, ReasonKind.BLOCKED, None, None, ReasonKind.INVALID_COMMITMENT,
    ]  # fmt: skip
    assert judged[1].reason is not None and judged[1].reason.message == (
        f"blocked: its coldkey {OWNER} is on this validator's blocklist"
    )
    assert judged[2:4] == candidates[2:4]
