"""An exact epsilon network for Gaussian data, built with onnx.helper (no torch).

For data x0 ~ N(mu, diag(s^2)) and x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, the minimum
mean-squared-error prediction of eps is

    E[eps | x_t] = sqrt(1 - ab_t) (x_t - sqrt(ab_t) mu) / (ab_t s^2 + 1 - ab_t),

so a sampler run on this model should return samples with mean mu and std s. The graph gathers
the per-timestep coefficient tables with the int64 timestep input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from diffview.core.schedules import make_schedule
from diffview.engine.metadata import ModelInfo, set_onnx_metadata


def gaussian_eps_model(mu: np.ndarray, std: np.ndarray, T: int = 1000,  # noqa: N803
                       schedule: str = "linear", info: ModelInfo | None = None
                       ) -> onnx.ModelProto:
    """Model for data N(mu, diag(std^2)); ``mu`` and ``std`` have the sample shape."""
    mu = np.asarray(mu, np.float64)
    std = np.broadcast_to(np.asarray(std, np.float64), mu.shape)
    ab = make_schedule(schedule, T=T).alpha_bars.reshape((T,) + (1,) * mu.ndim)
    coef = np.sqrt(1 - ab) / (ab * std**2 + 1 - ab)
    shift = np.sqrt(ab) * mu
    dims = ["B", *mu.shape]
    nodes = [
        helper.make_node("Gather", ["coef", "t"], ["c"], axis=0),
        helper.make_node("Gather", ["shift", "t"], ["m"], axis=0),
        helper.make_node("Sub", ["x", "m"], ["d"]),
        helper.make_node("Mul", ["c", "d"], ["eps"]),
    ]
    inits = [numpy_helper.from_array(coef.astype(np.float32), "coef"),
             numpy_helper.from_array(shift.astype(np.float32), "shift")]
    graph = helper.make_graph(
        nodes, "gaussian", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims),
                            helper.make_tensor_value_info("t", TensorProto.INT64, ["B"])],
        [helper.make_tensor_value_info("eps", TensorProto.FLOAT, dims)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="diffview-tests")
    model.ir_version = 8
    kind = "image" if mu.ndim == 3 else "points"
    info = info or ModelInfo(kind=kind, sample_shape=tuple(mu.shape), schedule=schedule, T=T,
                             value_range=(-1.0, 1.0) if kind == "image" else (-4.0, 4.0))
    set_onnx_metadata(model, info)
    return model


def save_gaussian_model(path: Path, mu, std, **kw) -> Path:
    path = Path(path)
    path.write_bytes(gaussian_eps_model(np.asarray(mu), np.asarray(std), **kw).SerializeToString())
    return path


def gaussian_vp_model(mu: np.ndarray, std: np.ndarray, beta_min: float = 0.1,
                      beta_max: float = 20.0) -> onnx.ModelProto:
    """Continuous-time model of points (d,) for data N(mu, diag(std^2)) under the VP SDE.

    With m(t) = exp(-t^2 (b1 - b0) / 4 - t b0 / 2) and s(t)^2 = 1 - m(t)^2,
    E[eps | x_t] = s (x - m mu) / (m^2 std^2 + s^2). The timestep input is float32 time.
    """
    mu = np.asarray(mu, np.float32)
    var = np.broadcast_to(np.asarray(std, np.float32) ** 2, mu.shape).astype(np.float32)
    c = {"qa": -0.25 * (beta_max - beta_min), "qb": -0.5 * beta_min, "one": 1.0}
    nodes = [
        helper.make_node("Unsqueeze", ["t", "axis1"], ["tc"]),
        helper.make_node("Mul", ["tc", "tc"], ["t2"]),
        helper.make_node("Mul", ["t2", "qa"], ["a"]),
        helper.make_node("Mul", ["tc", "qb"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["logm"]),
        helper.make_node("Exp", ["logm"], ["m"]),
        helper.make_node("Mul", ["m", "m"], ["m2"]),
        helper.make_node("Sub", ["one", "m2"], ["s2"]),
        helper.make_node("Sqrt", ["s2"], ["s"]),
        helper.make_node("Mul", ["m", "mu"], ["mmu"]),
        helper.make_node("Sub", ["x", "mmu"], ["d"]),
        helper.make_node("Mul", ["m2", "var"], ["mv"]),
        helper.make_node("Add", ["mv", "s2"], ["den"]),
        helper.make_node("Mul", ["s", "d"], ["num"]),
        helper.make_node("Div", ["num", "den"], ["eps"]),
    ]
    inits = [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in c.items()]
    inits += [numpy_helper.from_array(mu, "mu"), numpy_helper.from_array(var, "var"),
              numpy_helper.from_array(np.array([1], np.int64), "axis1")]
    dims = ["B", mu.shape[0]]
    graph = helper.make_graph(
        nodes, "gaussian_vp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims),
                               helper.make_tensor_value_info("t", TensorProto.FLOAT, ["B"])],
        [helper.make_tensor_value_info("eps", TensorProto.FLOAT, dims)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="diffview-tests")
    model.ir_version = 8
    set_onnx_metadata(model, ModelInfo(
        kind="points", sample_shape=(mu.shape[0],), time_kind="continuous",
        sde={"name": "vp", "beta_min": beta_min, "beta_max": beta_max, "T": 1.0},
        value_range=(-4.0, 4.0)))
    return model
