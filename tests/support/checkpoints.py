"""Small checkpoints and edits of them for the guard's and the day's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

from pipelines.manifest import Manifest, OnnxOptions, write_manifest


def edit_json(path: Path, **changes: Any) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    document.update(changes)
    path.write_text(json.dumps(document), encoding="utf-8")


def add_model(domain: str = "") -> onnx.ModelProto:
    """``y = x + w``: one node, one initializer."""
    weight = numpy_helper.from_array(np.ones(4, dtype=np.float32), name="w")
    node = helper.make_node("Add", ["x", "w"], ["y"], domain=domain)
    graph = helper.make_graph(
        [node],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        initializer=[weight],
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=10)


def with_external_weight(model: onnx.ModelProto, location: str) -> onnx.ModelProto:
    weight = model.graph.initializer[0]
    set_external_data(weight, location=location)
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    return model


def make_onnx(folder: Path, model: onnx.ModelProto | bytes, unet_file: str = "unet/model.onnx") -> Path:
    """Turn ``folder`` into an ONNX Runtime checkpoint whose UNet file is ``model``."""
    path = folder / unet_file
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    write_manifest(folder, Manifest(runtime="onnxruntime", onnx=OnnxOptions(unet_file=unet_file)))
    return folder
