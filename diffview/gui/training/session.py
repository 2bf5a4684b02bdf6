"""A training run as the app sees it: the child process, its history, and the model hand-over.

:class:`TrainingSession` starts ``diffview train`` in a :class:`TrainingProcess`, keeps every
step's loss and every preview, and when the child has exported the model, validates the file
through the engine on a worker thread and makes it the app's model. A failed export or
validation leaves the current model in place and says why.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QStandardPaths, Signal

from diffview.gui.preferences import TrainingPrefs, load_preferences, save_preferences
from diffview.gui.training.process import TrainingProcess, clean_temporaries
from diffview.gui.workers import JobRunner, call_in_worker
from diffview.training.protocol import decode_array

__all__ = ["STATES", "TrainingSession", "runs_root", "validate_model_job"]

log = logging.getLogger(__name__)

STATES = ("idle", "starting", "running", "paused", "stopping", "exporting", "validating",
          "finished", "cancelled", "failed")
MODEL_NAME = "model.onnx"
CHECKPOINT_NAME = "checkpoint.pt"


def runs_root() -> Path:
    """Where training runs go: ``<per-user app data>/runs``, never inside the install."""
    loc = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    base = Path(loc) if loc else Path.home() / ".diffview"
    if base.name.lower() != "diffview" and "diffview" not in base.parts:
        base = base / "diffview"
    return base / "runs"


def new_run_dir(prefs: TrainingPrefs, root: Path | None = None) -> Path:
    root = Path(root) if root is not None else runs_root()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", prefs.toy if prefs.is_toy
                  else (Path(prefs.data_path).name or "data"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = root / f"{stamp}-{slug}"
    n = 2
    while path.exists():
        path = root / f"{stamp}-{slug}-{n}"
        n += 1
    path.mkdir(parents=True)
    return path


def validate_model_job(path: Path, device: str, threads: int | None, sample_shape):
    """A worker job: open ``path`` through the engine and run it once; returns the denoiser."""

    def job():
        from diffview.engine import ModelError, OnnxDenoiser

        model = OnnxDenoiser(path, device=device, threads=threads)
        info = model.info
        if sample_shape is not None and tuple(info.sample_shape) != tuple(sample_shape):
            raise ModelError(f"{path}: the exported model takes samples of shape "
                             f"{tuple(info.sample_shape)}, the run trained on "
                             f"{tuple(sample_shape)}")
        x = np.random.default_rng(0).standard_normal((2, *info.sample_shape), dtype=np.float32)
        if info.time_kind == "index":
            t = np.array([0, info.T - 1], np.int64)
        else:
            t = np.array([0.05, 0.95], np.float32)
        eps = model.predict_eps(x, t)  # raises ModelError on NaN/inf
        if eps.shape != x.shape:
            raise ModelError(f"{path}: output shape {eps.shape} differs from input {x.shape}")
        return model

    return call_in_worker(job)


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

    def __init__(self, context, parent: QObject | None = None, runs_dir: Path | None = None):
        super().__init__(parent)
        self.context = context
        self.runs_dir = runs_dir
        self.proc = TrainingProcess(self)
        self.proc.event_received.connect(self._on_event)
        self.proc.log_received.connect(self.message)
        self.proc.exited.connect(self._on_exit)
        self._validator = JobRunner("validate model", self)
        self._validator.run_finished.connect(self._on_validated)
        self._validator.run_failed.connect(self._on_validation_failed)
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
        self._error_event: dict | None = None
        self._exported: str | None = None
        self._cancelling = False
        self.cancel_requested_at = 0.0

    # ---- commands -------------------------------------------------------------------------

    def is_active(self) -> bool:
        return self.proc.is_running() or self.state in ("starting", "validating")

    def can_continue(self) -> bool:
        return (not self.is_active() and self.run_dir is not None and self.prefs is not None
                and (self.run_dir / CHECKPOINT_NAME).is_file()
                and self.state in ("cancelled", "failed"))

    def start(self, prefs: TrainingPrefs, run_dir: Path | None = None) -> Path:
        """Start a new run with ``prefs``; returns its folder."""
        if self.is_active():
            raise RuntimeError("a training run is already in progress")
        self.prefs = prefs
        self.run_dir = Path(run_dir) if run_dir is not None else new_run_dir(prefs,
                                                                             self.runs_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._reset_history()
        self._launch([])
        return self.run_dir

    def continue_run(self) -> None:
        """Resume the last (cancelled or crashed) run from its checkpoint."""
        if not self.can_continue():
            raise RuntimeError("there is no stopped run with a checkpoint to continue")
        self._launch(["--resume", str(self.run_dir / CHECKPOINT_NAME)])

    def pause(self) -> None:
        self.proc.send("pause")

    def resume(self) -> None:
        self.proc.send("resume")

    def cancel(self) -> None:
        """Stop after the current step; the child writes a checkpoint and exits."""
        if self.proc.send("stop"):
            self._cancelling = True
            self.cancel_requested_at = time.monotonic()
            self._set_state("stopping")

    def shutdown(self) -> None:
        """On close: stop the child (kill after a grace period) and any validation."""
        self.proc.shutdown()
        self._validator.shutdown()
        if self.run_dir is not None:
            clean_temporaries(self.run_dir)

    # ---- internals ------------------------------------------------------------------------

    def _launch(self, extra: list[str]) -> None:
        assert self.prefs is not None and self.run_dir is not None
        self._error_event = None
        self._exported = None
        self._cancelling = False
        self.error_message = ""
        self.model_path = None
        args = [*self.prefs.cli_args(), "--run-dir", str(self.run_dir),
                "--out", str(self.run_dir / MODEL_NAME), *extra]
        self._set_state("starting")
        self.message.emit(f"run folder: {self.run_dir}")
        self.proc.start(args)

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
            self._exported = str(ev.get("path"))
            diff = ev.get("max_abs_diff")
            self.message.emit(f"exported {self._exported}"
                              + (f" (parity {diff:.1e})" if diff is not None else ""))
        elif kind == "error":
            self._error_event = ev
            self.message.emit(f"error ({ev.get('stage')}): {ev.get('message')}")

    def _checkpoint_note(self) -> str:
        if self.run_dir is not None and (self.run_dir / CHECKPOINT_NAME).is_file():
            step = f" (step {self.checkpoint_step})" if self.checkpoint_step >= 0 else ""
            return f" The last checkpoint{step} is kept; Continue resumes from it."
        return ""

    def _on_exit(self, code: int, crashed: bool) -> None:
        if self.run_dir is not None:
            clean_temporaries(self.run_dir)
        if code == 0 and self._exported:
            self._set_state("validating")
            self.message.emit("validating the new model through the engine…")
            threads = load_preferences(self.context.settings).inference.threads or None
            self._validator.start(validate_model_job(Path(self._exported), self.context.device,
                                                     threads, self.sample_shape))
            return
        if code == 0:  # nothing to export (cannot happen with --out, but say so)
            self._fail("training ended without exporting a model")
            return
        if self._cancelling and code == 130:
            self._set_state("cancelled")
            self.message.emit("cancelled." + self._checkpoint_note())
            self.context.report_status("Training cancelled." + self._checkpoint_note())
            return
        if self._error_event is not None:
            stage = self._error_event.get("stage")
            text = str(self._error_event.get("message"))
            if stage == "export":
                text = f"{text}. The current model stays in use."
        elif crashed or code < 0:
            text = self.proc.start_error or (
                "the training process stopped unexpectedly (killed, or it crashed)")
            tail = [ln for ln in self.proc.stderr_tail if ln.strip()]
            if tail and not self.proc.start_error:
                text += f": {tail[-1]}"
        else:
            tail = [ln for ln in self.proc.stderr_tail if ln.strip()]
            text = tail[-1] if tail else f"the training process exited with status {code}"
        self._fail(text + self._checkpoint_note())

    def _fail(self, text: str) -> None:
        self.error_message = text
        self._set_state("failed")
        self.message.emit(text)
        self.context.report_error("Training failed", text)

    def _on_validated(self, _rid: int, model) -> None:
        path = Path(model.path)
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
            setter = getattr(ctx, "set_toy_model", None)
            toy = self.prefs.toy if self.prefs is not None else ""
            if setter is not None:
                setter(toy, model)
                note = f"The trained 2-D model for {toy} is now used by the 2-D panel."
            else:
                note = f"The trained 2-D model for {toy} is saved as {path}."
        self.final_note = note
        self._set_state("finished")
        self.message.emit(note)
        ctx.report_status(note)
        self.model_ready.emit(str(path))

    def _on_validation_failed(self, _rid: int, message: str) -> None:
        self._fail(f"the exported model failed validation and was not used; the current model "
                   f"stays in use. {message}")
