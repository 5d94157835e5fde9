"""The validator's gate before any checkpoint is loaded.

A submission is data: weights (safetensors or ONNX), JSON configs and a few text files. Anything that
could run code when loaded (pickles, Python, shared libraries, remote-code hooks, custom classes or
operators) or read outside the checkpoint (escaping symlinks or ONNX external data) is refused here,
by name, before diffusers, transformers or ONNX Runtime ever open a file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Collection, Iterable, Iterator
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import onnx
from pydantic import ValidationError

from base.content_hash import IGNORED_TOP_LEVEL
from pipelines.manifest import (
    MANIFEST_NAME,
    ONNX_PART_FILES,
    SCHEDULERS,
    Manifest,
    OnnxOptions,
    manifest_from_json,
    onnx_part_component,
)

MODEL_INDEX = "model_index.json"
PIPELINE_CLASS = "StableDiffusionXLPipeline"
MAX_JSON_BYTES = 64 * 1024**2

PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"})
CODE_SUFFIXES = frozenset({".py", ".pyc", ".pyo", ".pyd", ".so", ".dll", ".dylib", ".sh", ".exe", ".ipynb"})
# ``.onnx_data`` is the external-data name Hugging Face Optimum writes next to ``model.onnx``.
ALLOWED_SUFFIXES = frozenset({".safetensors", ".onnx", ".data", ".onnx_data", ".json", ".txt", ".md"})
ALLOWED_NAMES = frozenset({".gitattributes", "README.md"})
# Prebuilt engines and what builds them: the validator runs only engines it compiled itself, at load.
ENGINE_SUFFIXES = frozenset({".engine", ".plan", ".trt", ".timing", ".profile", ".cache"})
ENGINE_REASON = "prebuilt engines, timing caches and plugins are not accepted: the validator builds its own"
EP_CONTEXT = "EPContext"

ALLOWED_CLASSES: dict[str, frozenset[str]] = {
    "diffusers": frozenset({"UNet2DConditionModel", "AutoencoderKL", "AutoencoderTiny"}) | SCHEDULERS,
    "transformers": frozenset({"CLIPTextModel", "CLIPTextModelWithProjection", "CLIPTokenizer", "CLIPTokenizerFast"}),
}
SDXL_COMPONENTS = frozenset(
    {
        "vae",
        "text_encoder",
        "text_encoder_2",
        "tokenizer",
        "tokenizer_2",
        "unet",
        "scheduler",
        "image_encoder",
        "feature_extractor",
    }
)
COMPONENT_CONFIGS = frozenset({"config.json", "scheduler_config.json"})
REMOTE_CODE_KEYS = frozenset({"auto_map", "custom_pipeline", "_custom_pipeline"})
# Components that run in torch and so need safetensors weights; the ONNX runtime replaces the UNet, and the
# components of the parts its manifest names.
TORCH_WEIGHTS = ("unet", "vae", "text_encoder", "text_encoder_2")
ONNX_DOMAINS = frozenset({"", "ai.onnx", "com.microsoft", "ai.onnx.ml"})
PICKLE_REASON = "pickle files are not accepted (only safetensors and ONNX weights)"
ESCAPE_REASON = "symbolic link escapes the checkpoint folder"


class CheckpointRefused(Exception):
    """A checkpoint failed inspection; ``path`` is relative to its root ("." for the folder itself)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def inspect_checkpoint(
    folder: Path,
    allowed_runtimes: Collection[str] = ("diffusers", "onnxruntime"),
    max_total_bytes: int | None = None,
    max_steps: int | None = None,
) -> Manifest:
    """Refuse anything but a plain SDXL checkpoint folder; return the manifest it runs with.

    A folder without ``edge_checkpoint.json`` runs with the default ``Manifest()``, so a plain
    diffusers repository (such as the real baseline) is accepted as it is.
    """
    root = _checkpoint_root(folder)
    sizes = _list_files(root)
    total = sum(sizes.values())
    if max_total_bytes is not None and total > max_total_bytes:
        raise CheckpointRefused(".", f"checkpoint is {total} bytes, over the cap of {max_total_bytes}")
    documents = {name: _load_json(root, name) for name in sizes if name.lower().endswith(".json")}
    _check_model_index(documents[MODEL_INDEX])
    _check_component_configs(documents)
    manifest = _read_manifest(root, documents)
    if manifest.runtime not in allowed_runtimes:
        allowed = ", ".join(sorted(allowed_runtimes))
        raise CheckpointRefused(
            MANIFEST_NAME if MANIFEST_NAME in documents else ".",
            f"runtime '{manifest.runtime}' is not allowed in this contest (allowed: {allowed})",
        )
    steps = manifest.generation.steps
    if max_steps is not None and steps is not None and steps > max_steps:
        raise CheckpointRefused(MANIFEST_NAME, f"generation.steps {steps} is above the contest's {max_steps}")
    in_torch: tuple[str, ...] = TORCH_WEIGHTS
    if manifest.runtime == "onnxruntime":
        options = manifest.onnx or OnnxOptions()
        _check_onnx(root, options)
        replaced = {"unet", *(onnx_part_component(part) for part in options.parts)}
        in_torch = tuple(component for component in TORCH_WEIGHTS if component not in replaced)
    _check_weights(root, in_torch)
    return manifest


def _checkpoint_root(folder: Path) -> Path:
    if not folder.exists():
        raise CheckpointRefused(".", f"checkpoint folder {folder} does not exist")
    if not folder.is_dir():
        raise CheckpointRefused(".", f"{folder} is not a directory")
    root = folder.resolve()
    if not (root / MODEL_INDEX).is_file():
        raise CheckpointRefused(MODEL_INDEX, "missing; a checkpoint is a diffusers pipeline folder")
    return root


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _inside(root: Path, target: Path) -> bool:
    """Whether ``target`` (resolved) lies in the inspected part of ``root``."""
    try:
        parts = target.relative_to(root).parts
    except ValueError:
        return False
    return not parts or parts[0] not in IGNORED_TOP_LEVEL


def _resolve(path: Path) -> Path | None:
    """The fully resolved path, or None where it cannot be resolved (a loop, a NUL byte)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def _list_files(root: Path) -> dict[str, int]:
    """Every file's relative path and size, refusing symlinks that leave the folder and unknown types.

    Symlinks are not followed: one that stays inside points at an entry this walk inspects anyway, and
    its own size is not counted, so nothing is counted twice.
    """
    sizes: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root, onerror=partial(_unreadable, root), followlinks=False):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [name for name in dirnames if name not in IGNORED_TOP_LEVEL]
            filenames = [name for name in filenames if name not in IGNORED_TOP_LEVEL]
        dirnames.sort()
        for name in dirnames:
            if (here / name).is_symlink():
                _check_symlink(root, here / name)
        for name in sorted(filenames):
            path = here / name
            relative = _relative(root, path)
            status = path.lstat()
            mode = status.st_mode
            if stat.S_ISLNK(mode):
                _check_symlink(root, path)
            elif not stat.S_ISREG(mode):
                raise CheckpointRefused(relative, "not a regular file")
            reason = _file_type_refusal(name)
            if reason:
                raise CheckpointRefused(relative, reason)
            sizes[relative] = 0 if stat.S_ISLNK(mode) else status.st_size
    return sizes


def _unreadable(root: Path, error: OSError) -> None:
    """os.walk would skip a folder it cannot list; a folder nobody inspected must not be loaded."""
    raise CheckpointRefused(_relative(root, Path(error.filename)), f"cannot be read: {error.strerror}")


def _check_symlink(root: Path, path: Path) -> None:
    target = _resolve(path)
    if target is None or not _inside(root, target):
        raise CheckpointRefused(_relative(root, path), ESCAPE_REASON)
    if not target.exists():
        raise CheckpointRefused(_relative(root, path), "broken symbolic link")


def _file_type_refusal(name: str) -> str | None:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return PICKLE_REASON
    if suffix in CODE_SUFFIXES:
        return "code files are not accepted"
    if suffix in ENGINE_SUFFIXES:
        return ENGINE_REASON
    if suffix in ALLOWED_SUFFIXES or name in ALLOWED_NAMES or name.upper().startswith("LICENSE"):
        return None
    return "unexpected file type"


def _load_json(root: Path, name: str) -> Any:
    path = root / name
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise CheckpointRefused(name, f"JSON file is {size} bytes, over the limit of {MAX_JSON_BYTES}")
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError and oversized numbers
        raise CheckpointRefused(name, f"invalid JSON: {error}") from None
    except RecursionError:
        raise CheckpointRefused(name, "invalid JSON: nested too deeply") from None
    if _asks_for_remote_code(document):
        raise CheckpointRefused(name, "remote code is not accepted")
    return document


def _asks_for_remote_code(document: Any) -> bool:
    """Whether any object, at any depth, names remote code (iterative: JSON depth is untrusted)."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if REMOTE_CODE_KEYS & value.keys() or value.get("trust_remote_code"):
                return True
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _custom_class(library: object, name: object) -> str | None:
    """The refusal for a ``[library, class]`` pair outside the allow-list, or None."""
    if isinstance(library, str) and isinstance(name, str) and name in ALLOWED_CLASSES.get(library, ()):
        return None
    return f"custom class {library}.{name} is not accepted"


def _check_model_index(index: Any) -> None:
    if not isinstance(index, dict):
        raise CheckpointRefused(MODEL_INDEX, "must be a JSON object")
    pipeline = index.get("_class_name")
    if pipeline != PIPELINE_CLASS:
        reason = f"pipeline class {pipeline!r} is not accepted (only {PIPELINE_CLASS})"
        raise CheckpointRefused(MODEL_INDEX, reason)
    for key, value in index.items():
        if key.startswith("_"):
            continue  # pipeline metadata
        if key in SDXL_COMPONENTS:
            if value is None or value == [None, None]:
                continue  # an unused slot
            if not isinstance(value, list) or len(value) != 2:
                raise CheckpointRefused(MODEL_INDEX, f"component '{key}' must be a [library, class] pair")
            refusal = _custom_class(*value)
            if refusal:
                raise CheckpointRefused(MODEL_INDEX, refusal)
        elif isinstance(value, list | dict) and any(
            item is not None for item in (value.values() if isinstance(value, dict) else value)
        ):
            raise CheckpointRefused(MODEL_INDEX, f"unknown component '{key}' is not accepted")


def _check_component_configs(documents: dict[str, Any]) -> None:
    """diffusers component configs name their class; only the allow-listed ones are accepted."""
    for name, document in documents.items():
        path = PurePosixPath(name)
        if len(path.parts) != 2 or path.name not in COMPONENT_CONFIGS or not isinstance(document, dict):
            continue
        if "_class_name" in document:
            reason = _custom_class("diffusers", document["_class_name"])
            if reason:
                raise CheckpointRefused(name, reason)


def _read_manifest(root: Path, documents: dict[str, Any]) -> Manifest:
    if MANIFEST_NAME not in documents:
        return Manifest()
    try:
        return manifest_from_json((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except ValidationError as error:
        raise CheckpointRefused(MANIFEST_NAME, _manifest_error(error)) from None


def _manifest_error(error: ValidationError) -> str:
    """A readable reason naming the first offending key."""
    first = error.errors(include_url=False)[0]
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown manifest key '{key}'"
    if not key:
        return f"the manifest must be a JSON object: {first['msg']}"
    shown = repr(first["input"])
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"invalid manifest value for '{key}': {first['msg']} (got {shown})"


def _check_onnx(root: Path, options: OnnxOptions) -> None:
    unet_file = options.unet_file
    if PurePosixPath(unet_file).suffix.lower() != ".onnx":
        raise CheckpointRefused(MANIFEST_NAME, f"onnx.unet_file {unet_file!r} must name a .onnx file")
    resolved = _resolve(root / unet_file)
    if resolved is None or not _inside(root, resolved):
        raise CheckpointRefused(MANIFEST_NAME, f"onnx.unet_file {unet_file!r} escapes the checkpoint folder")
    for model_file in (unet_file, *(ONNX_PART_FILES[part] for part in options.parts)):
        _check_onnx_model(root, model_file)


def _check_onnx_model(root: Path, model_file: str) -> None:
    """One ONNX model inside the folder (``_check_onnx`` checked that ``onnx.unet_file`` does not leave it)."""
    model_path = root / model_file
    if not model_path.is_file():
        raise CheckpointRefused(model_file, "ONNX model file is missing")
    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as error:  # the parser's errors vary by corruption; all mean "not a model"
        raise CheckpointRefused(model_file, f"not a valid ONNX model: {error}") from None
    for graph in _graphs(model):
        for node in graph.node:
            _check_domain(model_file, node)
        for tensor in _tensors(graph):
            _check_external_data(root, model_path.parent, model_file, tensor)
    for function in model.functions:
        for node in function.node:
            _check_domain(model_file, node)


def _check_domain(model_file: str, node: onnx.NodeProto) -> None:
    if node.op_type == EP_CONTEXT:
        raise CheckpointRefused(model_file, f"node {node.name or '(unnamed)'} is an {EP_CONTEXT} node: {ENGINE_REASON}")
    if node.domain not in ONNX_DOMAINS:
        raise CheckpointRefused(
            model_file, f"custom operator domain '{node.domain}' (node {node.op_type}) is not accepted"
        )


def _graphs(model: onnx.ModelProto) -> Iterator[onnx.GraphProto]:
    """The main graph and every subgraph (If/Loop/Scan bodies), in the model and its functions."""
    pending = [model.graph]
    for function in model.functions:
        pending.extend(_subgraphs(function.node))
    while pending:
        graph = pending.pop()
        yield graph
        pending.extend(_subgraphs(graph.node))


def _subgraphs(nodes: Iterable[onnx.NodeProto]) -> Iterator[onnx.GraphProto]:
    for node in nodes:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield attribute.g
            yield from attribute.graphs


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor a graph stores: initializers, sparse ones, and constants held in node attributes."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield attribute.sparse_tensor.values
                yield attribute.sparse_tensor.indices
            for sparse in attribute.sparse_tensors:
                yield sparse.values
                yield sparse.indices


def _check_external_data(root: Path, base: Path, model_file: str, tensor: onnx.TensorProto) -> None:
    """ONNX Runtime reads external data relative to the model file; it must stay in the checkpoint."""
    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return
    location = next((entry.value for entry in tensor.external_data if entry.key == "location"), None)
    if not location:
        raise CheckpointRefused(model_file, f"ONNX external data for tensor '{tensor.name}' has no location")
    described = f"ONNX external data '{location}' for tensor '{tensor.name}'"
    target = _resolve(base / location)
    if PurePosixPath(location).is_absolute() or target is None or not _inside(root, target):
        raise CheckpointRefused(model_file, f"{described} escapes the checkpoint folder")
    if not target.is_file():
        raise CheckpointRefused(model_file, f"{described} is missing")


def _check_weights(root: Path, components: tuple[str, ...]) -> None:
    for component in components:
        folder = root / component
        if not any(path.is_file() for path in folder.glob("*.safetensors")):
            raise CheckpointRefused(component, f"no safetensors weights for {component}")
