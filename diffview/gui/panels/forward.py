"""Forward noising panel: scrub t = 0..T over an image and watch x_t, the noise and the schedule.

Everything the slider touches is precomputed (the image, the noise, for the step-by-step chain
every state), so a slider move costs one ``q_sample_step`` and an in-place ``setImage``.
Widgets live in :mod:`._forward_ui`, the chain in :mod:`._forward_chain`, the bundled
images in :mod:`._forward_data`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from diffview.core import forward as fwd
from diffview.core.schedules import make_schedule
from diffview.gui.panels import (
    IMAGE_FILTER,
    X_LEVELS,
    histogram_density,
    image_from_file,
    images_to_model_range,
    resize_image,
    to_display,
)
from diffview.gui.panels._forward_chain import CHAIN_BUDGET_BYTES, ChainMixin  # noqa: F401
from diffview.gui.panels._forward_data import (  # noqa: F401 - re-exported names
    CORRUPTIONS,
    class_representatives,
    default_sample,
    demo_image,
    load_bundled,
)
from diffview.gui.panels._forward_ui import ForwardUiMixin
from diffview.gui.workers import JobRunner, call_in_worker

# The image helpers are re-exported for callers that import them from here.
__all__ = ["IMAGE_FILTER", "X_LEVELS", "ForwardPanel", "image_from_file", "images_to_model_range",
           "to_display"]

HIST_MAX = 65536  # pixels sampled for the histogram of a large image
NOISE_LEVELS = (-3.0, 3.0)


# ---- the panel ------------------------------------------------------------------------------

class ForwardPanel(ForwardUiMixin, ChainMixin, QWidget):
    """Scrub the forward process q(x_t | x_0) over a chosen image.

    Signals
    -------
    step_changed(int)
        The scrub position t in 0..T.
    """

    panel_name = "forward"
    title = "Forward noising"

    step_changed = Signal(int)

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.setAcceptDrops(True)
        self._loader = JobRunner("forward-image", self)
        self._loader.run_finished.connect(self._on_image_loaded)
        self._loader.run_failed.connect(self._on_load_failed)
        self._chain_runner = JobRunner("forward-chain", self, max_fps=20)
        self._chain_runner.frame_ready.connect(self._on_chain_progress)
        self._chain_runner.run_finished.connect(self._on_chain_ready)
        self._chain_runner.run_failed.connect(self._on_load_failed)
        context.cancel_requested.connect(self._on_cancel_requested)
        context.image_model_changed.connect(self._on_model_changed)

        self._schedule = make_schedule("linear", 1000)
        self._schedule_label = "linear"
        self._image_path: Path | None = None
        self._sample_index = 0
        self._seed = 0
        self._x0 = demo_image()
        self._source = "demo ring"
        self._noise = np.zeros_like(self._x0)
        self._chain_states: np.ndarray | None = None
        self._chain_key: tuple | None = None
        self._mask_order: np.ndarray | None = None
        self._xt: np.ndarray | None = None
        self._x0_disp = to_display(self._x0)
        self._noise_disp = to_display(self._noise)
        self._xt_disp: np.ndarray | None = None
        self._noise_key = None
        self._hist_index: np.ndarray | None = None

        self._build_ui()
        self._play_timer = QTimer(self)
        self._play_timer.setInterval(33)
        self._play_timer.timeout.connect(self._advance)

        self._bundled, self._bundled_names = load_bundled()
        self._strip_indices: list[int] = []
        self._fill_class_combo()
        self._class_reps = class_representatives(self._bundled, self._bundled_names)
        self._fill_strip()
        self.show_default_sample()
        self.set_step(self._schedule.T // 10)  # open on a visibly noised image
        self._plot_schedule()


    # ---- public API ---------------------------------------------------------------------

    @property
    def x0(self) -> np.ndarray:
        return self._x0

    @property
    def noise(self) -> np.ndarray:
        return self._noise

    @property
    def schedule(self):
        return self._schedule

    @property
    def step(self) -> int:
        return self.slider.value()

    @property
    def corruption(self) -> str:
        return self.corruption_combo.currentData()

    @property
    def process(self) -> str:
        return self.process_combo.currentData()

    def chain_ready(self) -> bool:
        return self._chain_states is not None and self._chain_key == self._current_chain_key()

    def set_image(self, x0: np.ndarray, source: str = "image") -> None:
        """Show ``x0`` (float32 (C, H, W) in [-1, 1]) at the current t with fresh fixed noise."""
        x0 = np.ascontiguousarray(x0, dtype=np.float32)
        if x0.ndim != 3:
            raise ValueError(f"x0 must have shape (C, H, W), got {x0.shape}")
        self._x0 = x0
        self._x0_disp = np.ascontiguousarray(to_display(x0))
        self._source = source
        self._xt = None
        n = self._x0_disp.size
        self._hist_index = (None if n <= HIST_MAX else
                            np.sort(np.random.default_rng(0).choice(n, HIST_MAX, replace=False)))
        self._draw_noise()
        self._refresh()

    def open_image(self, path: str | Path) -> None:
        """Load an image file on a worker; it replaces the current image when ready."""
        path = Path(path)
        self.context.report_status(f"Loading {path.name}…")
        self._loader.start(call_in_worker(lambda: (image_from_file(path), path)))

    def set_step(self, step: int) -> None:
        self.slider.setValue(int(step))

    def set_schedule(self, name: str, T: int) -> None:  # noqa: N803
        self.T_spin.blockSignals(True)
        self.T_spin.setValue(int(T))
        self.T_spin.blockSignals(False)
        self.schedule_combo.setCurrentText(name)
        self._on_schedule_changed()

    def set_process(self, process: str) -> None:
        self.process_combo.setCurrentIndex(self.process_combo.findData(process))

    def set_corruption(self, kind: str) -> None:
        self.corruption_combo.setCurrentIndex(self.corruption_combo.findData(kind))

    def new_noise(self) -> None:
        self._seed += 1
        self._draw_noise()
        self._refresh()

    def set_playing(self, playing: bool) -> None:
        if playing and self.slider.value() >= self.slider.maximum():
            self.slider.setValue(0)
        self.play_button.blockSignals(True)
        self.play_button.setChecked(playing)
        self.play_button.blockSignals(False)
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self._play_timer.start()
        else:
            self._play_timer.stop()

    def toggle_play(self) -> None:
        self.set_playing(not self._play_timer.isActive())

    def current_xt(self) -> np.ndarray:
        """x at the current step (float32 (C, H, W)), as displayed before clipping."""
        if self._xt is None:
            self._xt = self.compute_xt(self.step)
        return self._xt

    def compute_xt(self, step: int, out: np.ndarray | None = None) -> np.ndarray:
        """x after ``step`` steps of the selected process, from the stored noise."""
        kind = self.corruption
        if kind != "noise":
            return fwd.degrade(kind, self._x0, step, self._schedule.T,
                               order=self._mask_order if kind == "mask" else None)
        if self.process == "chain" and self.chain_ready():
            if step == 0:
                return self._x0.copy()
            return self._chain_states[step - 1]
        return fwd.q_sample_step(self._x0, self._schedule, step, self._noise, out=out)

    def animation_source(self, n_frames: int = 80):
        """A function (for a worker) returning the scrub from t = 0 to T as (C, H, W) frames."""
        x0, noise, schedule = self._x0.copy(), self._noise.copy(), self._schedule
        kind, order = self.corruption, self._mask_order
        states = self._chain_states if (self.process == "chain" and self.chain_ready()) else None
        steps = np.unique(np.linspace(0, schedule.T, n_frames).round().astype(int))

        def frames() -> list[np.ndarray]:
            out = []
            for step in steps:
                step = int(step)
                if kind != "noise":
                    out.append(fwd.degrade(kind, x0, step, schedule.T,
                                           order=order if kind == "mask" else None))
                elif states is not None:
                    out.append(x0 if step == 0 else states[step - 1])
                else:
                    out.append(fwd.q_sample_step(x0, schedule, step, noise))
            return out

        return frames

    def request_denoise(self) -> None:
        """Hand x_t and its timestep index to the sampling panel (context.denoise_requested)."""
        step = self.step
        if self.corruption != "noise" or step == 0:
            self.context.report_status("Denoise from here needs Gaussian noise and t ≥ 1.")
            return
        x_t, t_index, note = self._model_compatible_xt(step)
        if note:
            self.context.report_status(note)
        self.context.denoise_requested.emit(x_t, t_index)

    def show_default_sample(self) -> None:
        """Show the sample the panel opens on (``default_sample``: bright, contrasted, a clear
        silhouette), with the strip on "One per class"."""
        first = default_sample(self._bundled, self._bundled_names)
        self.class_combo.setCurrentIndex(0)
        if first in self._strip_indices:   # it is its class's representative
            self.strip.setCurrentRow(self._strip_indices.index(first))
        else:
            self.select_sample(first)

    def demo_state(self) -> None:
        self.show_default_sample()
        self.set_step(self._schedule.T // 8)

    def is_busy(self) -> bool:
        return self._loader.is_busy() or self._chain_runner.is_busy()

    def shutdown(self) -> None:
        self._play_timer.stop()
        self._loader.shutdown()
        self._chain_runner.shutdown()

    def to_state(self) -> dict:
        return {"schedule": self.schedule_combo.currentText(), "T": self.T_spin.value(),
                "step": self.step, "seed": self._seed, "process": self.process,
                "corruption": self.corruption,
                "sample": self._sample_index if self._image_path is None else -1,
                "image_path": str(self._image_path) if self._image_path else None}

    def from_state(self, state: dict) -> None:
        self._seed = int(state.get("seed", self._seed))
        self.set_schedule(str(state.get("schedule", "linear")), int(state.get("T", 1000)))
        self.set_process(str(state.get("process", "closed")))
        self.set_corruption(str(state.get("corruption", "noise")))
        row = int(state.get("sample", -1))
        if state.get("image_path"):
            self.open_image(state["image_path"])
        elif 0 <= row < len(self._bundled):
            self.select_sample(row)
        self._draw_noise()
        self.set_step(int(state.get("step", 0)))
        self._refresh()

    # ---- internals ----------------------------------------------------------------------

    def _on_image_loaded(self, _rid: int, result) -> None:
        x0, path = result
        name = path.name
        self.strip.blockSignals(True)
        self.strip.clearSelection()
        self.strip.setCurrentRow(-1)
        self.strip.blockSignals(False)
        self.set_image(x0, name)
        self._image_path = path
        c, h, w = x0.shape
        self.context.report_status(f"{name}: {w}×{h}, {'colour' if c == 3 else 'grey'}")

    def _on_load_failed(self, _rid: int, message: str) -> None:
        self.context.report_error("Cannot load", message)

    def _on_model_changed(self, model) -> None:
        info = getattr(model, "info", None)
        if info is None or info.kind != "image" or info.time_kind != "index":
            return
        # Follow the model's schedule so that "Denoise from here" hands over matching t.
        self.set_schedule(info.schedule, int(info.T))

    def _on_strip_row(self, row: int) -> None:
        if 0 <= row < len(self._strip_indices):
            i = self._strip_indices[row]
            self._image_path = None
            self._sample_index = i
            self.set_image(self._bundled[i], self._bundled_names[i])

    def select_sample(self, index: int) -> None:
        """Show bundled sample ``index`` (switching the strip to its class)."""
        name = self._bundled_names[index]
        self.class_combo.setCurrentIndex(max(0, self.class_combo.findData(name)))
        if index in self._strip_indices:
            row = self._strip_indices.index(index)
            self.strip.blockSignals(True)
            self.strip.setCurrentRow(row)
            self.strip.blockSignals(False)
            self._on_strip_row(row)

    def _ask_open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if path:
            self.open_image(path)

    def _on_schedule_changed(self, *_args) -> None:
        name, T = self.schedule_combo.currentText(), self.T_spin.value()  # noqa: N806
        if name == "" or (name == self._schedule_name() and T == self._schedule.T):
            return
        step_frac = self.step / max(self._schedule.T, 1)
        self._schedule = make_schedule(name, T)
        self._schedule_label = name
        for w in (self.slider, self.step_spin):
            w.blockSignals(True)
            w.setMaximum(T)
            w.setValue(round(step_frac * T))
            w.blockSignals(False)
        self._chain_states = None
        if self.process == "chain":
            self._start_chain()
        self._plot_schedule()
        self._refresh()

    def _schedule_name(self) -> str:
        return self._schedule_label

    def _on_process_changed(self, _index: int) -> None:
        if self.process == "chain" and not self.chain_ready():
            self._start_chain()
        self._refresh()

    def _on_corruption_changed(self, _index: int) -> None:
        noise = self.corruption == "noise"
        self.process_combo.setEnabled(noise)
        self.denoise_button.setEnabled(noise)
        self._refresh()

    def _on_step(self, step: int) -> None:
        self.step_spin.blockSignals(True)
        self.step_spin.setValue(step)
        self.step_spin.blockSignals(False)
        self._refresh()
        self.step_changed.emit(step)

    def _advance(self) -> None:
        step = self.slider.value()
        if step >= self.slider.maximum():
            self.set_playing(False)
            return
        self.slider.setValue(min(self.slider.maximum(), step + max(1, self._schedule.T // 150)))

    def _plot_schedule(self) -> None:
        s = self._schedule
        t = np.arange(1, s.T + 1)
        self.curve_abar.setData(t, s.alpha_bars)
        self.curve_beta.setData(t, s.betas / s.betas.max())
        self.curve_snr.setData(t, np.clip(s.snr_db, -60, 60))
        self.sched_plot.setXRange(0, s.T, padding=0.01)

    def _refresh(self) -> None:
        step = self.slider.value()
        kind = self.corruption
        chain = self.process == "chain" and self.chain_ready() and kind == "noise"
        if kind == "noise" and not chain:
            # The closed form is elementwise, so it runs directly in display layout (H, W[, 3]):
            # no transpose and no allocation per slider move.
            if self._xt_disp is None or self._xt_disp.shape != self._x0_disp.shape:
                self._xt_disp = np.empty_like(self._x0_disp)
            disp = fwd.q_sample_step(self._x0_disp, self._schedule, step, self._noise_disp,
                                     out=self._xt_disp)
            self._xt = None  # (C, H, W) made on demand by current_xt()
        else:
            self._xt = self.compute_xt(step)
            disp = to_display(self._xt)
        self.xt_item.setImage(disp, autoLevels=False, levels=X_LEVELS)

        ab = self._schedule.alpha_bar_at_step(step)
        a, s = math.sqrt(ab), math.sqrt(max(0.0, 1.0 - ab))
        if kind == "noise":
            if chain and step > 0:
                self._show_noise((self._xt - a * self._x0) / max(s, 1e-12), None,
                                 "effective ε of the chain", NOISE_LEVELS)
            else:
                self._show_noise(self._noise_disp, ("eps", id(self._noise_disp)),
                                 "noise ε (held fixed)", NOISE_LEVELS)
            self.coef_label.setText(f"√ᾱ_t = {a:.4f}   √(1−ᾱ_t) = {s:.4f}")
        else:
            self._show_noise(self._xt - self._x0, None,
                             "change x_t − x_0", (-2.0, 2.0))
            self.coef_label.setText(f"severity t/T = {step / self._schedule.T:.3f}")
        self.xt_label.setText(f"x_t at t = {step}" + (" (chain)" if chain else ""))
        for line in self.cursors:
            line.setValue(step)
        values = disp.reshape(-1)
        if self._hist_index is not None:
            values = values[self._hist_index]
        counts, edges = histogram_density(values)
        self.hist_curve.setData(edges, counts)

    def _show_noise(self, x: np.ndarray, key, text: str, levels) -> None:
        """Update the second image; an unchanged ``key`` (fixed ε) skips the redraw."""
        if key is not None and key == self._noise_key:
            return
        self._noise_key = key
        self.noise_item.setImage(x if key is not None else to_display(x), autoLevels=False,
                                 levels=levels)
        self.noise_label.setText(text)

    def _model_compatible_xt(self, step: int) -> tuple[np.ndarray, int, str]:
        """x_t and t_index in the model's terms: the same image at the same noise level ᾱ.

        When the image shape or schedule differ from the model's, x_0 is resized to the
        model's sample shape and noised afresh at the model timestep with the closest ᾱ.
        """
        model = self.context.image_model
        x_t = self.current_xt().astype(np.float32, copy=True)
        t_index = step - 1
        info = getattr(model, "info", None)
        if info is None:
            return x_t, t_index, ""
        same_shape = tuple(info.sample_shape) == tuple(self._x0.shape)
        same_sched = info.schedule == self._schedule_name() and int(info.T) == self._schedule.T
        if same_shape and same_sched:
            return x_t, t_index, ""
        model_sched = make_schedule(info.schedule, int(info.T))
        ab = self._schedule.alpha_bar_at_step(step)
        t_model = int(np.argmin(np.abs(model_sched.alpha_bars - ab)))
        x0 = self._x0 if same_shape else resize_image(self._x0, tuple(info.sample_shape))
        noise = self._noise if same_shape else np.random.default_rng(self._seed).standard_normal(
            x0.shape, dtype=np.float32)
        x_t = fwd.q_sample(x0, model_sched, t_model, noise).astype(np.float32)
        return x_t, t_model, (f"Resized/renoised for the model: t index {t_model} of "
                              f"{info.schedule} T={info.T} (same ᾱ).")

    # ---- drag and drop ------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_image(urls[0].toLocalFile())
            event.acceptProposedAction()
