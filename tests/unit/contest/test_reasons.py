"""A reason quotes what a miner chose; what it publishes is bounded and can only be read, never acted on."""

from __future__ import annotations

from contest.judging.reasons import MAX_MESSAGE_CHARS, Reason, ReasonKind


def test_characters_a_terminal_or_a_page_would_act_on_are_written_as_their_escapes() -> None:
    quoted = "unet/x\x9b2J\x1b[1;1H\u202eTOP 1.0\nweight\u2028é.bin"
    reason = Reason(ReasonKind.REFUSED, f"refused: {quoted}: pickle files are not accepted")
    assert reason.message == (
        "refused: unet/x\\x9b2J\\x1b[1;1H\\u202eTOP 1.0\\nweight\\u2028é.bin: pickle files are not accepted"
    )
    assert reason.message.isprintable()
    assert Reason(reason.kind, reason.message) == reason  # read back from the state, it is the same reason


def test_a_long_message_is_cut_after_its_escapes_are_written() -> None:
    reason = Reason(ReasonKind.FAILED, "\x00" * MAX_MESSAGE_CHARS)
    assert len(reason.message) == MAX_MESSAGE_CHARS and reason.message.endswith("...")
    assert reason.message.startswith("\\x00\\x00")
