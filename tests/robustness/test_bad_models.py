"""Bad model files opened in the app: a clear message, the current model kept, the app usable.

Every case goes through ``MainWindow.load_model`` (what File > Open model does): the file is
checked on a worker, the user gets a dialog naming the file and the problem, the model in use
and the status bar stay as they were, and a sampling run still works afterwards.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from diffview.engine import ModelInfo
from tests.engine import onnx_models as om

from .conftest import expect_error, sample_once


def _big_valid_model() -> bytes:
    """A valid model with a 64 KB weight, so that cutting the file in half lands inside it."""
    w = np.full((1, 1, 128, 128), 0.1, np.float32)
    nodes = [helper.make_node("Cast", ["t"], ["tf"], to=TensorProto.FLOAT),
             helper.make_node("Reshape", ["tf", "tshape"], ["tb"]),
             helper.make_node("ReduceMean", ["w"], ["wm"], keepdims=1),
             helper.make_node("Mul", ["x", "wm"], ["xs"]),
             helper.make_node("Add", ["xs", "tb"], ["eps"])]
    inits = [numpy_helper.from_array(w, "w"),
             numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "tshape")]
    dims = ["B", 1, 28, 28]
    graph = helper.make_graph(
        nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims),
                       helper.make_tensor_value_info("t", TensorProto.INT64, ["B"])],
        [helper.make_tensor_value_info("eps", TensorProto.FLOAT, dims)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _nan_on_zeros_model():
    """eps = x / x: NaN for every input of zeros (the load-time probe)."""
    dims = ["B", 1, 28, 28]
    graph = helper.make_graph(
        [helper.make_node("Div", ["x", "x"], ["eps"])], "nan",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims),
         helper.make_tensor_value_info("t", TensorProto.INT64, ["B"])],
        [helper.make_tensor_value_info("eps", TensorProto.FLOAT, dims)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _write(kind: str, path):
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("name,size\nmy_network,12\n")
    elif kind == "truncated":
        blob = _big_valid_model()
        path.write_bytes(blob[: len(blob) // 2])
    elif kind == "one_input":
        om.save(om.one_input_model(), path)
    elif kind == "sample_3d":
        om.save(om.eps_model(("B", 28, 28)), path)
    elif kind == "int8_output":
        om.save(om.unary_model("Cast", ("B", 1, 28, 28), out_type=TensorProto.INT8,
                               to=TensorProto.INT8), path)
    elif kind == "nan":
        om.save(_nan_on_zeros_model(), path)
    return path


CASES = {
    "empty": "empty file (0 bytes)",
    "text": "starts with text",
    "truncated": "corrupt or truncated ONNX file",
    "one_input": "expected 2 or 3 inputs",
    "sample_3d": "rank 4 or 2 (sample)",
    "int8_output": "expected a float output",
    "nan": "non-finite values (NaN or inf)",
}


def test_bad_models_are_refused_and_the_current_one_kept(qtbot, window, tmp_path):
    # One window for every case (building one takes seconds on a loaded machine); each case
    # must leave it exactly as it was.
    good = window.context.image_model
    label = window.model_label.text()
    for kind, needle in CASES.items():
        bad = _write(kind, tmp_path / f"bad_{kind}.onnx")
        title, message = expect_error(qtbot, window.context, lambda b=bad: window.load_model(b))
        assert title == "Cannot open model", kind
        assert f"bad_{kind}.onnx" in message and needle in message, (kind, message)
        assert "Traceback" not in message and len(message) < 400, (kind, message)
        assert window._error_boxes and window._error_boxes[-1].text() == message
        # nothing lost: the same model and status bar, no job left running
        assert window.context.image_model is good, kind
        assert window.model_label.text() == label, kind
        qtbot.waitUntil(lambda: (window.action("open_model").isEnabled()
                                 and window.progress.isHidden()))
        window.close_error_boxes()
    # and the app still samples
    result = sample_once(qtbot, window)
    assert result.final.shape == (2, 1, 28, 28) and np.isfinite(result.final).all()


def test_model_that_turns_nan_mid_run_fails_the_run_only(qtbot, window, tmp_path,
                                                         tiny_model_path):
    """eps = sqrt(x) passes the probe on zeros, then gives NaN for negative noise."""
    path = om.save(om.unary_model("Sqrt", ("B", 1, 28, 28)), tmp_path / "sqrt.onnx")
    with qtbot.waitSignal(window.context.image_model_changed, timeout=30000):
        window.load_model(path)
    panel = window.panels["sampling"]
    panel.steps_spin.setValue(5)
    title, message = expect_error(qtbot, window.context, panel.run)
    assert "sqrt.onnx" in message and "non-finite" in message
    assert not panel.is_busy() and panel.run_button.isEnabled()
    window.close_error_boxes()
    # the user can go back to a good model and sample again
    with qtbot.waitSignal(window.context.image_model_changed, timeout=30000):
        window.load_model(tiny_model_path)
    assert sample_once(qtbot, window).final.shape == (2, 1, 28, 28)


def _gray_idx_folder(folder, n=12):
    from tests.core.test_data import write_split

    rng = np.random.default_rng(0)
    write_split(folder, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                rng.integers(0, 10, n).astype(np.uint8))
    return folder


def test_rgb_64_model_with_a_gray_28_data_set(qtbot, window, tmp_path):
    """The model's metadata says 64x64 RGB, the data set is 28x28 gray: every panel that
    compares the two says so instead of failing, and sampling uses the model's shape."""
    info = ModelInfo(kind="image", sample_shape=(3, 64, 64), dataset="rgb64")
    path = om.save(om.eps_model(("B", 3, 64, 64), info=info), tmp_path / "rgb64.onnx")
    with qtbot.waitSignal(window.context.image_model_changed, timeout=30000):
        window.load_model(path)
    assert "3×64×64" in window.model_label.text()
    with qtbot.waitSignal(window.context.dataset_changed, timeout=30000):
        window.open_data(_gray_idx_folder(tmp_path / "gray"))
    assert window.context.dataset.image_shape[:2] == (28, 28)

    grid = window.panels["grid"]
    grid.steps_spin.setValue(2)
    grid.count_spin.setValue(4)
    with qtbot.waitSignal(grid.batch_finished, timeout=30000):
        grid.new_batch()
    assert grid.samples.shape == (4, 3, 64, 64)
    with qtbot.waitSignal(window.context.status_message, timeout=5000) as status:
        grid.real_check.setChecked(True)
    assert "differs" in status.args[0]
    assert not grid.board.is_shown(1)  # the real-images slot
    title, message = expect_error(qtbot, window.context, lambda: grid.nn_check.setChecked(True))
    assert "(1, 28, 28)" in message and "(3, 64, 64)" in message and "matching" in message
    window.close_error_boxes()

    # "Denoise from here" from a 28x28 gray image: resized to the model's 3x64x64
    forward, sampling = window.panels["forward"], window.panels["sampling"]
    forward.slider.setValue(200)
    sampling.steps_spin.setValue(4)
    with qtbot.waitSignal(sampling.run_completed, timeout=30000) as done:
        forward.request_denoise()
    assert done.args[0].final.shape[1:] == (3, 64, 64)
