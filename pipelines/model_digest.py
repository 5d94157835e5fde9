"""One digest for what a checkpoint draws with, to recognise the unmodified baseline however it is dressed.

The content hash a miner commits covers every file; this one covers only what the loader reads and how it
runs: the configs, weights and tokenizer files of the components the runtime loads (not documentation, nor
the files of components ONNX Runtime replaces or the pipeline leaves unused), JSON by its content rather
than its formatting, and the manifest's effective settings rather than its text. The baseline with a
README or LICENSE added, an ONNX section its runtime ignores, or a manifest that restates the scheduler,
steps or dtype it runs with anyway, digests as the baseline.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any

from pipelines.checkpoint_guard import MODEL_INDEX, onnx_external_data
from pipelines.manifest import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    ONNX_PART_FILES,
    SCHEDULERS,
    DType,
    Manifest,
    OnnxOptions,
    onnx_part_component,
    read_manifest,
)

CONFIG = "config.json"
SCHEDULER_CONFIG = "scheduler_config.json"
TOKENIZERS = frozenset({"CLIPTokenizer", "CLIPTokenizerFast"})
TOKENIZER_SUFFIXES = frozenset({".json", ".txt"})
# The weights file names each library looks for, in the order it looks (an index first: the shards it lists).
WEIGHTS: dict[str, tuple[str, ...]] = {
    "diffusers": ("diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model.safetensors"),
    "transformers": ("model.safetensors", "model.safetensors.index.json"),
}


def effective_manifest(
    manifest: Manifest, default_dtype: DType, default_steps: int, own_scheduler: str | None
) -> Manifest:
    """The manifest as the runtime applies it: defaults filled in, and what the runtime ignores left out.

    ``own_scheduler`` is the checkpoint's own scheduler class: choosing it is the same as choosing none, as
    the runtime builds the chosen class from the checkpoint's own scheduler config.
    """
    generation = manifest.generation
    scheduler = None if generation.scheduler == own_scheduler else generation.scheduler
    update: dict[str, Any] = {
        "format_version": MANIFEST_VERSION,
        "torch": manifest.torch.model_copy(update={"dtype": manifest.torch.dtype or default_dtype}),
        "generation": generation.model_copy(
            update={"steps": generation.steps or default_steps, "scheduler": scheduler}
        ),
        "onnx": (manifest.onnx or OnnxOptions()) if manifest.runtime == "onnxruntime" else None,
    }
    return manifest.model_copy(update=update)


def model_digest(folder: Path, default_dtype: DType, default_steps: int) -> bytes:
    """sha256 over the files the loader reads and the effective manifest, with the contest's dtype and steps.

    ``folder`` has passed the checkpoint guard (or is the contest's own baseline).
    """
    index = json.loads((folder / MODEL_INDEX).read_text(encoding="utf-8"))
    scheduler = index.get("scheduler")
    own_scheduler = scheduler[1] if isinstance(scheduler, list) and len(scheduler) == 2 else None
    manifest = effective_manifest(read_manifest(folder), default_dtype, default_steps, own_scheduler)
    lines = [f"{name}:{_file_digest(folder / name)}\n" for name in sorted(loaded_files(folder, manifest, index))]
    lines.append(f"{MANIFEST_NAME} (effective):{manifest.model_dump_json()}\n")
    return hashlib.sha256("".join(lines).encode()).digest()


def loaded_files(folder: Path, manifest: Manifest, index: dict[str, Any]) -> set[str]:
    """The files, relative to ``folder``, that loading it with ``manifest`` reads (the manifest aside)."""
    files = {MODEL_INDEX}
    onnx_models: dict[str, str] = {}
    if manifest.runtime == "onnxruntime":
        options = manifest.onnx or OnnxOptions()
        onnx_models = {"unet": options.unet_file}
        onnx_models |= {onnx_part_component(part): ONNX_PART_FILES[part] for part in options.parts}
    for component, pair in index.items():
        if component.startswith("_") or not isinstance(pair, list) or len(pair) != 2 or pair[1] is None:
            continue
        if component in onnx_models:
            model_file = onnx_models[component]
            files |= {f"{component}/{CONFIG}", model_file, *onnx_external_data(folder.resolve(), model_file)}
        else:
            files |= {f"{component}/{name}" for name in _component_files(folder / component, *pair)}
    return {name for name in files if (folder / name).is_file()}


def _component_files(folder: Path, library: str, class_name: str) -> list[str]:
    """What its library reads of one torch component's folder."""
    if class_name in SCHEDULERS:
        return [SCHEDULER_CONFIG]
    if class_name in TOKENIZERS:
        return [path.name for path in folder.iterdir() if _tokenizer_file(path)]
    for weights in WEIGHTS.get(library, ()):
        if (folder / weights).is_file():
            return [CONFIG, weights, *_shards(folder / weights)]
    return [CONFIG]


def _tokenizer_file(path: Path) -> bool:
    """Tokenizers read JSON and text files of their folder; documentation is never read."""
    name = path.name
    documentation = name.upper().startswith(("LICENSE", "README"))
    return path.is_file() and PurePosixPath(name).suffix.lower() in TOKENIZER_SUFFIXES and not documentation


def _shards(weights: Path) -> list[str]:
    if not weights.name.endswith(".index.json"):
        return []
    return sorted(set(json.loads(weights.read_text(encoding="utf-8"))["weight_map"].values()))


def _file_digest(path: Path) -> str:
    """JSON by its parsed content (formatting and key order read the same); every other file by its bytes."""
    if path.suffix.lower() == ".json":
        canonical = json.dumps(json.loads(path.read_bytes()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
