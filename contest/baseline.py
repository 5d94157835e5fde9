"""The contest's baseline checkpoint, materialised once in a cache folder.

A Hugging Face baseline is pinned to a full commit sha and fetched through the store code, so every
validator judges against the same files whenever it downloads them, with the same size cap and
retries as a submission, and never downloads the pickles a repository may also hold.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from base.huggingface_store import HuggingFaceStore
from base.store import Store, is_revision
from contest.definitions import Contest

BASELINE_FILES = ("*.json", "*.txt", "*.safetensors")  # configs, tokenizer vocabularies, weights: never pickles


def ensure_baseline(contest: Contest, cache_dir: Path, store: Store | None = None) -> Path:
    """Return the baseline folder, building or fetching it on first use; a half-built folder is never left behind.

    ``store`` fetches a Hugging Face baseline: the validator's or the miner's own Hugging Face store (default
    ``HuggingFaceStore()``, reading ``HF_ENDPOINT`` and ``HF_TOKEN``). A cached baseline is returned without
    contacting it. A ``StoreError`` propagates.
    """
    check_pinned(contest)
    destination = cache_dir / "baselines" / _folder_name(contest)
    if destination.is_dir():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".building-") as scratch:
        staged = Path(scratch) / "checkpoint"
        _materialise(contest, staged, store)
        try:
            staged.rename(destination)
        except OSError:
            if not destination.is_dir():  # lost a race to another builder, which is fine
                raise
    return destination


def check_pinned(contest: Contest) -> None:
    """Refuse a Hugging Face baseline not pinned to a commit: a branch would let validators judge differently."""
    reference = contest.baseline
    if reference.source != "huggingface":
        return
    if not reference.repository:
        raise ValueError(f"contest {contest.id!r}: its Hugging Face baseline names no repository")
    if reference.revision is None or not is_revision(reference.revision):
        raise ValueError(
            f"contest {contest.id!r}: baseline {reference.repository} must be pinned to a full 40-hex commit sha, "
            f"got revision {reference.revision!r} (a branch moves, so validators would judge different baselines)"
        )


def _folder_name(contest: Contest) -> str:
    """A pinned revision is part of the name, so a changed pin never reuses a stale baseline."""
    reference = contest.baseline
    if reference.source == "huggingface":
        return f"{contest.id}-{reference.revision[:12]}"
    return contest.id


def _materialise(contest: Contest, staged: Path, store: Store | None) -> None:
    reference = contest.baseline
    if reference.source == "tiny-sdxl":
        from pipelines.tiny_sdxl import save_tiny_sdxl  # diffusers loads only when a build is needed

        save_tiny_sdxl(staged, seed=reference.seed, image_size=contest.generation.width)
        return
    store = store if store is not None else HuggingFaceStore()
    store.fetch(
        reference.repository, reference.revision, staged, contest.max_checkpoint_bytes, allow_patterns=BASELINE_FILES
    )
