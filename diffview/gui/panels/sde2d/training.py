"""Training the 2-D network from the panel ("Train network"), as a Job.

:func:`run_train_points` trains a :class:`~diffview.training.mlp.PointMLP` with
:func:`diffview.training.loop.train` (the loop of ``diffview train``) on a built-in toy set or
a drawing, under a step count and a time limit, exports the EMA weights to ONNX
(parity-checked) and opens the file with the engine, so the panel uses it like a bundled
``toy2d_*.onnx``. torch is imported on the worker, only when training starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from diffview.gui.jobs import Job
from diffview.runs.base import Progress
from diffview.training import torch_available

__all__ = ["TRAIN_JOB", "TRAIN_PRESET", "NetworkTrainer", "TrainFrame", "TrainedNetwork",
           "run_train_points", "torch_available", "train_config"]

TRAIN_JOB = "Train 2-D network"
# "Train in seconds": a 128 x 3 MLP with Fourier features (thin strokes stay sharp), batch 256,
# a high learning rate with a short warm-up and a short EMA (a run of a few thousand steps
# would be dominated by early weights under 0.999).
TRAIN_PRESET = {"hidden": 128, "layers": 3, "fourier": 6, "batch_size": 256, "lr": 2e-3,
                "warmup": 100, "ema": 0.995, "threads": 1}


@dataclass(frozen=True)
class TrainedNetwork:
    """A finished training: the engine model, its ONNX file and how the run went."""

    model: object           # an engine.OnnxDenoiser
    path: Path
    steps: int
    seconds: float
    loss: float
    stop_reason: str        # "steps" or "time"


@dataclass(frozen=True, kw_only=True)
class TrainFrame(Progress):
    """Training progress: ``stage`` "train" (``loss``, ``elapsed`` s) or "export"."""

    stage: str
    loss: float = float("nan")
    elapsed: float = 0.0


def train_config(source: str, steps: int, seconds: float, seed: int = 0,
                 preset: dict | None = None):
    """The :class:`~diffview.training.config.TrainConfig` of a panel training run
    (``source`` ``toy:NAME``, or ``points:NAME`` when the points are passed in)."""
    from diffview.training.config import TrainConfig

    opts = dict(TRAIN_PRESET if preset is None else preset)
    opts["warmup"] = min(int(opts.get("warmup", 0)), max(int(steps) // 4, 0))
    return TrainConfig(data=source, steps=int(steps), max_minutes=float(seconds) / 60.0,
                       seed=int(seed), checkpoint_every=0, preview_every=0, **opts)


def run_train_points(config, workdir: Path, points: np.ndarray | None = None,
                     jitter: float = 0.0, token=None, name: str = "drawing"):
    """Train on ``config.data`` or on ``points`` (N, 2) with Gaussian ``jitter`` (a drawing's
    kernel density), export to ``workdir/model.onnx`` and open it. Yields :class:`TrainFrame`;
    returns a :class:`TrainedNetwork`, or None when cancelled."""
    from diffview.engine import OnnxDenoiser
    from diffview.training.data import load_training_data, points_training_data
    from diffview.training.export import export_checkpoint
    from diffview.training.loop import CHECKPOINT_NAME, train

    workdir = Path(workdir)
    cancelled = (lambda: token.cancelled) if token is not None else (lambda: False)
    data = (points_training_data(points, jitter=jitter, name=name) if points is not None
            else load_training_data(config.data))
    last = None
    for p in train(config, out_dir=workdir, data=data, should_stop=cancelled):
        last = p
        yield TrainFrame(step=p.step, total=p.total_steps, stage="train", loss=p.loss_avg,
                         elapsed=p.elapsed_s)
    if last is None or last.stop_reason == "cancelled" or cancelled():
        return None
    yield TrainFrame(step=last.step, total=last.total_steps, stage="export")
    result = export_checkpoint(workdir / CHECKPOINT_NAME, workdir / "model.onnx",
                               should_cancel=cancelled)
    model = OnnxDenoiser(result.path, device="cpu", threads=1)
    return TrainedNetwork(model, result.path, last.step, last.elapsed_s, last.loss_avg,
                          last.stop_reason or "steps")


class NetworkTrainer(QObject):
    """Runs one training at a time through ``context.jobs``.

    Signals
    -------
    progress(object)
        A :class:`TrainFrame`.
    ended(object)
        The :class:`TrainedNetwork`, or None when stopped.
    failed(str)
        The error message.
    busy_changed(bool)
    """

    progress = Signal(object)
    ended = Signal(object)
    failed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, context, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._lane = f"sde2d-train-{id(self)}"
        self._busy = False

    def start(self, config, workdir: Path, points: np.ndarray | None, jitter: float) -> int:
        rid = self._context.jobs.start(Job(
            TRAIN_JOB, lambda token: run_train_points(config, workdir, points, jitter, token),
            on_frame=self.progress.emit, on_result=self._done,
            on_cancelled=lambda _p: self._done(None), on_error=self._failed,
            lane=self._lane, max_fps=10))
        self._set_busy(True)
        return rid

    def cancel(self) -> None:
        self._context.jobs.cancel(self._lane)

    def is_busy(self) -> bool:
        return self._busy

    def _done(self, result) -> None:
        self._set_busy(False)
        self.ended.emit(result)

    def _failed(self, message: str) -> None:
        self._set_busy(False)
        self.failed.emit(message)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
