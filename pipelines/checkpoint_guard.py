"""The validator's gate before any checkpoint is loaded.

A submission is data: weights (safetensors or ONNX), JSON configs and a few text files, each allowed by
what its bytes are, not by its name. Anything that could run code when loaded (pickles under any name,
Python, shared libraries, remote-code hooks, custom classes or operators, config keys that choose kernels,
quantisers or weight files) or read outside the checkpoint (escaping symlinks, ONNX external data, shard
indexes or tokenizer paths that leave their folder) is refused here, before diffusers, transformers or ONNX
Runtime ever open a file.

Parsing untrusted files costs what the file says: JSON is size- and depth-checked from its bytes before it
is parsed, and each document is dropped once checked. The validator runs this in a worker with memory and
time limits (``contest.judging.screening``), since an ONNX protobuf can still cost gigabytes to parse.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
from collections.abc import Collection, Iterable, Iterator
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import onnx
from pydantic import ValidationError

from base.stores import IGNORED_TOP_LEVEL
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
# SDXL's largest real JSON files are tokenizer.json (about 2 MB) and vocab.json (about 1 MB).
MAX_JSON_BYTES = 16 * 1024**2
MAX_JSON_DEPTH = 32  # real configs and tokenizer files nest 6 deep at most
# Protobuf cannot parse a message over 2 GiB: a bigger model keeps its weights as external data.
MAX_ONNX_BYTES = 2 * 1024**3
READ_CHUNK = 1 << 20

PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"})
CODE_SUFFIXES = frozenset({".py", ".pyc", ".pyo", ".pyd", ".so", ".dll", ".dylib", ".sh", ".exe", ".ipynb"})
# ``.onnx_data`` is the external-data name Hugging Face Optimum writes next to ``model.onnx``.
EXTERNAL_DATA_SUFFIXES = frozenset({".data", ".onnx_data"})
TEXT_SUFFIXES = frozenset({".txt", ".md"})
TEXT_NAMES = frozenset({".gitattributes"})
# Prebuilt engines and what builds them: the validator runs only engines it compiled itself, at load.
ENGINE_SUFFIXES = frozenset({".engine", ".plan", ".trt", ".timing", ".profile", ".cache"})
ENGINE_REASON = "prebuilt engines, timing caches and plugins are not accepted: the validator builds its own"
EP_CONTEXT = "EPContext"
# What pickle.dump writes first (PROTO and protocols 2 to 5), and what torch.save writes: a zip archive.
PICKLE_PROTOCOLS = range(2, 6)
ZIP_MAGIC = b"PK\x03\x04"

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
# Config keys diffusers or transformers act on to pick a quantiser, an attention or experts kernel, fused
# modules or the weights file to read; only the manifest chooses how a checkpoint runs.
CODE_PATH_KEYS = frozenset(
    {
        "quantization_config",
        "attn_implementation",
        "_attn_implementation",
        "use_flash_attention_2",
        "experts_implementation",
        "_experts_implementation",
        "fusion_config",
        "transformers_weights",
    }
)
TOKENIZER_CONFIG = "tokenizer_config.json"
# tokenizer_config.json keys that transformers reads as paths of files to open. The pinned transformers replaces
# the values of the other file keys (``vocab_file``, ``merges_file``, ``tokenizer_file``,
# ``special_tokens_map_file``) with the files it finds in the tokenizer's own folder, so what a config says there
# is inert; configs saved by older versions carry absolute cache paths in them, real baselines among them.
TOKENIZER_PATH_KEYS = frozenset({"fast_tokenizer_files"})
SHARD_INDEX_SUFFIX = ".index.json"
SAFETENSORS = ".safetensors"
# Components that run in torch and so need safetensors weights; the ONNX runtime replaces the UNet, and the
# components of the parts its manifest names.
TORCH_WEIGHTS = ("unet", "vae", "text_encoder", "text_encoder_2")
ONNX_DOMAINS = frozenset({"", "ai.onnx", "com.microsoft", "ai.onnx.ml"})
PICKLE_REASON = "pickle files are not accepted (only safetensors and ONNX weights)"
ESCAPE_REASON = "symbolic link escapes the checkpoint folder"

Format = Literal["safetensors", "onnx", "external data", "json", "text"]
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


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
    _check_contents(root, sizes.keys())
    manifest = _read_manifest(root, MANIFEST_NAME in sizes)
    if manifest.runtime not in allowed_runtimes:
        allowed = ", ".join(sorted(allowed_runtimes))
        raise CheckpointRefused(
            MANIFEST_NAME if MANIFEST_NAME in sizes else ".",
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


def _claimed_format(path: str) -> Format | None:
    """The format a file's name claims; its content must then be that format."""
    name = PurePosixPath(path).name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == SAFETENSORS:
        return "safetensors"
    if suffix == ".onnx":
        return "onnx"
    if suffix in EXTERNAL_DATA_SUFFIXES:
        return "external data"
    if suffix == ".json":
        return "json"
    if suffix in TEXT_SUFFIXES or name in TEXT_NAMES or name.upper().startswith("LICENSE"):
        return "text"
    return None


def _file_type_refusal(name: str) -> str | None:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return PICKLE_REASON
    if suffix in CODE_SUFFIXES:
        return "code files are not accepted"
    if suffix in ENGINE_SUFFIXES:
        return ENGINE_REASON
    return None if _claimed_format(name) else "unexpected file type"


def _check_contents(root: Path, files: Collection[str]) -> None:
    """Each file is the format its name claims, one at a time; ONNX external data must be some model's."""
    referenced: set[str] = set()
    external: list[str] = []
    for name in sorted(files):
        path = root / name
        claimed = _claimed_format(name)
        if claimed == "safetensors":
            _check_safetensors(path, name)
            continue
        if _is_pickle(_head(path)):
            raise CheckpointRefused(name, PICKLE_REASON)
        if claimed == "onnx":
            referenced |= onnx_external_data(root, name)
        elif claimed == "json":
            _check_json(root, name, files)
        elif claimed == "text":
            _check_text(path, name)
        else:
            external.append(name)
    for name in external:
        target = _resolve(root / name)
        if target is None or _relative(root, target) not in referenced:
            raise CheckpointRefused(name, "ONNX external data that no ONNX model in the checkpoint references")


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(len(ZIP_MAGIC))


def _is_pickle(head: bytes) -> bool:
    """Whether a file starts as pickle.dump or torch.save writes one (a pickle, or a zip archive holding one)."""
    return head.startswith(ZIP_MAGIC) or (len(head) >= 2 and head[0] == 0x80 and head[1] in PICKLE_PROTOCOLS)


def _check_safetensors(path: Path, name: str) -> None:
    """An 8-byte little-endian header length that fits the file, then a JSON object.

    Checked before the pickle sniff: a valid file's header length can start with a pickle's two bytes.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else 0
        fits = 2 <= length <= min(MAX_JSON_BYTES, size - 8)
        header = handle.read(length) if fits else b""
    if not header.startswith(b"{"):
        if _is_pickle(head):
            raise CheckpointRefused(name, PICKLE_REASON)
        reason = "its header length does not fit the file" if not fits else "its header is not a JSON object"
        raise CheckpointRefused(name, f"not a safetensors file: {reason}")
    if not isinstance(_parse_json(header, name, "not a safetensors file: invalid header"), dict):
        raise CheckpointRefused(name, "not a safetensors file: its header is not a JSON object")


def _check_text(path: Path, name: str) -> None:
    """UTF-8 without NUL bytes, read in chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                if b"\0" in chunk:
                    raise CheckpointRefused(name, "not a text file: it holds NUL bytes")
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise CheckpointRefused(name, "not a text file: it is not UTF-8") from None


def json_depth(data: bytes) -> int:
    """How deep arrays and objects nest in JSON text, read from its bytes: strings are skipped, brackets counted."""
    brackets = np.frombuffer(_JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS), dtype=np.uint8)
    steps = ((brackets == ord("[")) | (brackets == ord("{"))).astype(np.int32) * 2 - 1
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose every key is written once: where one is written twice, Python keeps the last and another
    reader (safetensors' own, a runtime's) may keep the first, so what is checked would not be what loads."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key[:40]!r} is written twice in one object")
        found[key] = value
    return found


def _parse_json(data: bytes, name: str, invalid: str = "invalid JSON") -> Any:
    """``json.loads`` once the bytes show a depth it can afford; ``invalid`` starts the refusal's reason."""
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise CheckpointRefused(name, f"{invalid}: nested {depth} deep, over the limit of {MAX_JSON_DEPTH}")
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError and oversized numbers
        raise CheckpointRefused(name, f"{invalid}: {error}") from None


def _load_json(root: Path, name: str) -> Any:
    with (root / name).open("rb") as handle:
        data = handle.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise CheckpointRefused(name, f"JSON file is over the limit of {MAX_JSON_BYTES} bytes")
    return _parse_json(data, name)


def _check_json(root: Path, name: str, files: Collection[str]) -> None:
    """One JSON document's checks; the document is dropped afterwards (the manifest is read again later)."""
    document = _load_json(root, name)
    if _asks_for_remote_code(document):
        raise CheckpointRefused(name, "remote code is not accepted")
    path = PurePosixPath(name)
    if name == MODEL_INDEX:
        _check_model_index(document)
    elif path.name in COMPONENT_CONFIGS:
        _check_component_config(name, document)
    elif path.name == TOKENIZER_CONFIG:
        _check_tokenizer_paths(root, name, document)
    elif path.name.endswith(SHARD_INDEX_SUFFIX):
        _check_shard_index(name, document, files)


def _objects(document: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a document, at any depth (iterative: JSON depth is untrusted)."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            yield value
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _asks_for_remote_code(document: Any) -> bool:
    return any(REMOTE_CODE_KEYS & value.keys() or value.get("trust_remote_code") for value in _objects(document))


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


def _check_component_config(name: str, document: Any) -> None:
    """Component configs name an allow-listed class (diffusers) and no key that picks a code path."""
    if not isinstance(document, dict):
        return
    if len(PurePosixPath(name).parts) == 2 and "_class_name" in document:
        reason = _custom_class("diffusers", document["_class_name"])
        if reason:
            raise CheckpointRefused(name, reason)
    key = next((key for value in _objects(document) for key in sorted(CODE_PATH_KEYS & value.keys())), None)
    if key is not None:
        raise CheckpointRefused(name, f"config key '{key}' is not accepted: only the manifest chooses how it runs")


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _check_tokenizer_paths(root: Path, name: str, document: Any) -> None:
    """Paths transformers would open must be null or stay in the tokenizer's own folder."""
    if not isinstance(document, dict):
        return
    folder = _resolve((root / name).parent)
    for key in sorted(TOKENIZER_PATH_KEYS & document.keys()):
        value = document[key]
        for path in value if isinstance(value, list) else [value]:
            if path is not None and not (folder is not None and _stays_in(folder, path)):
                reason = f"'{key}' must be null or name a file in the tokenizer's own folder (got {_shown(path)})"
                raise CheckpointRefused(name, reason)


def _stays_in(folder: Path, path: object) -> bool:
    """Whether ``path`` is a relative path that, resolved, stays in ``folder`` (which is resolved)."""
    if not isinstance(path, str) or not path or PurePosixPath(path).is_absolute():
        return False
    target = _resolve(folder / path)
    return target is not None and (target == folder or folder in target.parents)


def _check_shard_index(name: str, document: Any, files: Collection[str]) -> None:
    """Every shard a ``*.index.json`` lists is a plain ``.safetensors`` name beside it (loaders load each)."""
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointRefused(name, "a shard index needs a non-empty 'weight_map' object")
    folder = PurePosixPath(name).parent
    for shard in weight_map.values():
        if not _plain_shard(shard):
            reason = f"shard {_shown(shard)} is not the plain name of a {SAFETENSORS} file beside the index"
            raise CheckpointRefused(name, reason)
        if (folder / shard).as_posix() not in files:
            raise CheckpointRefused(name, f"shard '{shard}' is missing")


def _plain_shard(shard: object) -> bool:
    return (
        isinstance(shard, str)
        and shard.endswith(SAFETENSORS)
        and PurePosixPath(shard).name == shard
        and "\\" not in shard
        and shard not in (".", "..")
    )


def _read_manifest(root: Path, present: bool) -> Manifest:
    if not present:
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
    return f"invalid manifest value for '{key}': {first['msg']} (got {_shown(first['input'])})"


def _check_onnx(root: Path, options: OnnxOptions) -> None:
    """The models the manifest names are in the folder (each was inspected with every ``.onnx`` file)."""
    unet_file = options.unet_file
    if PurePosixPath(unet_file).suffix.lower() != ".onnx":
        raise CheckpointRefused(MANIFEST_NAME, f"onnx.unet_file {unet_file!r} must name a .onnx file")
    resolved = _resolve(root / unet_file)
    if resolved is None or not _inside(root, resolved):
        raise CheckpointRefused(MANIFEST_NAME, f"onnx.unet_file {unet_file!r} escapes the checkpoint folder")
    for model_file in (unet_file, *(ONNX_PART_FILES[part] for part in options.parts)):
        if not (root / model_file).is_file():
            raise CheckpointRefused(model_file, "ONNX model file is missing")


def onnx_external_data(root: Path, model_file: str) -> set[str]:
    """Inspect one ONNX model inside ``root`` (resolved); return the files its external data lives in.

    Refused: a file protobuf cannot parse, custom operator domains, ``EPContext`` nodes, and external data
    outside the folder or missing. The paths returned are resolved and relative to ``root``.
    """
    model_path = root / model_file
    size = model_path.stat().st_size
    if size > MAX_ONNX_BYTES:
        raise CheckpointRefused(
            model_file, f"ONNX model file is {size} bytes, over protobuf's limit of {MAX_ONNX_BYTES}"
        )
    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as error:  # the parser's errors vary by corruption; all mean "not a model"
        raise CheckpointRefused(model_file, f"not a valid ONNX model: {error}") from None
    referenced: set[str] = set()
    for graph in _graphs(model):
        for node in graph.node:
            _check_domain(model_file, node)
        for tensor in _tensors(graph):
            location = _external_data(root, model_path.parent, model_file, tensor)
            if location is not None:
                referenced.add(location)
    for function in model.functions:
        for node in function.node:
            _check_domain(model_file, node)
    return referenced


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


def _external_data(root: Path, base: Path, model_file: str, tensor: onnx.TensorProto) -> str | None:
    """The file a tensor's external data lives in (None: stored in the model); it must stay in the checkpoint.

    ONNX Runtime reads external data relative to the model file.
    """
    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return None
    location = next((entry.value for entry in tensor.external_data if entry.key == "location"), None)
    if not location:
        raise CheckpointRefused(model_file, f"ONNX external data for tensor '{tensor.name}' has no location")
    described = f"ONNX external data '{location}' for tensor '{tensor.name}'"
    target = _resolve(base / location)
    if PurePosixPath(location).is_absolute() or target is None or not _inside(root, target):
        raise CheckpointRefused(model_file, f"{described} escapes the checkpoint folder")
    if not target.is_file():
        raise CheckpointRefused(model_file, f"{described} is missing")
    return _relative(root, target)


def _check_weights(root: Path, components: tuple[str, ...]) -> None:
    for component in components:
        folder = root / component
        if not any(path.is_file() for path in folder.glob("*.safetensors")):
            raise CheckpointRefused(component, f"no safetensors weights for {component}")
