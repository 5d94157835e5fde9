"""The Hugging Face store with the real huggingface_hub client against local Hub-compatible servers.

Downloads come from olah serving git repositories; uploads go through ``UploadHub``, which commits
into those repositories and records every request.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from base.retry import RetryPolicy
from base.stores import HuggingFaceStore, OverSizeCap, StoreError, folder_digest
from tests.support.hub_servers import free_port, olah_mirror, upload_hub

QUICK = RetryPolicy(attempts=2, first_wait_s=0.001)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hub")
    with olah_mirror(root) as (mirror_url, mirrors), upload_hub(mirrors, mirror_url) as hub:
        hub.mirror_url = mirror_url
        yield hub


def checkpoint(folder: Path, unet: bytes, extra: str | None = None) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(unet)
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    if extra is not None:
        (folder / "notes.json").write_text(extra)
    return folder


def test_push_then_fetch_the_exact_revision(hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_the_environment")
    miner = HuggingFaceStore(hub.url, retry=QUICK)
    first = checkpoint(tmp_path / "first", b"\x01" * 4000, extra="{}")
    first_revision = miner.push(first, "alice/fast", "first")
    assert miner.head_revision("alice/fast") == first_revision
    second = checkpoint(tmp_path / "second", b"\x02" * 5000)
    second_revision = miner.push(second, "alice/fast", "second")
    assert second_revision != first_revision and miner.head_revision("alice/fast") == second_revision

    uploads = [r for r in hub.requests if r.method == "POST"]
    assert [r.path.split("/")[-2] for r in uploads] == ["repos", "preupload", "commit"] * 2
    assert {r.authorization for r in uploads} == {"Bearer hf_from_the_environment"}

    validator = HuggingFaceStore(hub.mirror_url, retry=QUICK)
    old = validator.fetch("alice/fast", first_revision, tmp_path / "cache" / "old", max_bytes=10**6)
    new = validator.fetch("alice/fast", second_revision, tmp_path / "cache" / "new", max_bytes=10**6)
    assert folder_digest(old) == folder_digest(first) and folder_digest(new) == folder_digest(second)
    assert (old / "notes.json").exists() and not (new / "notes.json").exists()
    assert not (new / ".cache").exists()
    assert validator.size("alice/fast", second_revision) == sum(
        path.stat().st_size for path in new.rglob("*") if path.is_file()
    )


def test_a_new_repository_stays_private_until_published(hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files anyone could read before the miner's commitment lands, anyone could commit first and own."""
    monkeypatch.setenv("HF_TOKEN", "hf_miner")
    miner = HuggingFaceStore(hub.url, retry=QUICK)
    revision = miner.push(checkpoint(tmp_path / "model", b"\x05" * 3000), "carol/secret", "first")
    monkeypatch.delenv("HF_TOKEN")
    anyone = HuggingFaceStore(hub.url, retry=QUICK)
    with pytest.raises(StoreError, match=r"carol/secret does not exist .* \(or is private\)"):
        anyone.fetch("carol/secret", revision, tmp_path / "copied", max_bytes=10**6)
    assert not (tmp_path / "copied").exists()
    monkeypatch.setenv("HF_TOKEN", "hf_miner")
    miner.publish("carol/secret")
    monkeypatch.delenv("HF_TOKEN")
    fetched = anyone.fetch("carol/secret", revision, tmp_path / "fetched", max_bytes=10**6)
    assert folder_digest(fetched) == folder_digest(tmp_path / "model")


def test_over_the_cap_is_refused_before_any_file_is_downloaded(hub, tmp_path: Path) -> None:
    revision = hub.push_public(checkpoint(tmp_path / "big", b"\x03" * 20_000), "alice/big", "big")
    before = len(hub.requests)
    with pytest.raises(OverSizeCap, match=r"alice/big@\w{12} is \d+ bytes, over the cap of 10000"):
        HuggingFaceStore(hub.url, retry=QUICK).fetch("alice/big", revision, tmp_path / "cache" / "big", 10_000)
    assert not any("/resolve/" in r.path for r in hub.requests[before:])
    assert not (tmp_path / "cache" / "big").exists()


def test_missing_repository_and_revision_name_the_cause(hub, tmp_path: Path) -> None:
    revision = hub.push_public(checkpoint(tmp_path / "one", b"\x04" * 100), "alice/one", "one")
    validator = HuggingFaceStore(hub.mirror_url, retry=QUICK)
    with pytest.raises(StoreError, match=r"^repository alice/absent does not exist on http"):
        validator.fetch("alice/absent", revision, tmp_path / "x", 10**6)
    with pytest.raises(StoreError, match=r"^revision 0{40} is not available in alice/one"):
        validator.fetch("alice/one", "0" * 40, tmp_path / "x", 10**6)
    with pytest.raises(StoreError, match="revision must be a full commit sha, got 'main'"):
        validator.fetch("alice/one", "main", tmp_path / "x", 10**6)
    with pytest.raises(StoreError, match=r"^repository alice/absent does not exist"):
        HuggingFaceStore(hub.url, retry=QUICK).head_revision("alice/absent")
    assert not (tmp_path / "x").exists()


def test_unreachable_hub_is_one_line() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError) as raised:
        HuggingFaceStore(endpoint, retry=QUICK).head_revision("alice/fast")
    assert str(raised.value).startswith(f"reading alice/fast: cannot reach {endpoint}: ")
    assert "\n" not in str(raised.value)


def test_allow_patterns_count_and_download_only_the_matching_files(hub, tmp_path: Path) -> None:
    folder = checkpoint(tmp_path / "mixed", b"\x05" * 3000)
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04" * 20_000)
    revision = hub.push_public(folder, "alice/mixed", "mixed")
    validator = HuggingFaceStore(hub.url, retry=QUICK)
    wanted = ["*.json", "*.safetensors"]
    assert validator.size("alice/mixed", revision) > 40_000  # the whole revision is far over the 5000 cap below
    before = len(hub.requests)
    fetched = validator.fetch("alice/mixed", revision, tmp_path / "cache" / "mixed", 5_000, allow_patterns=wanted)
    files = sorted(path.relative_to(fetched).as_posix() for path in fetched.rglob("*") if path.is_file())
    assert files == ["model_index.json", "unet/diffusion_pytorch_model.safetensors"]
    assert not any(r.path.endswith((".bin", ".gitattributes")) for r in hub.requests[before:])

    with pytest.raises(OverSizeCap, match=r"alice/mixed@\w{12} is \d+ bytes, over the cap of 3000"):
        validator.fetch("alice/mixed", revision, tmp_path / "cache" / "small", 3_000, allow_patterns=wanted)
    with pytest.raises(StoreError, match=r"has no files matching \['\*\.onnx'\]"):
        validator.fetch("alice/mixed", revision, tmp_path / "cache" / "none", 10**6, allow_patterns=["*.onnx"])
    assert sorted(path.name for path in (tmp_path / "cache").iterdir()) == ["mixed"]
