"""Tiny ONNX models built with onnx.helper for the engine and CLI tests (no torch needed).

The reference network is ``eps = 0.1 * x + t`` with ``t`` broadcast over the sample axes, so
a test can check the output against a formula.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from diffview.engine.metadata import ModelInfo, set_onnx_metadata

OPSET = 17
IR_VERSION = 8


def _model(nodes, inputs, outputs, initializers=(), info: ModelInfo | None = None,
           props: dict[str, str] | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="diffview-tests")
    model.ir_version = IR_VERSION
    if info is not None:
        set_onnx_metadata(model, info)
    if props:
        helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, **props})
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    path = Path(path)
    path.write_bytes(model.SerializeToString())
    return path


def eps_model(sample_dims=("B", 1, 4, 4), time_type=TensorProto.INT64, out_dims=None,
              info: ModelInfo | None = None, props=None, time_dims=("B",),
              sample_type=TensorProto.FLOAT, scale: float = 0.1) -> onnx.ModelProto:
    """``eps = scale * x + t`` for a sample of rank 2 or 4; dims may be strings (symbolic)."""
    rank = len(sample_dims)
    nodes = [
        helper.make_node("Cast", ["t"], ["tf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["tf", "tshape"], ["tb"]),
        helper.make_node("Mul", ["x", "scale"], ["xs"]),
        helper.make_node("Add", ["xs", "tb"], ["eps"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([-1] + [1] * (rank - 1), np.int64), "tshape"),
        numpy_helper.from_array(np.array(scale, np.float32), "scale"),
    ]
    inputs = [helper.make_tensor_value_info("x", sample_type, list(sample_dims)),
              helper.make_tensor_value_info("t", time_type, list(time_dims))]
    outputs = [helper.make_tensor_value_info("eps", TensorProto.FLOAT,
                                             list(out_dims or sample_dims))]
    return _model(nodes, inputs, outputs, inits, info, props)


def expected_eps(x: np.ndarray, t, scale: float = 0.1) -> np.ndarray:
    t = np.broadcast_to(np.asarray(t, np.float32), (x.shape[0],))
    return (scale * x + t.reshape((-1,) + (1,) * (x.ndim - 1))).astype(np.float32)


def unary_model(op: str, sample_dims=("B", 1, 4, 4), out_type=TensorProto.FLOAT,
                out_dims=None, **attrs) -> onnx.ModelProto:
    """``eps = op(x)`` (t is accepted and ignored), e.g. ``Sqrt`` gives NaN for x < 0."""
    nodes = [helper.make_node(op, ["x"], ["eps"], **attrs)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(sample_dims)),
              helper.make_tensor_value_info("t", TensorProto.INT64, ["B"])]
    outputs = [helper.make_tensor_value_info("eps", out_type, list(out_dims or sample_dims))]
    return _model(nodes, inputs, outputs)


def three_input_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Add", ["x", "y"], ["eps"])]
    dims = ["B", 1, 4, 4]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims),
              helper.make_tensor_value_info("y", TensorProto.FLOAT, dims),
              helper.make_tensor_value_info("t", TensorProto.INT64, ["B"])]
    outputs = [helper.make_tensor_value_info("eps", TensorProto.FLOAT, dims)]
    return _model(nodes, inputs, outputs)


def one_input_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Identity", ["x"], ["eps"])]
    dims = ["B", 1, 4, 4]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)]
    outputs = [helper.make_tensor_value_info("eps", TensorProto.FLOAT, dims)]
    return _model(nodes, inputs, outputs)


def unknown_op_model() -> onnx.ModelProto:
    """A model onnxruntime refuses: an operator that does not exist."""
    nodes = [helper.make_node("NoSuchOperator", ["x", "t"], ["eps"])]
    dims = ["B", 1, 4, 4]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims),
              helper.make_tensor_value_info("t", TensorProto.INT64, ["B"])]
    outputs = [helper.make_tensor_value_info("eps", TensorProto.FLOAT, dims)]
    return _model(nodes, inputs, outputs)


def wrong_shape_symbolic_model() -> onnx.ModelProto:
    """Fully symbolic sample [B, C, H, W]; really returns [B, C, H, 1] (mean over W)."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["eps"], axes=[3], keepdims=1)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "C", "H", "W"]),
              helper.make_tensor_value_info("t", TensorProto.INT64, ["B"])]
    outputs = [helper.make_tensor_value_info("eps", TensorProto.FLOAT, ["a", "b", "c", "d"])]
    return _model(nodes, inputs, outputs)  # opset 17: ReduceMean still takes axes as attribute


def cond_eps_model(sample_dims=("B", 1, 4, 4), rows: int = 11, names=("x", "t", "labels"),
                   time_type=TensorProto.INT64, label_type=TensorProto.INT64,
                   info: ModelInfo | None = None, props=None) -> onnx.ModelProto:
    """A class-conditional ``eps = 0.1 * x + t + 10 * labels``: the label's term is a ``Gather``
    of an embedding table of ``rows`` rows (row r holds 10 r), as a real network's class
    embedding; ``names`` are the sample, timestep and label input names."""
    xn, tn, yn = names
    rank = len(sample_dims)
    label_in = yn
    nodes = []
    if label_type != TensorProto.INT64:  # a foreign float label input: cast before the Gather
        nodes.append(helper.make_node("Cast", [yn], ["y64"], to=TensorProto.INT64))
        label_in = "y64"
    nodes += [
        helper.make_node("Gather", ["table", label_in], ["ye"], axis=0),
        helper.make_node("Cast", [tn], ["tf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["tf", "tshape"], ["tb"]),
        helper.make_node("Reshape", ["ye", "tshape"], ["yb"]),
        helper.make_node("Mul", [xn, "scale"], ["xs"]),
        helper.make_node("Add", ["xs", "tb"], ["xt"]),
        helper.make_node("Add", ["xt", "yb"], ["eps"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([-1] + [1] * (rank - 1), np.int64), "tshape"),
        numpy_helper.from_array(np.array(0.1, np.float32), "scale"),
        numpy_helper.from_array(10.0 * np.arange(rows, dtype=np.float32)[:, None], "table"),
    ]
    inputs = [helper.make_tensor_value_info(xn, TensorProto.FLOAT, list(sample_dims)),
              helper.make_tensor_value_info(tn, time_type, ["B"]),
              helper.make_tensor_value_info(yn, label_type, ["B"])]
    outputs = [helper.make_tensor_value_info("eps", TensorProto.FLOAT, list(sample_dims))]
    return _model(nodes, inputs, outputs, inits, info, props)


def expected_cond_eps(x: np.ndarray, t, labels) -> np.ndarray:
    labels = np.broadcast_to(np.asarray(labels, np.float32), (x.shape[0],))
    return expected_eps(x, t) + 10.0 * labels.reshape((-1,) + (1,) * (x.ndim - 1))
