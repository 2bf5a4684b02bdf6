"""The Training panel's run: its history, commands and the model hand-over.

:class:`TrainingSession` asks ``context.training`` (the training service) for a run of the
Preferences' options, keeps every step's loss and every preview from the child's events, and
when the service has checked the new model, makes it the app's model. A failed export or
validation leaves the current model in place and says why.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from diffview.gui.preferences import TrainingPrefs, load_preferences, save_preferences
from diffview.gui.training.service import CHECKPOINT_NAME, TrainingRun, TrainRequest
from diffview.training.protocol import decode_array

__all__ = ["STATES", "TrainingSession"]

log = logging.getLogger(__name__)

STATES = ("idle", "starting", "running", "paused", "stopping", "exporting", "validating",
          "finished", "cancelled", "failed")


class TrainingSession(QObject):
    """Start, pause, resume, cancel and continue a training run; keep its history.

    Signals
    -------
    state_changed(str)     one of :data:`STATES`.
    progress_updated(dict) the latest progress event.
    preview_added(int)     index of a new entry in :attr:`previews`.
    history_changed()      the curve and previews were reset or cut back (a resumed run).
    message(str)           a line for the panel's log.
    model_ready(str)       the path of the new model, validated and in use.
    """

    state_changed = Signal(str)
    progress_updated = Signal(dict)
    preview_added = Signal(int)
    history_changed = Signal()
    message = Signal(str)
    model_ready = Signal(str)
    event_received = Signal(dict)

    def __init__(self, context, parent: QObject | None = None, runs_dir: Path | None = None):
        super().__init__(parent)
        self.context = context
        self.runs_dir = runs_dir
        self.run: TrainingRun | None = None
        self.state = "idle"
        self.prefs: TrainingPrefs | None = None
        self.run_dir: Path | None = None
        self.kind = ""
        self.sample_shape: tuple[int, ...] | None = None
        self.total_steps = 0
        self.step = 0
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.avg_steps: list[int] = []
        self.avg_losses: list[float] = []
        self.previews: list[tuple[int, np.ndarray]] = []
        self.last_progress: dict = {}
        self.checkpoint_step = -1
        self.error_message = ""
        self.final_note = ""
        self.model_path: Path | None = None
        self.cancel_requested_at = 0.0

    # ---- commands -------------------------------------------------------------------------

    @property
    def proc(self):
        """The current run's child process (None before the first run)."""
        return self.run.proc if self.run is not None else None

    def is_active(self) -> bool:
        return self.run is not None and self.run.is_active()

    def can_continue(self) -> bool:
        return (not self.is_active() and self.run_dir is not None and self.prefs is not None
                and (self.run_dir / CHECKPOINT_NAME).is_file()
                and self.state in ("cancelled", "failed"))

    def start(self, prefs: TrainingPrefs, run_dir: Path | None = None) -> Path:
        """Start a new run with ``prefs``; returns its folder."""
        if self.is_active():
            raise RuntimeError("a training run is already in progress")
        self.prefs = prefs
        self._reset_history()
        self._launch(run_dir, None)
        return self.run_dir

    def continue_run(self) -> None:
        """Resume the last (cancelled or crashed) run from its checkpoint."""
        if not self.can_continue():
            raise RuntimeError("there is no stopped run with a checkpoint to continue")
        self._launch(self.run_dir, self.run_dir / CHECKPOINT_NAME)

    def pause(self) -> None:
        if self.run is not None:
            self.run.pause()

    def resume(self) -> None:
        if self.run is not None:
            self.run.resume()

    def cancel(self) -> None:
        """Stop after the current step; the child writes a checkpoint and exits."""
        if self.run is not None and self.run.proc.is_running():
            self.run.cancel()
            self.cancel_requested_at = time.monotonic()
            self._set_state("stopping")

    def shutdown(self) -> None:
        """On close: stop the child (kill after a grace period)."""
        if self.run is not None:
            self.run.shutdown()

    # ---- internals ------------------------------------------------------------------------

    def prepare(self, request: TrainRequest) -> TrainingRun:
        """A run of ``request`` on the training service wired to this session, not started."""
        self.error_message = ""
        self.model_path = None
        self.run = self.context.training.create(
            request, name="Training", on_event=self._on_event, on_log=self.message.emit,
            on_finished=self._on_finished, on_failed=self._fail,
            on_cancelled=self._on_cancelled)
        self.run_dir = self.run.run_dir
        return self.run

    def _launch(self, run_dir: Path | None, resume: Path | None) -> None:
        assert self.prefs is not None
        prefs = self.prefs
        if run_dir is None and self.runs_dir is not None:
            from diffview.gui.training.service import new_run_dir

            run_dir = new_run_dir(prefs.data_spec(), self.runs_dir)
        request = TrainRequest(data=prefs.data_spec(), steps=prefs.steps, seed=prefs.seed,
                               device=prefs.device, threads=prefs.threads,
                               preview_every=prefs.preview_every,
                               checkpoint_every=prefs.checkpoint_every,
                               args=tuple(prefs.cli_args()), run_dir=run_dir, resume=resume,
                               out=self.run.out if resume is not None and self.run else None)
        self._set_state("starting")
        run = self.prepare(request)
        self.message.emit(f"run folder: {run.run_dir}")
        run.launch()

    def _reset_history(self) -> None:
        self.kind, self.sample_shape, self.total_steps, self.step = "", None, 0, 0
        self.steps, self.losses, self.avg_steps, self.avg_losses = [], [], [], []
        self.previews = []
        self.last_progress = {}
        self.checkpoint_step = -1
        self.history_changed.emit()

    def _cut_history(self, step: int) -> None:
        """A resumed run goes on from its checkpoint: drop what came after it."""
        if self.steps and self.steps[-1] > step or self.previews and self.previews[-1][0] > step:
            keep = int(np.searchsorted(self.steps, step, side="right"))
            self.steps, self.losses = self.steps[:keep], self.losses[:keep]
            keep = int(np.searchsorted(self.avg_steps, step, side="right"))
            self.avg_steps, self.avg_losses = self.avg_steps[:keep], self.avg_losses[:keep]
            self.previews = [p for p in self.previews if p[0] <= step]
            self.history_changed.emit()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def _on_event(self, ev: dict) -> None:
        self.event_received.emit(ev)
        kind = ev["event"]
        if kind == "started":
            self.kind = str(ev.get("kind", ""))
            self.sample_shape = tuple(ev.get("sample_shape") or ()) or None
            self.total_steps = int(ev.get("total_steps") or 0)
            self.step = int(ev.get("step") or 0)
            self._cut_history(self.step)
            self.message.emit(f"training {ev.get('parameters', '?')} parameters on "
                              f"{ev.get('dataset', '?')} ({ev.get('device', 'cpu')}), "
                              f"steps {self.step}..{self.total_steps}")
            self._set_state("running")
        elif kind == "progress":
            self.last_progress = ev
            self.step = int(ev.get("step") or self.step)
            self.total_steps = int(ev.get("total_steps") or self.total_steps)
            steps, losses = ev.get("steps") or [], ev.get("losses") or []
            if len(steps) == len(losses):
                self.steps.extend(int(s) for s in steps)
                self.losses.extend(float(v) if v is not None else float("nan") for v in losses)
            if ev.get("loss_avg") is not None:
                self.avg_steps.append(self.step)
                self.avg_losses.append(float(ev["loss_avg"]))
            self.progress_updated.emit(ev)
        elif kind == "checkpoint":
            self.checkpoint_step = int(ev.get("step", -1))
        elif kind == "preview":
            try:
                samples = decode_array(ev.get("samples") or {})
            except ValueError as exc:
                self.message.emit(f"preview at step {ev.get('step')} unreadable: {exc}")
                return
            self.previews.append((int(ev.get("step", 0)), samples))
            self.preview_added.emit(len(self.previews) - 1)
        elif kind == "paused":
            self._set_state("paused")
            self.message.emit(f"paused at step {ev.get('step')}")
        elif kind == "resumed":
            self._set_state("running")
        elif kind == "stopping":
            self._set_state("stopping")
        elif kind == "status":
            self.message.emit(str(ev.get("message", "")))
        elif kind == "stopped":
            # (stdin stays open: end of input means "stop", which would cancel the export)
            self.message.emit(f"stopped ({ev.get('reason')}) at step {ev.get('step')}")
        elif kind == "exporting":
            self._set_state("exporting")
            self.message.emit("exporting to ONNX and checking it against torch…")
        elif kind == "exported":
            diff = ev.get("max_abs_diff")
            self.message.emit(f"exported {ev.get('path')}"
                              + (f" (parity {diff:.1e})" if diff is not None else ""))
        elif kind == "error":
            self.message.emit(f"error ({ev.get('stage')}): {ev.get('message')}")

    def _on_cancelled(self, note: str) -> None:
        self._set_state("cancelled")
        self.message.emit(note)
        self.context.report_status(note)

    def _fail(self, text: str) -> None:
        self.error_message = text
        self._set_state("failed")
        self.message.emit(text)
        self.context.report_error("Training failed", text)

    def _on_finished(self, result) -> None:
        model = result.model
        path = Path(result.path)
        self.model_path = path
        ctx = self.context
        if model.info.kind == "image":
            ctx.set_image_model(model)
            prefs = load_preferences(ctx.settings)
            from dataclasses import replace

            save_preferences(ctx.settings, replace(prefs, model=replace(prefs.model,
                                                                        path=str(path))))
            note = f"The trained model {path.name} is now in use by every panel."
        else:
            toy = self.prefs.toy if self.prefs is not None else ""
            ctx.set_toy_model(toy, model)
            note = f"The trained 2-D model for {toy} is now used by the 2-D panel."
        self.final_note = note
        self._set_state("finished")
        self.message.emit(note)
        ctx.report_status(note)
        self.model_ready.emit(str(path))
