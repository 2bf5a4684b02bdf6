"""Loaders that can't be wedged: the load-time probe has a time and a size budget.

Every case runs with a wall-clock bound (a subprocess with ``timeout=`` or a join with a
timeout), so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from diffview.cli import run_cli
from diffview.engine import ModelError, ModelInfo, OnnxDenoiser
from tests.engine import onnx_models as om

DIMS = ["B", 1, 4, 4]


def _io(dims=DIMS):
    return ([helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims)),
             helper.make_tensor_value_info("t", TensorProto.INT64, [dims[0]])],
            [helper.make_tensor_value_info("eps", TensorProto.FLOAT, list(dims))])


def _counting_body():
    """Loop body (i, cond) -> (cond, v + 1): each iteration does a little work."""
    return helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [])],
        initializer=[numpy_helper.from_array(np.array(1.0, np.float32), "one")])


def _model(nodes, inits, dims=DIMS, props=None):
    inputs, outputs = _io(dims)
    graph = helper.make_graph(nodes, "wedge", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if props:
        helper.set_model_props(model, props)
    return model


def loop_model(trips: int | None, how: str = "initializer"):
    """eps = x * Loop(trips){v += 1}. ``how``: where the trip count comes from.

    initializer / constant: a constant the loader can read; runtime: computed from the
    timestep input (unknown before running); endless: no trip count, the condition stays true.
    """
    inits = [numpy_helper.from_array(np.array(True), "cond"),
             numpy_helper.from_array(np.array(0.0, np.float32), "v0")]
    nodes = []
    if how == "initializer":
        inits.append(numpy_helper.from_array(np.array(trips, np.int64), "M"))
    elif how == "constant":
        nodes.append(helper.make_node("Constant", [], ["M"], value=numpy_helper.from_array(
            np.array(trips, np.int64))))
    elif how == "runtime":  # M = trips + 0 * min(t): only known when the model runs
        inits += [numpy_helper.from_array(np.array(trips, np.int64), "big"),
                  numpy_helper.from_array(np.array(0, np.int64), "zero")]
        nodes += [helper.make_node("ReduceMin", ["t"], ["tmin"], keepdims=0),
                  helper.make_node("Mul", ["tmin", "zero"], ["t0"]),
                  helper.make_node("Add", ["big", "t0"], ["M"])]
    loop_inputs = ["" if how == "endless" else "M", "cond", "v0"]
    nodes += [helper.make_node("Loop", loop_inputs, ["vfinal"], body=_counting_body(),
                               name="spin"),
              helper.make_node("Mul", ["x", "vfinal"], ["eps"])]
    return _model(nodes, inits)


def nested_loop_model(trips: int):
    """The huge Loop sits inside an If branch: the check must look into subgraphs."""
    inner = loop_model(trips).graph
    then = helper.make_graph(list(inner.node), "then", [], [
        helper.make_tensor_value_info("eps", TensorProto.FLOAT, DIMS)],
        initializer=list(inner.initializer))
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["eps_else"])], "else", [],
                              [helper.make_tensor_value_info("eps_else", TensorProto.FLOAT,
                                                             DIMS)])
    inits = [numpy_helper.from_array(np.array(True), "flag")]
    nodes = [helper.make_node("If", ["flag"], ["eps"], then_branch=then, else_branch=other)]
    return _model(nodes, inits)


def _load_within(path, seconds: float, **kw):
    """OnnxDenoiser(path) in a thread; fail the test if it has not returned in ``seconds``."""
    result = {}

    def target():
        try:
            result["model"] = OnnxDenoiser(path, device="cpu", **kw)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            result["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"loading {path.name} hung for more than {seconds} s"
    return result, time.monotonic() - start


# ------------------------------------------------------------------------------ time budget


@pytest.mark.parametrize("how", ["initializer", "constant"])
@pytest.mark.parametrize("trips", [10**12, 10**7])
def test_a_constant_huge_loop_is_refused_without_running_it(tmp_path, how, trips):
    path = om.save(loop_model(trips, how), tmp_path / "loop.onnx")
    result, seconds = _load_within(path, 60)
    err = result.get("error")
    assert isinstance(err, ModelError), result
    assert f"runs {trips:,} iterations" in str(err) and "'spin'" in str(err)
    assert str(path) in str(err) and "\n" not in str(err)
    assert seconds < 20  # refused from the graph, not after the time budget


def test_a_loop_inside_a_subgraph_is_found(tmp_path):
    path = om.save(nested_loop_model(10**12), tmp_path / "nested.onnx")
    result, _ = _load_within(path, 60)
    assert "runs 1,000,000,000,000 iterations" in str(result.get("error"))


@pytest.mark.parametrize("how", ["runtime", "endless"])
def test_a_loop_that_never_ends_is_stopped_by_the_time_budget(tmp_path, how):
    path = om.save(loop_model(10**12, how), tmp_path / "spin.onnx")
    result, seconds = _load_within(path, 60, probe_seconds=1.0)
    err = result.get("error")
    assert isinstance(err, ModelError), result
    assert "did not finish within the load budget of 1 s" in str(err)
    assert 0.9 < seconds < 30


def test_a_small_loop_still_loads_and_runs(tmp_path):
    path = om.save(loop_model(3), tmp_path / "three.onnx")
    result, _ = _load_within(path, 60)
    model = result["model"]
    x = np.ones((2, 1, 4, 4), np.float32)
    assert np.allclose(model.predict_eps(x, 5), 3.0)  # eps = x * (0 + 1 + 1 + 1)


def test_diffview_info_does_not_hang_on_a_loop_of_10_to_the_12(tmp_path):
    path = om.save(loop_model(10**12), tmp_path / "loop.onnx")
    proc = subprocess.run([sys.executable, "-m", "diffview", "info", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "runs 1,000,000,000,000 iterations" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_diffview_info_and_sample_stop_an_endless_loop(tmp_path):
    path = om.save(loop_model(None, "endless"), tmp_path / "endless.onnx")
    code = ("import sys\nimport diffview.engine.onnx_denoiser as od\n"
            "od.PROBE_TIME_BUDGET_S = 1.0\n"
            "from diffview.cli import run_cli\n"
            "sys.exit(run_cli(sys.argv[1:]))\n")
    for argv in (["info", str(path)],
                 ["sample", "--model", str(path), "--out", str(tmp_path / "g.png"), "--quiet"]):
        proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "did not finish within the load budget of 1 s" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "g.png").exists()


# ------------------------------------------------------------------------------ size budget


@pytest.mark.parametrize("dims", [
    ["B", 1, 100000, 100000],   # the issue's example: 74.5 GiB for a probe of batch 2
    [2, 3, 4096, 4096],         # 50 M values per sample
    ["B", 20_000_000],          # points of 20 M dimensions
])
def test_a_huge_static_sample_input_is_refused_before_any_allocation(tmp_path, dims):
    model = om.eps_model(sample_dims=dims, time_dims=[dims[0]])
    path = om.save(model, tmp_path / "huge.onnx")
    result, seconds = _load_within(path, 60)
    err = str(result.get("error"))
    assert "values per sample, more than the limit of 16,777,216" in err, err
    assert "refusing" in err and seconds < 20


def test_the_issue_static_input_of_100000_by_100000(tmp_path):
    """A rank-2 input [100000, 100000]: a fixed batch of 100,000 points of 100,000 values."""
    model = om.eps_model(sample_dims=[100000, 100000], time_dims=[100000],
                         time_type=TensorProto.FLOAT)
    path = om.save(model, tmp_path / "square.onnx")
    result, _ = _load_within(path, 60)
    err = str(result.get("error"))
    assert "the model's fixed batch of 100000" in err and "37.3 GiB" in err
    assert "load budget of 256 MiB" in err


def test_a_fixed_batch_over_the_budget_is_refused_and_one_under_loads(tmp_path):
    over = om.save(om.eps_model(sample_dims=[8192, 1, 128, 128], time_dims=[8192]),
                   tmp_path / "over.onnx")
    result, _ = _load_within(over, 60)
    assert "needs 512 MiB, more than the load budget of 256 MiB" in str(result.get("error"))
    under = om.save(om.eps_model(sample_dims=[16, 1, 28, 28], time_dims=[16]),
                    tmp_path / "under.onnx")
    result, _ = _load_within(under, 60)
    assert result["model"].fixed_batch == 16


@pytest.mark.parametrize("shape", [[1, 100000, 100000], [3, 8192, 8192], [10**9]])
def test_metadata_claiming_a_huge_shape_is_a_warning_not_an_allocation(tmp_path, shape):
    dims = ["B", "C", "H", "W"] if len(shape) == 3 else ["B", "D"]
    info = ModelInfo() if len(shape) == 3 else ModelInfo(kind="points", sample_shape=(2,),
                                                         time_kind="index")
    model = om.eps_model(sample_dims=dims, info=info)
    entry = next(p for p in model.metadata_props if p.key == "diffview.sample_shape")
    entry.value = str(shape)
    path = om.save(model, tmp_path / "claims.onnx")
    result, _ = _load_within(path, 60)
    loaded = result["model"]
    assert loaded.info.sample_shape == ((1, 28, 28) if len(shape) == 3 else (2,))
    warning = next(w for w in loaded.metadata_warnings if "diffview.sample_shape" in w)
    assert "expected at most 16,777,216 values per sample" in warning
    assert len(warning) < 300


def test_info_cli_shows_why_a_static_input_is_refused(tmp_path, capsys):
    path = om.save(om.eps_model(sample_dims=["B", 1, 100000, 100000]), tmp_path / "h.onnx")
    assert run_cli(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "10,000,000,000 values per sample" in err
    assert "74.5 GiB" in err

