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
    ctx.jobs.shutdown()
    ctx.deleteLater()


class SlowDenoiser:
    """A Python denoiser, ``eps = 0.1 * x``, that sleeps in every call (to test cancellation)."""

    provider = "test"

    def __init__(self, delay: float = 0.01, fail_after: int | None = None, shape=(1, 28, 28)):
        from diffview.engine import ModelInfo

        self.info = ModelInfo(sample_shape=tuple(shape), schedule="linear", T=1000)
        self.path = "slow-test-model"
        self.delay = delay
        self.fail_after = fail_after
        self.calls = 0

    def predict_eps(self, x, t):
        import time

        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("the network exploded")
        time.sleep(self.delay)
        return (0.1 * np.asarray(x, np.float32)).astype(np.float32)


@pytest.fixture(autouse=True)
def _no_qt_warnings(qtlog):
    """Fail a GUI test that makes Qt print a warning (known offscreen-only notes aside)."""
    yield
    from PySide6.QtCore import QtMsgType

    ignored = ("This plugin does not support",)
    bad = [r.message for r in qtlog.records
           if r.type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
           and not r.message.startswith(ignored)]
    assert not bad, f"Qt warnings: {bad}"
