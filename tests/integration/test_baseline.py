"""The baseline: pinned to a commit and fetched through the store code, with the real huggingface_hub client.

Repositories are served by olah (through ``UploadHub``, which records every request); the contest is
the real SDXL one pointed at a repository on that local hub.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path, PurePosixPath

import pytest

from base.names import is_revision
from base.retry import RetryPolicy
from base.stores import GitStore, HuggingFaceStore, OverSizeCap, folder_digest
from contest.baseline import BASELINE_FILES, ensure_baseline, ensure_image_encoder, ensure_models
from contest.definitions import CONTESTS, Contest, ModelReference, get_contest
from tests.support.hub_servers import free_port, olah_mirror, upload_hub

QUICK = RetryPolicy(attempts=2, first_wait_s=0.001)
PICKLE = "unet/diffusion_pytorch_model.bin"
ALLOWED = {
    "model_index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hub")
    with olah_mirror(root) as (mirror_url, mirrors), upload_hub(mirrors, mirror_url) as hub:
        yield hub


def baseline_folder(folder: Path, unet: bytes) -> Path:
    """A diffusers-shaped repository that also holds a pickle, as many Hub repositories do."""
    shutil.rmtree(folder, ignore_errors=True)
    files = {name: b"{}" for name in ALLOWED if name.endswith(".json")}
    files |= {"tokenizer/merges.txt": b"#version: 0.2\n", "unet/diffusion_pytorch_model.safetensors": unet}
    files[PICKLE] = b"\x80\x04" + b"\x00" * 50_000
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def allowed_bytes(folder: Path) -> int:
    return sum((folder / name).stat().st_size for name in ALLOWED)


def not_the_pickle(path: PurePosixPath) -> bool:
    return str(path) != PICKLE


def files_in(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def sdxl_contest(repository: str, revision: str, max_bytes: int) -> Contest:
    reference = ModelReference(source="huggingface", repository=repository, revision=revision)
    return dataclasses.replace(get_contest("sdxl-newdream-20"), baseline=reference, max_checkpoint_bytes=max_bytes)


def downloads(hub, since: int) -> list[str]:
    return [request.path for request in hub.requests[since:] if "/resolve/" in request.path]


@pytest.fixture(scope="module")
def pinned(hub, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """``newdream/base`` pinned at its first commit, whose ``main`` has since moved on; returns (revision, content)."""
    root = tmp_path_factory.mktemp("pinned")
    miner = HuggingFaceStore(hub.url, token="hf_test", retry=QUICK)
    first = baseline_folder(root / "first", b"\x01" * 4000)
    revision = miner.push(first, "newdream/base", "first")
    moved = miner.push(baseline_folder(root / "second", b"\x02" * 6000), "newdream/base", "second")
    assert moved != revision and miner.head_revision("newdream/base") == moved
    miner.publish("newdream/base")
    return revision, first


def test_the_baseline_is_the_pinned_commit_even_after_main_moved_on(hub, pinned, tmp_path: Path) -> None:
    revision, first = pinned
    contest = sdxl_contest("newdream/base", revision, max_bytes=allowed_bytes(first) + 100)  # the pickle would not fit
    folder = ensure_baseline(contest, tmp_path, HuggingFaceStore(hub.url, retry=QUICK))
    assert folder == tmp_path / "baselines" / f"sdxl-newdream-20-{revision[:12]}"
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == b"\x01" * 4000
    assert folder_digest(folder) == folder_digest(first, include=not_the_pickle)


def test_a_pickle_in_the_baseline_repository_is_never_downloaded(hub, pinned, tmp_path: Path) -> None:
    revision, _ = pinned
    before = len(hub.requests)
    folder = ensure_baseline(sdxl_contest("newdream/base", revision, 10**6), tmp_path, HuggingFaceStore(hub.url))
    assert files_in(folder) == ALLOWED  # neither the pickle, nor .gitattributes, nor huggingface_hub's .cache
    fetched = downloads(hub, before)
    assert fetched and not any(path.endswith(PICKLE) for path in fetched)
    assert [path.name for path in (tmp_path / "baselines").iterdir()] == [folder.name]


def test_over_the_cap_fails_before_any_download_and_leaves_no_folder(hub, pinned, tmp_path: Path) -> None:
    revision, first = pinned
    cap = allowed_bytes(first) - 1
    before = len(hub.requests)
    with pytest.raises(OverSizeCap) as raised:
        ensure_baseline(sdxl_contest("newdream/base", revision, cap), tmp_path, HuggingFaceStore(hub.url, retry=QUICK))
    message = str(raised.value)
    assert message == f"newdream/base@{revision[:12]} is {allowed_bytes(first)} bytes, over the cap of {cap}"
    assert downloads(hub, before) == []
    assert list((tmp_path / "baselines").iterdir()) == []


@pytest.mark.parametrize("revision", ["main", "4bdd502bca7a", None])
def test_a_baseline_not_pinned_to_a_commit_is_refused(revision: str | None, tmp_path: Path) -> None:
    dead = HuggingFaceStore(f"http://127.0.0.1:{free_port()}", retry=QUICK)
    with pytest.raises(
        ValueError, match=r"contest 'sdxl-newdream-20': baseline newdream/base must be pinned"
    ) as raised:
        ensure_baseline(sdxl_contest("newdream/base", revision, 10**6), tmp_path, dead)
    assert f"got revision {revision!r}" in str(raised.value)
    assert not (tmp_path / "baselines").exists()


def test_a_second_call_reuses_the_cached_baseline_without_the_hub(hub, pinned, tmp_path: Path) -> None:
    revision, _ = pinned
    contest = sdxl_contest("newdream/base", revision, 10**6)
    folder = ensure_baseline(contest, tmp_path, HuggingFaceStore(hub.url, retry=QUICK))
    digest = folder_digest(folder)
    before = len(hub.requests)
    gone = HuggingFaceStore(f"http://127.0.0.1:{free_port()}", retry=QUICK)  # nothing listens there
    assert ensure_baseline(contest, tmp_path, gone) == folder
    assert hub.requests[before:] == [] and folder_digest(folder) == digest


def test_the_git_store_honours_the_same_patterns_and_counts_the_cap_over_them(tmp_path: Path) -> None:
    store = GitStore(tmp_path / "store")
    folder = baseline_folder(tmp_path / "repo", b"\x03" * 4000)
    revision = store.push(folder, "newdream/base", "first")
    assert store.size("newdream/base", revision) > allowed_bytes(folder) + 50_000  # the pickle counts without patterns
    fetched = store.fetch("newdream/base", revision, tmp_path / "out", allowed_bytes(folder), BASELINE_FILES)
    assert files_in(fetched) == ALLOWED
    assert folder_digest(fetched) == folder_digest(folder, include=not_the_pickle)
    with pytest.raises(OverSizeCap, match=rf"^newdream/base@{revision[:12]} is \d+ bytes, over the cap of 100$"):
        store.fetch("newdream/base", revision, tmp_path / "refused", 100, BASELINE_FILES)
    assert not (tmp_path / "refused").exists()


def test_every_hugging_face_model_of_a_contest_is_pinned_to_a_full_commit_sha() -> None:
    models = [
        (contest.id, reference)
        for contest in CONTESTS.values()
        for reference in (contest.baseline, contest.similarity.image_encoder)
        if reference.source == "huggingface"
    ]
    assert len(models) >= 2, "the SDXL contest's baseline and image encoder live on Hugging Face"
    for contest_id, reference in models:
        assert reference.repository and is_revision(reference.revision or ""), (contest_id, reference)


def test_the_image_encoder_is_fetched_pinned_like_the_baseline(hub, pinned, tmp_path: Path) -> None:
    revision, first = pinned
    contest = sdxl_contest("newdream/base", revision, 10**6)
    gate = dataclasses.replace(
        contest.similarity, image_encoder=ModelReference("huggingface", repository="newdream/base", revision=revision)
    )
    folder = ensure_image_encoder(dataclasses.replace(contest, similarity=gate), tmp_path, HuggingFaceStore(hub.url))
    assert folder == tmp_path / "image-encoders" / f"sdxl-newdream-20-{revision[:12]}"
    assert files_in(folder) == ALLOWED and folder_digest(folder) == folder_digest(first, include=not_the_pickle)
    unpinned = dataclasses.replace(gate, image_encoder=ModelReference("huggingface", repository="openai/clip"))
    with pytest.raises(ValueError, match=r"'sdxl-newdream-20': image encoder openai/clip must be pinned"):
        ensure_image_encoder(dataclasses.replace(contest, similarity=unpinned), tmp_path, HuggingFaceStore(hub.url))


def test_the_embedded_default_builds_both_models_offline(tmp_path: Path) -> None:
    models = ensure_models(get_contest("tiny-sdxl-cpu"), tmp_path)  # no store: nothing is fetched
    assert models.baseline == tmp_path / "baselines" / "tiny-sdxl-cpu"
    assert models.image_encoder == tmp_path / "image-encoders" / "tiny-sdxl-cpu"
    assert {"config.json", "preprocessor_config.json", "model.safetensors"} <= files_in(models.image_encoder)
