"""Export a checkpoint's EMA weights to one self-contained ONNX file, with metadata.

The file is written to a temporary name next to the target, checked against torch on random
inputs through onnxruntime, and only then renamed into place; any failure (parity above the
tolerance, an exporter error, Ctrl-C) leaves no file behind and an older file untouched.

Exporter: the TorchScript-based exporter (``dynamo=False``). On this project's 2-core CPU it
runs in seconds where the dynamo exporter takes 20 times longer, it handles every op these
networks use (GroupNorm, einsum, nearest Resize), and it writes a single file with no external
data. Its deprecation warning is silenced here; the parity check guards the result either way.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from diffview.training.checkpoint import atomic_write_bytes, load_checkpoint, load_weights
from diffview.training.config import TrainConfig
from diffview.training.unet import count_parameters

OPSET = 17
PARITY_TOL = 1e-4
# Toy sets lie roughly in [-4, 4]; for points the value range is informative only.
_POINTS_RANGE = (-4.0, 4.0)


class ExportError(RuntimeError):
    """The ONNX export failed or does not match the torch network."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_checkpoint` wrote: the path, the parity error and the metadata."""

    path: Path
    max_abs_diff: float
    metadata: dict


def model_info_for(state: dict):
    """The :class:`diffview.engine.metadata.ModelInfo` that describes a checkpoint's network."""
    from diffview.engine.metadata import ModelInfo

    config = TrainConfig.from_dict(state["config"])
    shape = tuple(int(v) for v in state["sample_shape"])
    extra = {
        "architecture": "unet" if len(shape) == 3 else "mlp",
        "parameters": int(state.get("parameters", 0)),
        "seed": config.seed,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "ema": config.ema,
        "train_seconds": round(float(state.get("elapsed_s", 0.0)), 1),
        "final_loss_avg": float(state.get("loss_avg", float("nan"))),
        "exported_weights": "ema",
    }
    if len(shape) == 3:
        extra.update(widths=list(config.widths), blocks=list(config.blocks),
                     attention=config.attention)
        info = ModelInfo(kind="image", sample_shape=shape, schedule=config.schedule, T=config.T,
                         time_kind="index", sde=None, value_range=(-1.0, 1.0),
                         dataset=state.get("dataset", "unknown"),
                         class_names=tuple(state.get("class_names", ())),
                         training_steps=int(state["step"]), extra=extra)
        if config.num_classes:  # class-conditional (training/cond.py): label num_classes = null
            names = tuple(state.get("class_names", ()))
            if len(names) != config.num_classes:
                names = tuple(str(k) for k in range(config.num_classes))
            info = info.replace(num_classes=config.num_classes, null_class=config.num_classes,
                                class_names=names,
                                extra={**extra, "p_uncond": config.p_uncond})
        if config.cold is not None:  # a restoration network: prediction x0, its degradation
            from diffview.training.cold import cold_model_info

            info = cold_model_info(info, config, state)
        return info
    extra.update(hidden=config.hidden, layers=config.layers, fourier=config.fourier,
                 t_min=config.t_min)
    if config.objective == "fm":  # a flow-matching velocity network (training/flow.py)
        from diffview.training.flow import flow_model_info

        return flow_model_info(config, state, shape, extra, _POINTS_RANGE)
    return ModelInfo(kind="points", sample_shape=shape, schedule=config.schedule, T=config.T,
                     time_kind="continuous",
                     sde={"name": "vp", "beta_min": config.beta_min,
                          "beta_max": config.beta_max, "T": 1.0},
                     value_range=_POINTS_RANGE,
                     dataset=state.get("dataset", "unknown"), class_names=(),
                     training_steps=int(state["step"]), extra=extra)




def _example_inputs(shape: tuple[int, ...], batch: int, gen: torch.Generator, T: int):  # noqa: N803
    x = torch.randn((batch, *shape), generator=gen)
    if len(shape) == 3:
        t = torch.randint(0, T, (batch,), generator=gen, dtype=torch.int64)
    else:
        t = torch.rand((batch,), generator=gen)
    return x, t


def export_module(
    model: torch.nn.Module,
    sample_shape: tuple[int, ...],
    path: str | os.PathLike,
    info=None,
    T: int = 1000,  # noqa: N803
    tol: float = PARITY_TOL,
    should_cancel: Callable[[], bool] | None = None,
) -> ExportResult:
    """Export ``model`` (``eps(x, t)``) to ``path`` and check it against torch.

    Parameters
    ----------
    model : the network; it is put in eval mode.
    sample_shape : ``(C, H, W)`` (int64 timestep input) or ``(d,)`` (float32 time input).
    path : target file; written atomically.
    info : a :class:`~diffview.engine.metadata.ModelInfo` written to ``metadata_props``.
    T : timesteps, for drawing random indices in the parity check.
    tol : largest allowed max-abs difference between onnxruntime and torch.
    should_cancel : polled between stages; when True the export stops with
        :class:`ExportError` and writes nothing.

    Raises
    ------
    ExportError
        on an exporter error, a parity difference above ``tol``, or cancellation.
    """
    import onnx
    import onnxruntime as ort

    def check_cancel() -> None:
        if should_cancel is not None and should_cancel():
            raise ExportError("export cancelled; no file was written")

    path = Path(path)
    model = model.eval()
    gen = torch.Generator().manual_seed(0)
    x, t = _example_inputs(sample_shape, 2, gen, T)
    n_classes = int(getattr(model, "num_classes", 0) or 0)
    args, names = (x, t), ["x", "t"]
    if n_classes:  # a third input: int64 class labels [B] in 0..num_classes (null)
        args, names = (x, t, torch.tensor([0, n_classes])), ["x", "t", "labels"]
    check_cancel()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, args, buf, dynamo=False, opset_version=OPSET,
                input_names=names, output_names=["eps"],
                dynamic_axes={**{n: {0: "batch"} for n in names}, "eps": {0: "batch"}},
            )
    except Exception as exc:  # the exporter raises many types
        raise ExportError(f"torch.onnx.export failed: {exc}") from exc
    check_cancel()
    proto = onnx.load_from_string(buf.getvalue())
    proto.doc_string = ("diffview class-conditional epsilon network eps(x, t, labels)"
                        if n_classes else "diffview epsilon network eps(x, t)")
    if info is not None:
        from diffview.engine.metadata import set_onnx_metadata

        set_onnx_metadata(proto, info)
    data = proto.SerializeToString()

    # Parity on random inputs of a batch size other than the traced one (checks the dynamic
    # batch axis too), over the whole time range.
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    xs, ts = _example_inputs(sample_shape, 5, gen, T)
    if len(sample_shape) == 3:
        ts[0], ts[-1] = 0, T - 1
    else:
        ts[0], ts[-1] = 1e-3, 1.0
    feeds = {"x": xs.numpy(), "t": ts.numpy()}
    with torch.no_grad():
        if n_classes:
            ys = torch.randint(0, n_classes + 1, (xs.shape[0],), generator=gen)
            ys[-1] = n_classes
            feeds["labels"] = ys.numpy()
            want = model(xs, ts, ys).numpy()
        else:
            want = model(xs, ts).numpy()
    got = sess.run(None, feeds)[0]
    if got.shape != want.shape:
        raise ExportError(f"ONNX output shape {got.shape} differs from torch's {want.shape}")
    diff = float(np.max(np.abs(got - want)))
    if not np.isfinite(diff) or diff > tol:
        raise ExportError(
            f"ONNX and torch outputs differ by {diff:.3g} (max abs), above the tolerance "
            f"{tol:g}; no file was written")
    check_cancel()
    atomic_write_bytes(path, lambda fh: fh.write(data))
    meta = {p.key: p.value for p in proto.metadata_props}
    return ExportResult(path, diff, meta)


def export_checkpoint(
    checkpoint: str | os.PathLike,
    path: str | os.PathLike,
    use_ema: bool = True,
    tol: float = PARITY_TOL,
    should_cancel: Callable[[], bool] | None = None,
) -> ExportResult:
    """Export a training checkpoint's EMA (or raw) weights to ``path`` with metadata.

    See :func:`export_module` for the checks and the errors.
    """
    from diffview.training.loop import build_model

    state = load_checkpoint(checkpoint, purpose="export")
    config = TrainConfig.from_dict(state["config"])
    shape = tuple(int(v) for v in state["sample_shape"])
    model = build_model(config, shape)
    load_weights(model, state["ema" if use_ema else "model"], checkpoint,
                 "EMA" if use_ema else "raw")
    info = model_info_for(state)
    info = info.replace(extra={**info.extra, "parameters": count_parameters(model),
                               "exported_weights": "ema" if use_ema else "raw"})
    return export_module(model, shape, path, info=info, T=config.T, tol=tol,
                         should_cancel=should_cancel)


__all__ = ["ExportError", "ExportResult", "export_checkpoint", "export_module", "model_info_for"]
