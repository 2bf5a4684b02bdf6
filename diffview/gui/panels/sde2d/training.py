"""Training the 2-D network from the panel ("Train network") through the app's one training
service (``context.training``, :mod:`diffview.gui.training.service`): ``diffview train`` in a
child process on a built-in toy set or a drawing, under a step count and a time limit; the
service exports the model to the user models folder and opens it through the engine, so the
panel uses it like a bundled ``toy2d_*.onnx``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from diffview.training import torch_available

__all__ = ["TRAIN_JOB", "TRAIN_PRESET", "NetworkTrainer", "TrainedNetwork", "torch_available"]

TRAIN_JOB = "Train 2-D network"
# "Train in seconds" (options of diffview train): a 128 x 3 MLP with Fourier features (thin
# strokes stay sharp), batch 256, a high learning rate with a short warm-up and a short EMA (a
# run of a few thousand steps would be dominated by early weights under 0.999).
TRAIN_PRESET = {"hidden": 128, "layers": 3, "fourier": 6, "batch": 256, "lr": 2e-3,
                "warmup": 100, "ema": 0.995}


@dataclass(frozen=True)
class TrainedNetwork:
    """A network for the learned score: the engine model, its ONNX file and how it trained."""

    model: object           # an engine.OnnxDenoiser
    path: Path
    steps: int
    seconds: float
    loss: float
    stop_reason: str        # "steps" or "time"


class NetworkTrainer(QObject):
    """One 2-D training at a time on ``context.training``.

    Signals
    -------
    progress(object)
        A :class:`~diffview.gui.training.service.TrainProgress` (step, total, loss_avg,
        elapsed_s).
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
        self._run = None

    def start(self, data: str, steps: int, seconds: float, seed: int,
              points: np.ndarray | None = None, jitter: float = 0.0,
              preset: dict | None = None) -> None:
        """Train on ``data`` ("toy:NAME") or on ``points`` (N, 2) with Gaussian ``jitter``."""
        from diffview.gui.training.service import TrainRequest

        options = dict(TRAIN_PRESET if preset is None else preset)
        options["warmup"] = min(int(options.get("warmup", 0)), max(int(steps) // 4, 0))
        request = TrainRequest(data=data, steps=int(steps), points=points, jitter=jitter,
                               name="drawing" if points is not None else "", seed=int(seed),
                               max_seconds=float(seconds), options=options, threads=1)
        self._run = self._context.training.start(
            request, name=TRAIN_JOB, on_progress=self.progress.emit,
            on_finished=self._finished, on_failed=self._failed,
            on_cancelled=lambda _note: self._done(None))
        self.busy_changed.emit(True)

    def cancel(self) -> None:
        if self._run is not None:
            self._run.cancel()

    def is_busy(self) -> bool:
        return self._run is not None

    def _finished(self, result) -> None:
        self._done(TrainedNetwork(result.model, Path(result.path), int(result.steps),
                                  float(result.seconds), float(result.loss),
                                  result.stop_reason or "steps"))

    def _done(self, network: TrainedNetwork | None) -> None:
        self._run = None
        self.busy_changed.emit(False)
        self.ended.emit(network)

    def _failed(self, message: str) -> None:
        self._run = None
        self.busy_changed.emit(False)
        self.failed.emit(message)
