"""The contest's own models, materialised once in a cache folder: the baseline and the image encoder.

A Hugging Face model is pinned to a full commit sha and fetched through the store code, so every validator
judges against the same files whenever it downloads them, with the same size cap and retries as a
submission, and never downloads the pickles a repository may also hold. The embedded default's models ship in
this package, checked against their digest before use; device checks build random ones offline from seeds.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from base.names import is_revision
from base.stores import HuggingFaceStore, Store, folder_digest
from contest.definitions import Contest, ModelReference
from pipelines.model_digest import model_digest

# configs, tokenizer vocabularies, weights: never pickles (nor TensorFlow or Flax weights)
BASELINE_FILES = ("*.json", "*.txt", "*.safetensors")


@dataclass(frozen=True)
class ContestModels:
    """The folders judging reads, the baseline checkpoint and the similarity gate's image encoder, and the
    baseline's model digest (read once: it recognises the unmodified baseline and is published)."""

    baseline: Path
    image_encoder: Path
    baseline_digest: bytes

    @classmethod
    def of(cls, contest: Contest, baseline: Path, image_encoder: Path) -> ContestModels:
        return cls(baseline, image_encoder, model_digest(baseline, contest.default_dtype, contest.generation.steps))


def ensure_models(contest: Contest, cache_dir: Path, store: Store | None = None) -> ContestModels:
    """Both of the contest's models (see ``ensure_baseline``)."""
    baseline = ensure_baseline(contest, cache_dir, store)
    return ContestModels.of(contest, baseline, ensure_image_encoder(contest, cache_dir, store))


def ensure_baseline(contest: Contest, cache_dir: Path, store: Store | None = None) -> Path:
    """Return the baseline folder, building or fetching it on first use; a half-built folder is never left behind.

    ``store`` fetches a Hugging Face model: the validator's or the miner's own Hugging Face store (default
    ``HuggingFaceStore()``, reading ``HF_ENDPOINT`` and ``HF_TOKEN``). A cached model is returned without
    contacting it. A ``StoreError`` propagates.
    """
    return _ensure(contest, "baseline", contest.baseline, cache_dir / "baselines", store)


def ensure_image_encoder(contest: Contest, cache_dir: Path, store: Store | None = None) -> Path:
    """The similarity gate's CLIP image encoder, as ``ensure_baseline`` does the baseline."""
    return _ensure(contest, "image encoder", contest.similarity.image_encoder, cache_dir / "image-encoders", store)


def _copy_shipped(reference: ModelReference, contest: Contest, role: str, staged: Path) -> None:
    """A model shipped in this package, refused unless its files are the ones the contest names."""
    if not reference.path or not reference.sha256:
        raise ValueError(f"contest {contest.id!r}: its shipped {role} names no path or no sha256")
    shipped = Path(str(files("contest") / "data" / reference.path))
    if not shipped.is_dir():
        raise ValueError(f"contest {contest.id!r}: its {role} is not shipped at {shipped}")
    shutil.copytree(shipped, staged, symlinks=False)
    found = folder_digest(staged).hex()
    if found != reference.sha256:
        raise ValueError(
            f"contest {contest.id!r}: the shipped {role} at {shipped} has digest {found}, not the contest's "
            f"{reference.sha256}: reinstall the package (or retrain with pipelines.tiny_world.train and update it)"
        )


def _build(reference: ModelReference, staged: Path) -> None:
    """A model with random weights, built offline from its seed (the libraries load only when a build is needed)."""
    if reference.source == "full-size-sdxl":
        from pipelines.full_sdxl import save_full_sdxl

        save_full_sdxl(staged, seed=reference.seed)
    else:
        from pipelines.image_encoder import save_tiny_image_encoder

        save_tiny_image_encoder(staged, seed=reference.seed)


def _pin(contest: Contest, role: str, reference: ModelReference) -> tuple[str, str] | None:
    """A Hugging Face model's repository and commit (None: built offline); refused unless pinned to a commit,
    since a branch would let validators judge with different models."""
    if reference.source != "huggingface":
        return None
    if not reference.repository:
        raise ValueError(f"contest {contest.id!r}: its Hugging Face {role} names no repository")
    if reference.revision is None or not is_revision(reference.revision):
        raise ValueError(
            f"contest {contest.id!r}: {role} {reference.repository} must be pinned to a full 40-hex commit sha, "
            f"got revision {reference.revision!r} (a branch moves, so validators would judge with different models)"
        )
    return reference.repository, reference.revision


def _ensure(
    contest: Contest,
    role: str,
    reference: ModelReference,
    cache_dir: Path,
    store: Store | None,
) -> Path:
    pin = _pin(contest, role, reference)
    # A pinned revision is part of the name, so a changed pin never reuses a stale model.
    name = f"{contest.id}-{pin[1][:12]}" if pin is not None else contest.id
    destination = cache_dir / name
    if destination.is_dir():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".building-") as scratch:
        staged = Path(scratch) / "model"
        if pin is not None:
            store = store if store is not None else HuggingFaceStore()
            store.fetch(
                *pin,
                staged,
                contest.max_checkpoint_bytes,
                allow_patterns=BASELINE_FILES,
            )
        elif reference.source == "shipped":
            _copy_shipped(reference, contest, role, staged)
        else:
            _build(reference, staged)
        try:
            staged.rename(destination)
        except OSError:
            if not destination.is_dir():  # lost a race to another builder, which is fine
                raise
    return destination
