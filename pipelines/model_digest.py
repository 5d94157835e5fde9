"""One digest for what a checkpoint draws with, to recognise the unmodified baseline however it is dressed.

The content hash a miner commits covers every file; this one leaves out what no loader reads
(documentation) and a manifest that only restates the defaults the baseline runs with anyway, so the
baseline with a README or such a manifest added is still recognised as the baseline.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from base.content_hash import folder_digest
from pipelines.manifest import MANIFEST_NAME, MANIFEST_VERSION, DType, Manifest, TorchOptions, manifest_from_json

DOCUMENTATION_SUFFIXES = frozenset({".md"})


def restates_defaults(manifest: Manifest, default_dtype: DType) -> bool:
    """Whether the manifest runs the checkpoint exactly as having no manifest would."""
    torch = manifest.torch.model_copy(update={"dtype": manifest.torch.dtype or default_dtype})
    restated = manifest.model_copy(update={"format_version": MANIFEST_VERSION, "torch": torch})
    return restated == Manifest(torch=TorchOptions(dtype=default_dtype))


def _manifest_is_default(folder: Path, default_dtype: DType) -> bool:
    try:
        manifest = manifest_from_json((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError):
        return False
    return restates_defaults(manifest, default_dtype)


def model_digest(folder: Path, default_dtype: DType) -> bytes:
    """sha256 over the files a loader reads, without documentation or a manifest that restates the defaults."""
    skip_manifest = _manifest_is_default(folder, default_dtype)

    def read_by_loader(relative: PurePosixPath) -> bool:
        if relative.suffix in DOCUMENTATION_SUFFIXES:
            return False
        return not (skip_manifest and relative == PurePosixPath(MANIFEST_NAME))

    return folder_digest(folder, read_by_loader)
