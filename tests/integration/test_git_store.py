from pathlib import Path

import pytest

from base.stores import GitStore, OverSizeCap, StoreError


def make_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def test_push_then_fetch_exact_revisions(tmp_path: Path) -> None:
    store = GitStore(tmp_path / "store")
    first = store.push(make_folder(tmp_path / "v1", {"a.json": b"1", "unet/w.safetensors": b"x" * 100}), "me/m", "v1")
    second = store.push(make_folder(tmp_path / "v2", {"a.json": b"2"}), "me/m", "v2")
    assert first != second and len(first) == 40
    assert store.head_revision("me/m") == second
    old = store.fetch("me/m", first, tmp_path / "out1", max_bytes=10_000)
    assert (old / "a.json").read_bytes() == b"1"
    assert (old / "unet" / "w.safetensors").stat().st_size == 100
    new = store.fetch("me/m", second, tmp_path / "out2", max_bytes=10_000)
    assert sorted(p.name for p in new.rglob("*")) == ["a.json"]  # deletions are part of a push


def test_size_cap_refuses_before_copying(tmp_path: Path) -> None:
    store = GitStore(tmp_path / "store")
    revision = store.push(make_folder(tmp_path / "v", {"big.safetensors": b"x" * 5000}), "me/big", "big")
    assert store.size("me/big", revision) == 5000
    with pytest.raises(OverSizeCap, match="over the cap of 1000"):
        store.fetch("me/big", revision, tmp_path / "out", max_bytes=1000)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("repository", "revision", "message"),
    [
        ("me/missing", "0" * 40, "does not exist"),
        ("me/m", "f" * 40, "revision f+ does not exist"),
        ("me/m", "main", "full commit sha"),
        ("../etc", "0" * 40, "bad repository name"),
    ],
)
def test_bad_references_are_clear_errors(tmp_path: Path, repository: str, revision: str, message: str) -> None:
    store = GitStore(tmp_path / "store")
    store.push(make_folder(tmp_path / "v", {"a.json": b"1"}), "me/m", "v1")
    with pytest.raises(StoreError, match=message):
        store.fetch(repository, revision, tmp_path / "out", max_bytes=10_000)
