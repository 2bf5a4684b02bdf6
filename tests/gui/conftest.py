"""Fixtures for the GUI tests: a tiny ONNX image model and an isolated AppContext."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_tiny_image_model(path: Path, scale: float = 0.1, size: int = 28) -> Path:
    """Write ``eps = scale * x`` with inputs x [B, 1, size, size] float32 and t [B] int64."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Mul", ["x", "scale"], ["xs"]),
        # t must be consumed or onnxruntime prunes the input; adding 0 * t keeps it.
        helper.make_node("Cast", ["t"], ["tf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["tf", "zero"], ["t0"]),
        helper.make_node("Reshape", ["t0", "tshape"], ["tb"]),
        helper.make_node("Add", ["xs", "tb"], ["eps"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(scale, np.float32), "scale"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "tshape"),
    ]
    dims = ["B", 1, size, size]
    graph = helper.make_graph(
        nodes, "tiny_eps",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims),
         helper.make_tensor_value_info("t", TensorProto.INT64, ["B"])],
        [helper.make_tensor_value_info("eps", TensorProto.FLOAT, dims)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = Path(path)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    return write_tiny_image_model(tmp_path_factory.mktemp("models") / "tiny_eps.onnx")


@pytest.fixture
def tiny_denoiser(tiny_model_path):
    from diffview.engine import OnnxDenoiser

    return OnnxDenoiser(tiny_model_path, device="cpu")


@pytest.fixture
def context(qtbot):
    from diffview.gui.context import AppContext

    ctx = AppContext(device="cpu")
    yield ctx
    ctx.deleteLater()
