"""One line of an error for a user: reasons and log lines show the first line, never a traceback."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of the error's message; its type's name when the message is empty."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
