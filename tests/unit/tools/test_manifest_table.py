from __future__ import annotations

from pydantic import Field

from pipelines.manifest import DeepCacheOptions, Manifest
from tools import manifest_table


def test_the_document_holds_the_table_the_models_give() -> None:
    document = manifest_table.DOCUMENT.read_text(encoding="utf-8")
    assert manifest_table.with_table(document) == document, "run python -m tools.manifest_table"


def test_every_key_the_loader_takes_has_a_row_with_what_it_does() -> None:
    rows = {row.split(" | ")[0].strip("| `"): row for row in manifest_table.table().splitlines()[2:]}
    sections = [name for name in Manifest.model_fields if name not in ("format_version", "runtime")]
    expected = {"runtime"} | {
        f"{section}.{key}"
        for section in sections
        for key in manifest_table._without_none(Manifest.model_fields[section].annotation)[0].model_fields
    }
    assert set(rows) == expected
    assert all(not row.endswith("|  |") for row in rows.values())  # each says what it does


def test_a_bound_and_a_default_read_as_the_loader_applies_them(monkeypatch) -> None:
    row = next(line for line in manifest_table.table().splitlines() if line.startswith("| `caching.deepcache`"))
    assert '"interval": from 2, up to 10 (3)' in row and row.split(" | ")[1].endswith("or `null` (`null`)")
    narrower = Field(default=4, ge=3, le=6)
    fields = dict(DeepCacheOptions.model_fields)
    fields["interval"] = narrower
    fields["interval"].annotation = int
    monkeypatch.setattr(DeepCacheOptions, "model_fields", fields)
    row = next(line for line in manifest_table.table().splitlines() if line.startswith("| `caching.deepcache`"))
    assert '"interval": from 3, up to 6 (4)' in row
