"""The contest's baseline checkpoint, materialised once in a cache folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

from contest.definitions import Contest


def ensure_baseline(contest: Contest, cache_dir: Path) -> Path:
    """Return the baseline folder, building it on first use; a half-built folder is never left behind."""
    destination = cache_dir / "baselines" / contest.id
    if destination.is_dir():
        return destination
    reference = contest.baseline
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as scratch:
        staged = Path(scratch) / "checkpoint"
        if reference.source == "tiny-sdxl":
            from pipelines.tiny_sdxl import save_tiny_sdxl  # diffusers loads only when a build is needed

            save_tiny_sdxl(staged, seed=reference.seed, image_size=contest.generation.width)
        else:
            from huggingface_hub import snapshot_download

            snapshot_download(
                reference.repository,
                revision=reference.revision,
                local_dir=staged,
                allow_patterns=["*.json", "*.txt", "*.safetensors"],
            )
        try:
            staged.rename(destination)
        except OSError:
            if not destination.is_dir():  # lost a race to another builder, which is fine
                raise
    return destination
