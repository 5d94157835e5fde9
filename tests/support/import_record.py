"""Writes the id of each process that imports it to ``$TMPDIR/imported-by``: one line per import."""

import os
from pathlib import Path

with (Path(os.environ["TMPDIR"]) / "imported-by").open("a", encoding="utf-8") as record:
    record.write(f"{os.getpid()}\n")
