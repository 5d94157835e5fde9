"""What libraries print that a user of the commands should not see (``base.isolation.quiet`` keeps it out)."""

from __future__ import annotations

import re

NOISE = re.compile(
    r"Loading pipeline components|Loading weights|it/s\]|Warning|warnings\.warn|Failed to load|torchvision"
    r"|^[WE]\d{4} \d\d:\d\d",
    re.MULTILINE,
)


def library_noise(output: str) -> list[str]:
    """The lines of ``output`` that a library printed: loading bars, warnings, torch's own log lines."""
    return [line for line in output.splitlines() if NOISE.search(line)]
