"""Training the 2-D network from the SDE panel: the job that runs on a JobRunner (no Qt).

The job trains a :class:`~diffview.training.mlp.PointMLP` with :func:`diffview.training.loop.train`
(the same loop as ``diffview train``) on a built-in toy set or on a drawing, under a step count
and a time limit, then exports the EMA weights to ONNX (parity-checked) and opens the file with
the engine, so the panel uses it exactly like a bundled ``toy2d_*.onnx``.  torch is imported
on the worker, only when training starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffview.training import torch_available

__all__ = ["TRAIN_PRESET", "TrainedNetwork", "torch_available", "train_config",
           "train_points_job"]

# The network and optimiser for "train in seconds": 128 x 3 MLP with Fourier features (thin
# strokes stay sharp), batch 256, a high learning rate with a short warm-up, and a short EMA
# (a run of a few thousand steps would be dominated by early weights under 0.999).
TRAIN_PRESET = {"hidden": 128, "layers": 3, "fourier": 6, "batch_size": 256, "lr": 2e-3,
                "warmup": 100, "ema": 0.995, "threads": 1}


@dataclass
class TrainedNetwork:
    """What a finished training hands back to the panel."""

    model: object           # an engine.OnnxDenoiser
    path: Path              # the exported ONNX file
    steps: int
    seconds: float
    loss: float
    stop_reason: str        # "steps" or "time"


def train_config(source: str, steps: int, seconds: float, seed: int = 0,
                 preset: dict | None = None):
    """The :class:`~diffview.training.config.TrainConfig` of a panel training run.

    ``source`` is ``toy:NAME`` or ``points:NAME`` (only a label when the data is passed in).
    """
    from diffview.training.config import TrainConfig

    opts = dict(TRAIN_PRESET if preset is None else preset)
    opts["warmup"] = min(int(opts.get("warmup", 0)), max(int(steps) // 4, 0))
    return TrainConfig(data=source, steps=int(steps), max_minutes=float(seconds) / 60.0,
                       seed=int(seed), checkpoint_every=0, preview_every=0, **opts)


def train_points_job(config, workdir: Path, points: np.ndarray | None = None,
                     jitter: float = 0.0, name: str = "drawing"):
    """Job: train on ``config.data`` (a toy set) or on ``points`` (N, 2) with Gaussian
    ``jitter`` (a drawing's kernel density), export to ``workdir/model.onnx`` and open it.

    Frames: ``{"stage": "train", "step", "total", "loss", "elapsed", "eta"}`` after every step,
    then ``{"stage": "export"}``. Returns a :class:`TrainedNetwork`, or None when cancelled.
    """
    workdir = Path(workdir)

    def job(token):
        from diffview.engine import OnnxDenoiser
        from diffview.training.data import load_training_data, points_training_data
        from diffview.training.export import export_checkpoint
        from diffview.training.loop import CHECKPOINT_NAME, train

        if points is not None:
            data = points_training_data(points, jitter=jitter, name=name)
        else:
            data = load_training_data(config.data)
        last = None
        for p in train(config, out_dir=workdir, data=data,
                       should_stop=lambda: token.cancelled):
            last = p
            yield {"stage": "train", "step": p.step, "total": p.total_steps,
                   "loss": p.loss_avg, "elapsed": p.elapsed_s, "eta": p.eta_s}
        if last is None or last.stop_reason == "cancelled" or token.cancelled:
            return None
        yield {"stage": "export", "step": last.step, "total": last.total_steps}
        result = export_checkpoint(workdir / CHECKPOINT_NAME, workdir / "model.onnx",
                                   should_cancel=lambda: token.cancelled)
        model = OnnxDenoiser(result.path, device="cpu", threads=1)
        return TrainedNetwork(model, result.path, last.step, last.elapsed_s, last.loss_avg,
                              last.stop_reason or "steps")

    return job
