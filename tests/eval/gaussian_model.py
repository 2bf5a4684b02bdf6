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
