"""Sampling panel: watch a sampler turn noise into images, replay any step, race samplers.

The sampling job runs ``core.samplers.sample_iter`` on a :class:`JobRunner`. Live frames are
throttled (latest frame wins); the job itself keeps every step of the first few images of the
batch and returns them, so after the run the timeline can replay any step exactly.
Jobs live in :mod:`._sampling_jobs`, widgets in :mod:`._sampling_ui`, pixel probes in
:mod:`._sampling_pixels`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QWidget

from diffview.gui.panels import (
    X_LEVELS,
    make_image_view,
    mosaic,
    mosaic_cell,
    to_display,
)
from diffview.gui.panels._sampling_jobs import (  # noqa: F401 - re-exported names
    KEEP_BUDGET,
    KEEP_MAX,
    MOSAIC_MAX,
    SAMPLER_LABELS,
    RaceResult,
    RunResult,
    keep_count,
    parse_race_spec,
    race_job,
    sampling_job,
)
from diffview.gui.panels._sampling_pixels import PixelProbeMixin
from diffview.gui.panels._sampling_ui import DEFAULT_RACE, SamplingUiMixin
from diffview.gui.workers import JobRunner
from diffview.runs.sampling import SamplingSpec, Start, describe
from diffview.runs.seeding import start_noise

__all__ = ["RaceResult", "RunResult", "SamplingPanel", "mosaic", "mosaic_cell",
           "parse_race_spec"]

NO_MODEL_TIP = "No image model loaded: use File > Open model… (the default model is missing)"


class SamplingPanel(SamplingUiMixin, PixelProbeMixin, QWidget):
    """Run a sampler and watch x_t and the predicted x0, then replay, probe pixels, race.

    Signals
    -------
    run_completed(object)
        The :class:`RunResult` of a finished run.
    """

    panel_name = "sampling"
    title = "Sampling trajectories"

    run_completed = Signal(object)

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.result: RunResult | None = None
        self.race_result: RaceResult | None = None
        self._pixels: list[tuple[int, int, int, int]] = []  # (tile, channel, row, col)
        self._pixel_curves: list[pg.PlotDataItem] = []
        self._live_cols = 1
        self._live_n = 0
        self._restore_from: int | None = None

        self.runner = JobRunner("sampling", self, max_fps=30)
        self.runner.frame_ready.connect(self._on_frame)
        self.runner.run_finished.connect(self._on_finished)
        self.runner.run_failed.connect(self._on_failed)
        self.runner.run_cancelled.connect(self._on_cancelled)
        self.runner.busy_changed.connect(self._on_busy)
        self.race_runner = JobRunner("race", self, max_fps=30)
        self.race_runner.frame_ready.connect(self._on_race_frame)
        self.race_runner.run_finished.connect(self._on_race_finished)
        self.race_runner.run_failed.connect(self._on_failed)
        self.race_runner.run_cancelled.connect(lambda _rid: self._race_done("Race cancelled"))
        self.race_runner.busy_changed.connect(self._on_busy)

        self._build_ui()
        context.image_model_changed.connect(self._on_model_changed)
        context.denoise_requested.connect(self.denoise_from)
        context.trajectory_requested.connect(self.show_trajectory)
        context.cancel_requested.connect(self._on_cancel_requested)
        self._on_model_changed(context.image_model)

    # ---- model state --------------------------------------------------------------------

    def _model_problem(self) -> str:
        model = self.context.image_model
        if model is None:
            return NO_MODEL_TIP
        info = model.info
        if info.kind != "image" or info.time_kind != "index":
            return "The loaded model is not a discrete-time image model."
        return ""

    def _on_model_changed(self, _model) -> None:
        problem = self._model_problem()
        for w in (self.run_button, self.race_button):
            w.setEnabled(not problem and not self.is_busy())
            w.setToolTip(problem or ("Sample from pure noise (Ctrl+R)" if w is self.run_button
                                     else "Run every sampler from the same noise"))
        if problem:
            self.info_label.setText(problem)
        else:
            info = self.context.image_model.info
            self.steps_spin.setMaximum(int(info.T))
            self.info_label.setText(f"Model: {'×'.join(map(str, info.sample_shape))}, "
                                    f"{info.schedule} schedule, T = {info.T}")

    def _on_sampler_changed(self, _i: int) -> None:
        name = self.sampler_combo.currentData()
        self.eta_spin.setEnabled(name == "ddim")
        self.eta_label.setEnabled(name == "ddim")
        if name == "ddpm" and self.steps_spin.value() < 100:
            self.steps_spin.setValue(min(self.steps_spin.maximum(), 1000))
        elif name == "dpm++2m" and self.steps_spin.value() > 50:
            self.steps_spin.setValue(20)
        elif name == "ddim" and self.steps_spin.value() > 200:
            self.steps_spin.setValue(50)

    # ---- running ------------------------------------------------------------------------

    def run(self, x_T: np.ndarray | None = None, start_index: int | None = None) -> int | None:  # noqa: N803
        """Start a run from fresh noise (or from ``x_T`` at ``start_index``); returns its id."""
        problem = self._model_problem()
        if problem:
            self.context.report_status(problem)
            return None
        model = self.context.image_model
        info = model.info
        name, steps = self.sampler_combo.currentData(), self.steps_spin.value()
        seed = self.seed_spin.value()
        shape = tuple(info.sample_shape)
        if x_T is None:
            batch, start = self.batch_spin.value(), None
            x_T = start_noise(seed, shape, batch)  # noqa: N806 - what the run starts from
        else:
            x_T = np.ascontiguousarray(x_T, np.float32)  # noqa: N806
            batch, start = len(x_T), Start(x_T, start_index)
        spec = SamplingSpec(sampler=name, n_steps=steps,
                            eta=self.eta_spin.value() if name == "ddim" else 0.0,
                            clip_x0=self.clip_check.isChecked(), seed=seed, batch=batch,
                            start=start)
        self._restore_from = start_index
        self.result = None
        self.timeline.setEnabled(False)
        for line in self.step_lines:
            line.hide()
        self._live_n = min(x_T.shape[0], MOSAIC_MAX)
        self.sample_spin.setRange(-1, -1)
        self._show_images(x_T[:MOSAIC_MAX], None)
        self.step_label.setText("running…")
        self.info_label.setText("Running " + describe(spec, min(steps, int(info.T))))
        self._clear_curves()
        self.context.report_progress("Sampling", 0, 0)
        return self.runner.start(sampling_job(model, spec))

    def animation_source(self):
        """A function returning the last run's steps as (C, H, W) mosaics (x_t | x0), or None."""
        if self.result is None:
            return None
        xs, x0s = self.result.xs[:, :MOSAIC_MAX], self.result.x0s[:, :MOSAIC_MAX]

        def frames() -> list[np.ndarray]:
            cols = max(1, math.ceil(math.sqrt(xs.shape[1])))
            out = []
            for x, x0 in zip(xs, x0s, strict=True):
                a, b = mosaic(x, cols), mosaic(x0, cols)
                gap = np.full(a.shape[:2] + (max(2, a.shape[2] // 12),), 1.0, np.float32)
                out.append(np.concatenate([a, gap, b], axis=2))
            return out

        return frames

    def cancel(self) -> None:
        self.runner.cancel()
        self.race_runner.cancel()

    def denoise_from(self, x_t: np.ndarray, t_index: int) -> int | None:
        """Restore a noised image handed over by the forward panel ("Denoise from here")."""
        problem = self._model_problem()
        if problem:
            self.context.report_error("Cannot denoise", problem)
            return None
        shape = tuple(self.context.image_model.info.sample_shape)
        from diffview.gui.handover import as_request

        x_t = np.asarray(as_request(x_t, t_index).x_t, np.float32)
        if x_t.shape != shape:
            self.context.report_error("Cannot denoise",
                                      f"The image has shape {x_t.shape}; the model expects "
                                      f"{shape}.")
            return None
        self.tabs.setCurrentIndex(0)
        batch = self.batch_spin.value()
        # Several copies of the same x_t: a stochastic sampler shows the spread of restorations.
        x_T = np.repeat(x_t[None], batch, axis=0)  # noqa: N806
        return self.run(x_T, start_index=int(t_index))

    def show_trajectory(self, payload) -> None:
        """Show one image's trajectory of the last run (payload: its index, or {"index": i})."""
        index = payload.get("index") if isinstance(payload, dict) else payload
        self.tabs.setCurrentIndex(0)
        x_T = payload.get("x_T") if isinstance(payload, dict) else None  # noqa: N806
        if x_T is not None:
            # A sample from another run: replay it from its own initial noise.
            self.context.report_status(f"Re-running image {index} from its initial noise")
            self.run(np.asarray(x_T, np.float32)[None])
            return
        if self.result is None or index is None:
            return
        kept = self.result.xs.shape[1]
        if int(index) >= kept:
            self.context.report_status(f"Only the first {kept} trajectories of the run were "
                                       f"kept; image {index} has its final sample only.")
            return
        self.sample_spin.setValue(int(index))
        self.timeline.setValue(self.timeline.maximum())

    def run_race(self) -> int | None:
        problem = self._model_problem()
        if problem:
            self.context.report_status(problem)
            return None
        try:
            configs = parse_race_spec(self.race_edit.text())
        except ValueError as exc:
            self.context.report_error("Sampler race", str(exc))
            return None
        model = self.context.image_model
        T = int(model.info.T)  # noqa: N806
        seed = self.seed_spin.value()
        spec = SamplingSpec(eta=self.eta_spin.value(), clip_x0=self.clip_check.isChecked(),
                            seed=seed, batch=self.race_batch.value())
        x_T = start_noise(seed, tuple(model.info.sample_shape), spec.batch)  # noqa: N806
        self._build_race_views([f"{SAMPLER_LABELS[n]} {k}" for n, k in configs], x_T)
        self.tabs.setCurrentIndex(1)
        self._race_total = sum(min(k, T) for _, k in configs)
        self._race_done_steps = {}
        self.context.report_progress("Sampler race", 0, self._race_total)
        self.race_result = None
        return self.race_runner.start(race_job(model, spec, configs))

    def is_busy(self) -> bool:
        return self.runner.is_busy() or self.race_runner.is_busy()

    def shutdown(self) -> None:
        self.runner.shutdown()
        self.race_runner.shutdown()

    def demo_state(self) -> None:
        if not self._model_problem():
            self.steps_spin.setValue(20)
            self.run()

    def to_state(self) -> dict:
        return {"sampler": self.sampler_combo.currentData(), "steps": self.steps_spin.value(),
                "eta": self.eta_spin.value(), "batch": self.batch_spin.value(),
                "seed": self.seed_spin.value(), "clip": self.clip_check.isChecked(),
                "race": self.race_edit.text(),
                "race_batch": self.race_batch.value()}

    def from_state(self, state: dict) -> None:
        i = self.sampler_combo.findData(state.get("sampler", "ddim"))
        if i >= 0:
            self.sampler_combo.setCurrentIndex(i)
        self.steps_spin.setValue(int(state.get("steps", self.steps_spin.value())))
        self.eta_spin.setValue(float(state.get("eta", 0.0)))
        self.batch_spin.setValue(int(state.get("batch", self.batch_spin.value())))
        self.seed_spin.setValue(int(state.get("seed", 0)))
        self.clip_check.setChecked(bool(state.get("clip", True)))
        self.race_edit.setText(str(state.get("race", DEFAULT_RACE)))
        self.race_batch.setValue(int(state.get("race_batch", 4)))

    # ---- live frames --------------------------------------------------------------------

    def _on_busy(self, _busy: bool) -> None:
        busy = self.is_busy()
        ok = not self._model_problem()
        self.run_button.setEnabled(ok and not busy)
        self.race_button.setEnabled(ok and not busy)
        self.cancel_button.setEnabled(busy)

    def _on_frame(self, _rid: int, frame) -> None:
        k, n, t_index, x, x0 = frame
        self._show_images(x, x0)
        self.step_label.setText(f"step {k}/{n}  (t index {t_index})")
        self.context.report_progress("Sampling", k, n)

    def _on_finished(self, _rid: int, result: RunResult) -> None:
        self.result = result
        n = result.xs.shape[0] - 1
        self.context.report_progress("Sampling", 1, 1)
        self.context.last_samples = result.final
        self.sample_spin.setRange(-1, result.xs.shape[1] - 1)
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, n)
        self.timeline.setValue(n)
        self.timeline.blockSignals(False)
        self.timeline.setEnabled(True)
        for name, curve in self.norm_curves.items():
            curve.setData(np.arange(1, n + 1), result.norms[name])
        for line in self.step_lines:
            line.show()
        self.pixel_plot.setXRange(0, n, padding=0.02)
        self.norm_plot.setXRange(0, n, padding=0.02)
        self._update_pixel_curves()
        self.show_step(n)
        self.info_label.setText(f"Done: {result.description} — {result.final.shape[0]} images,"
                                f" {result.nfe} network calls each. Drag the timeline to "
                                "replay; click a pixel to follow it.")
        self.run_completed.emit(result)
        # Other panels redraw on the next turn of the event loop, not in this one.
        QTimer.singleShot(0, lambda: self.context.samples_changed.emit(result))

    def _on_failed(self, _rid: int, message: str) -> None:
        self.context.report_progress("Sampling", 1, 1)
        self.context.report_progress("Sampler race", 1, 1)
        self.step_label.setText("failed")
        self.context.report_error("Sampling failed", message)

    def _on_cancelled(self, _rid: int) -> None:
        self.context.report_progress("Sampling", 1, 1)
        self.step_label.setText("cancelled")
        self.info_label.setText("Run cancelled.")

    def _on_cancel_requested(self, name: str) -> None:
        if name in ("Sampling", "Sampler race"):
            self.cancel()

    # ---- display ------------------------------------------------------------------------

    def _tiles(self, x: np.ndarray) -> np.ndarray:
        sel = self.sample_spin.value()
        if sel >= 0 and sel < len(x):
            self._live_cols = 1
            return x[sel:sel + 1]
        x = x[:MOSAIC_MAX]
        self._live_cols = max(1, math.ceil(math.sqrt(len(x))))
        return x

    def _show_images(self, x: np.ndarray, x0: np.ndarray | None) -> None:
        tiles = self._tiles(x)
        self._shown_tiles = len(tiles)
        shown = mosaic(tiles, self._live_cols)
        self.xt_item.setImage(to_display(shown), autoLevels=False, levels=X_LEVELS)
        h, w = shown.shape[1:]
        if self._image_extent != (h, w):
            self._image_extent = (h, w)
            gap = max(2.0, 0.08 * w)
            self.x0_item.setPos(w + gap, 0)
            self.xt_label.setPos(w / 2, h + 0.02 * h)
            self.x0_label.setPos(w + gap + w / 2, h + 0.02 * h)
            self.xt_vb.setRange(xRange=(0, 2 * w + gap), yRange=(0, h * 1.1), padding=0.02)
            self.xt_label.show()
            self.x0_label.show()
        if x0 is None:
            self.x0_item.clear()
        else:
            self.x0_item.setImage(to_display(mosaic(self._tiles(x0), self._live_cols)),
                                  autoLevels=False, levels=X_LEVELS)
        self._place_markers()

    def show_step(self, k: int) -> None:
        """Replay position k of the last run: x after k steps and the x0 predicted from it."""
        if self.result is None:
            return
        r = self.result
        k = int(np.clip(k, 0, r.xs.shape[0] - 1))
        self._show_images(r.xs[k], r.x0s[k])
        n = r.xs.shape[0] - 1
        t = f"t index {r.t_indices[k]}" if k < n else "clean"
        self.step_label.setText(f"step {k}/{n}  ({t})")
        for line in self.step_lines:
            line.setValue(k)

    def _redraw(self) -> None:
        if self.result is not None:
            self.show_step(self.timeline.value())
        self._update_pixel_curves()

    # ---- race ---------------------------------------------------------------------------

    def _build_race_views(self, labels: list[str], x_T: np.ndarray) -> None:  # noqa: N803
        self.race_view.clear()
        self.race_items, self.race_labels = [], []
        cols = min(len(labels), 5)
        for j, label in enumerate(labels):
            r, q = divmod(j, cols)
            item, lab, _vb = make_image_view(self.race_view, label, 2 * r, q)
            item.setImage(to_display(mosaic(x_T, 2)), autoLevels=False, levels=X_LEVELS)
            lab.setText(f"{label}<br>NFE 0")
            self.race_items.append(item)
            self.race_labels.append((lab, label))

    def _on_race_frame(self, _rid: int, frame) -> None:
        j, done, nfe, x, _x0 = frame
        self.race_items[j].setImage(to_display(mosaic(x, 2)), autoLevels=False, levels=X_LEVELS)
        lab, label = self.race_labels[j]
        lab.setText(f"{label}<br>NFE {done}/{nfe}")
        self._race_done_steps[j] = done
        self.context.report_progress("Sampler race", sum(self._race_done_steps.values()),
                                     self._race_total)

    def _on_race_finished(self, _rid: int, result: RaceResult) -> None:
        self.race_result = result
        for j, final in enumerate(result.finals):
            self.race_items[j].setImage(to_display(mosaic(final, 2)), autoLevels=False,
                                        levels=X_LEVELS)
            lab, label = self.race_labels[j]
            lab.setText(f"{label}<br>done: NFE {result.nfe[j]} per image")
        self._race_done("Race finished: same initial noise for every sampler.")

    def _race_done(self, message: str) -> None:
        self.context.report_progress("Sampler race", 1, 1)
        self.info_label.setText(message)
