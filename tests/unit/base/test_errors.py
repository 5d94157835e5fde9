"""The one line of an error a user sees."""

import pytest

from base.errors import first_line


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (ValueError("bad value\nTraceback (most recent call last): ..."), "bad value"),
        (RuntimeError("\n  leading blank lines\nsecond"), "leading blank lines"),
        (KeyError(), "KeyError"),  # an empty message: the caller's reason never ends up empty or raises
        (OSError("   "), "OSError"),
    ],
)
def test_first_line(error: BaseException, line: str) -> None:
    assert first_line(error) == line
