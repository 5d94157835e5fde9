"""The manifest's key table in docs/checkpoints.md, written from the manifest's models.

Each key's values and default come from its type and bounds, its meaning from its field's description, so
the table cannot drift from what the loader accepts.

    python -m tools.manifest_table          # rewrite the table in docs/checkpoints.md
    python -m tools.manifest_table --check  # exit 1, naming the file, when the table differs from the models
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pipelines.manifest import Manifest

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "checkpoints.md"
START = "<!-- the manifest's keys: written by python -m tools.manifest_table -->"
END = "<!-- end of the manifest's keys -->"
SECTIONS = ("torch", "generation", "caching", "onnx")


def _without_none(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        kept = [arg for arg in get_args(annotation) if arg is not type(None)]
        return kept[0], len(kept) < len(get_args(annotation))
    return annotation, False


def _bounds(info: FieldInfo) -> str:
    parts = []
    for bound in info.metadata:
        if isinstance(bound, Ge):
            parts.append(f"from {bound.ge}")
        elif isinstance(bound, Gt):
            parts.append(f"above {bound.gt}")
        elif isinstance(bound, Le):
            parts.append(f"up to {bound.le}")
        elif isinstance(bound, Lt):
            parts.append(f"below {bound.lt}")
    return ", ".join(parts)


def _json(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return f'"{value}"' if isinstance(value, str) else str(value)


def _values(annotation: Any, info: FieldInfo, inline: bool = False) -> str:
    """What a key takes, in words; ``inline``: inside an object's braces."""
    kind, nullable = _without_none(annotation)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        members = ", ".join(f'"{name}": {_member(field)}' for name, field in kind.model_fields.items())
        text = f"`{{{members}}}`"
    elif get_origin(kind) is Literal:
        text = " \\| ".join(_json(v) for v in get_args(kind)) if inline else ", ".join(f"`{v}`" for v in get_args(kind))
    elif get_origin(kind) is tuple:
        (item,) = get_args(kind)[:1]
        text = "a list of " + ", ".join(f"`{v}`" for v in get_args(item))
    elif kind is bool:
        text = "true \\| false" if inline else "`true`, `false`"
    elif kind in (int, float):
        text = _bounds(info) or kind.__name__
    else:
        text = "a path inside the checkpoint's folder"
    return f"{text}, or `null`" if nullable and not inline else text


def _member(info: FieldInfo) -> str:
    return f"{_values(info.annotation, info, inline=True)} ({_json(info.default)})"


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return ""
    default = info.default
    if isinstance(default, tuple):
        return " (none)" if not default else " (" + ", ".join(f"`{item}`" for item in default) + ")"
    return f" (`{default if isinstance(default, str) else _json(default)}`)"


def _row(key: str, info: FieldInfo) -> str:
    return f"| `{key}` | {_values(info.annotation, info)}{_default(info)} | {info.description or ''} |"


def table() -> str:
    rows = ["| key | values (default) | what it does |", "|---|---|---|"]
    rows.append(_row("runtime", Manifest.model_fields["runtime"]))
    for section in SECTIONS:
        model, _ = _without_none(Manifest.model_fields[section].annotation)
        for name, info in model.model_fields.items():
            rows.append(_row(f"{section}.{name}", info))
    return "\n".join(rows)


def with_table(document: str) -> str:
    before, start, rest = document.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"{DOCUMENT} lacks the markers around the manifest's keys")
    return f"{before}{START}\n{table()}\n{END}{after}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only say whether the table is as the models say")
    args = parser.parse_args()
    document = DOCUMENT.read_text(encoding="utf-8")
    written = with_table(document)
    if args.check:
        if written != document:
            print(
                f"{DOCUMENT}: the manifest's keys differ from pipelines/manifest.py: run python -m tools.manifest_table"
            )
            return 1
        return 0
    DOCUMENT.write_text(written, encoding="utf-8")
    print(f"wrote the manifest's keys in {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
