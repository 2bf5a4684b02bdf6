"""The training service: every training run of the app, image or 2-D, in a child process.

A feature asks for a run with a :class:`TrainRequest` and callbacks::

    run = context.training.start(
        TrainRequest(data="toy:moons", steps=300, options={"hidden": 128, "batch": 256}),
        on_progress=lambda p: ...,            # TrainProgress (step, total, loss_avg, eta_s, ...)
        on_preview=lambda step, x: ...,       # samples drawn by the child every preview_every
        on_finished=lambda result: ...,       # TrainResult: .path (the new .onnx), .model
        on_failed=lambda message: ...,        # one line, for the user
        on_cancelled=lambda note: ...)        # stopped by run.cancel() (or the status bar)
    run.cancel()                              # also run.pause(), run.resume()

The service runs ``diffview train --progress-json --stdin-control`` (:class:`TrainingProcess`),
turns its JSON lines (:mod:`diffview.training.protocol`) into these callbacks, shows the run in
the status bar through ``context.jobs.track`` (progress, ETA, Cancel), and when the child has
exported the model, opens and checks it through the engine on a worker
(:func:`validate_model`) before ``on_finished``. The new model is a file under
:func:`diffview.paths.user_models_dir` named after its data, steps and date; nothing is ever
written over a bundled model, and no model is put in use here: the caller decides.

Why a child process, also for a 2-D run of a few hundred steps: torch holds the GIL for long
stretches and can abort natively; in a child the GUI never waits on it and a crash takes down
only the child. The price is the child's start-up, mostly ``import torch``: 0.1 s for Python
plus 6.5-7.3 s for torch measured on the shared 2-core build machine at load average 9 (a
300-step moons run took 40 s in all there: 7.7 s to the first line, 23.5 s of steps, 5 s of
ONNX export and parity check). On an idle machine the import is about 1-2 s, which a run of
seconds to minutes can carry.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject

from diffview.gui.training.process import TrainingProcess, clean_temporaries
from diffview.gui.training.request import (
    CHECKPOINT_NAME,
    TrainProgress,
    TrainRequest,
    TrainResult,
    new_run_dir,
    validate_model,
)
from diffview.paths import trained_model_path, user_models_dir
from diffview.training.protocol import decode_array

__all__ = ["CHECKPOINT_NAME", "TrainProgress", "TrainRequest", "TrainResult", "TrainingRun",
           "TrainingService", "new_run_dir", "validate_model"]

log = logging.getLogger(__name__)

CANCELLED_EXIT = 130  # ``diffview train`` exits with this after a ``stop`` command


def _nan(value) -> float:
    return float(value) if value is not None else math.nan


class TrainingRun(QObject):
    """One training child and its callbacks (see :meth:`TrainingService.start`)."""

    def __init__(self, service: TrainingService, request: TrainRequest, name: str,
                 callbacks: dict[str, Callable | None]):
        super().__init__(service)
        self.service = service
        self.request = request
        self.name = name
        self._cb = callbacks
        self.proc = TrainingProcess(self)
        self.proc.event_received.connect(self._on_event)
        self.proc.log_received.connect(lambda line: self._call("on_log", line))
        self.proc.exited.connect(self._on_exit)
        self.run_dir: Path | None = None
        self.out: Path | None = None
        self.kind = ""
        self.sample_shape: tuple[int, ...] | None = None
        self.step = 0
        self.total = int(request.steps)
        self.checkpoint_step = -1
        self.last: TrainProgress | None = None
        self.stop_reason = ""
        self.exported: Path | None = None
        self.error_event: dict | None = None
        self.cancelling = False
        self.state = "starting"  # starting, running, paused, stopping, validating, ended
        self._ticket = None

    # ---- control ---------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the child (once)."""
        run_dir, out = self.run_dir, self.out
        data = self.request.data
        if self.request.points is not None:
            points_file = run_dir / "points.npz"
            from diffview.fileio import atomic_write

            with atomic_write(points_file) as f:
                np.savez(f, points=np.asarray(self.request.points, np.float32),
                         jitter=np.float64(self.request.jitter),
                         name=np.str_(self.request.dataset))
            data = f"points:{points_file}"
        self._ticket = self.service.context.jobs.track(self.name, self.cancel,
                                                       lane=f"training:{id(self)}")
        self.proc.start(self.request.cli_args(data, run_dir, out))

    def is_active(self) -> bool:
        return self.state != "ended"

    def pause(self) -> None:
        self.proc.send("pause")

    def resume(self) -> None:
        self.proc.send("resume")

    def cancel(self) -> None:
        """Stop after the current step; the child writes its checkpoint and exits."""
        if self.proc.send("stop"):
            self.cancelling = True
            self.state = "stopping"

    def shutdown(self) -> None:
        """Stop the child for good (a kill after a grace period); no callbacks follow."""
        self._cb = {}
        self.proc.shutdown()
        if self.run_dir is not None:
            clean_temporaries(self.run_dir)
        self._end("cancelled")

    def checkpoint(self) -> Path | None:
        """The run's last checkpoint, when there is one (``TrainRequest.resume`` takes it)."""
        path = self.run_dir / CHECKPOINT_NAME if self.run_dir is not None else None
        return path if path is not None and path.is_file() else None

    # ---- the child's events ----------------------------------------------------------------

    def _call(self, key: str, *args) -> None:
        fn = self._cb.get(key)
        if fn is not None:
            fn(*args)

    def _on_event(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "started":
            self.kind = str(ev.get("kind", ""))
            self.sample_shape = tuple(ev.get("sample_shape") or ()) or None
            self.total = int(ev.get("total_steps") or self.total)
            self.step = int(ev.get("step") or 0)
            self.state = "running"
        elif kind == "progress":
            self.step = int(ev.get("step") or self.step)
            self.total = int(ev.get("total_steps") or self.total)
            self.last = TrainProgress(
                step=self.step, total=self.total, loss=_nan(ev.get("loss")),
                loss_avg=_nan(ev.get("loss_avg")), lr=_nan(ev.get("lr")),
                samples_per_s=_nan(ev.get("samples_per_s")),
                elapsed_s=float(ev.get("elapsed_s") or 0.0), eta_s=ev.get("eta_s"))
            if self._ticket is not None:
                self._ticket.progress(self.step, self.total)
            self._call("on_progress", self.last)
        elif kind == "checkpoint":
            self.checkpoint_step = int(ev.get("step", -1))
        elif kind == "preview":
            try:
                samples = decode_array(ev.get("samples") or {})
            except ValueError as exc:
                self._call("on_log", f"preview at step {ev.get('step')} unreadable: {exc}")
            else:
                self._call("on_preview", int(ev.get("step", 0)), samples)
        elif kind in ("paused", "resumed"):
            self.state = "paused" if kind == "paused" else "running"
        elif kind == "stopped":
            self.stop_reason = str(ev.get("reason", ""))
        elif kind == "exported":
            self.exported = Path(str(ev.get("path")))
        elif kind == "error":
            self.error_event = ev
        self._call("on_event", ev)

    def _checkpoint_note(self) -> str:
        if self.checkpoint() is not None:
            step = f" (step {self.checkpoint_step})" if self.checkpoint_step >= 0 else ""
            return f" The last checkpoint{step} is kept; Continue resumes from it."
        return ""

    def _on_exit(self, code: int, crashed: bool) -> None:
        if self.run_dir is not None:
            clean_temporaries(self.run_dir)
        if code == 0 and self.exported is not None:
            self._validate()
            return
        if self.cancelling and code == CANCELLED_EXIT:
            self._end("cancelled")
            self._call("on_cancelled", "Training cancelled." + self._checkpoint_note())
            return
        if code == 0:
            text = "training ended without exporting a model"
        elif self.error_event is not None:
            text = str(self.error_event.get("message"))
            if self.error_event.get("stage") == "export":
                text += ". The current model stays in use."
        else:
            tail = [ln for ln in self.proc.stderr_tail if ln.strip()]
            if crashed or code < 0:
                text = self.proc.start_error or (
                    "the training process stopped unexpectedly (killed, or it crashed)")
                if tail and not self.proc.start_error:
                    text += f": {tail[-1]}"
            else:
                text = tail[-1] if tail else f"the training process exited with status {code}"
        self._fail(text + self._checkpoint_note())

    def _validate(self) -> None:
        from diffview.gui.jobs import Job

        self.state = "validating"
        path, shape = self.exported, self.sample_shape
        ctx = self.service.context
        threads = self.service.model_threads()
        self._call("on_log", "validating the new model through the engine…")
        ctx.jobs.start(Job(f"Checking {path.name}", lane=f"validate:{id(self)}",
                           start=lambda token: validate_model(path, ctx.device, threads, shape,
                                                              token),
                           on_result=self._on_validated, on_error=self._on_invalid,
                           show_progress=False))

    def _on_validated(self, model) -> None:
        last = self.last
        result = TrainResult(path=Path(model.path), model=model, kind=model.info.kind,
                             dataset=self.request.dataset, steps=self.step,
                             seconds=last.elapsed_s if last is not None else 0.0,
                             loss=last.loss_avg if last is not None else math.nan,
                             stop_reason=self.stop_reason or "steps", run_dir=self.run_dir)
        self._end("finished")
        self._call("on_finished", result)

    def _on_invalid(self, message: str) -> None:
        if self.exported is not None:  # a model that does not run is not kept in the library
            self.exported.unlink(missing_ok=True)
        self._fail("the exported model failed validation and was not used; the current model "
                   f"stays in use. {message}")

    def _fail(self, text: str) -> None:
        self._end("failed")
        self._call("on_failed", text)

    def _end(self, how: str) -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        if self._ticket is not None:
            self._ticket.end(how)
        self.service._forget(self)


class TrainingService(QObject):
    """Starts training children and keeps track of them (``context.training``)."""

    def __init__(self, context, parent: QObject | None = None):
        super().__init__(parent if parent is not None else context)
        self.context = context
        self.models_dir: Path | None = None  # None: paths.user_models_dir()
        self.runs_dir: Path | None = None    # None: paths.user_runs_dir()
        self._runs: list[TrainingRun] = []

    def create(self, request: TrainRequest, *, name: str = "Training",
              on_progress: Callable[[TrainProgress], None] | None = None,
              on_preview: Callable[[int, np.ndarray], None] | None = None,
              on_finished: Callable[[TrainResult], None] | None = None,
              on_failed: Callable[[str], None] | None = None,
              on_cancelled: Callable[[str], None] | None = None,
              on_event: Callable[[dict], None] | None = None,
              on_log: Callable[[str], None] | None = None) -> TrainingRun:
        """A run of ``request`` with its folders made, not started (``run.launch()``).

        The callbacks run on the GUI thread. ``on_event`` gets every protocol event as a dict
        and ``on_log`` every other line of the child (the Training panel's log). Without
        ``on_failed`` a failure is shown to the user by the context. Raises ``OSError`` when
        the run folder cannot be created.
        """
        run_dir = Path(request.run_dir) if request.run_dir is not None else new_run_dir(
            request.dataset, self.runs_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        if request.out is not None:
            out = Path(request.out)
        else:
            folder = self.models_dir if self.models_dir is not None else user_models_dir()
            folder.mkdir(parents=True, exist_ok=True)
            out = trained_model_path(request.dataset, request.steps, time.time(), folder)
        if on_failed is None:
            def on_failed(msg: str) -> None:
                self.context.report_error("Training failed", msg)
        run = TrainingRun(self, request, name, dict(
            on_progress=on_progress, on_preview=on_preview, on_finished=on_finished,
            on_failed=on_failed, on_cancelled=on_cancelled, on_event=on_event, on_log=on_log))
        run.run_dir, run.out = run_dir, out
        self._runs.append(run)
        return run

    def start(self, request: TrainRequest, **kw) -> TrainingRun:
        """Start ``request`` in a child process; the callbacks (keywords of :meth:`create`)
        run on the GUI thread. Raises ``OSError`` when the run folder cannot be created."""
        run = self.create(request, **kw)
        run.launch()
        return run

    def runs(self) -> list[TrainingRun]:
        """The runs still going (starting, training, exporting or being checked)."""
        return list(self._runs)

    def is_busy(self) -> bool:
        return bool(self._runs)

    def model_threads(self) -> int | None:
        from diffview.gui.preferences import load_preferences

        return load_preferences(self.context.settings).inference.threads or None

    def shutdown(self) -> None:
        """Stop every child (the window closes); idempotent."""
        for run in list(self._runs):
            run.shutdown()

    def _forget(self, run: TrainingRun) -> None:
        if run in self._runs:
            self._runs.remove(run)
