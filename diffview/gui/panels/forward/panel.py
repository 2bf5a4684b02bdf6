"""The forward noising panel: scrub t = 0..T over an image and watch x_t, the noise and the
schedule.

The panel owns a :class:`~.process.ForwardProcess` (x_0, fixed noise, schedule, chain), a
:class:`~.widgets.SampleStrip`, :class:`~.widgets.ForwardImages` and
:class:`~.widgets.ForwardPlots`; image loading and the step-by-step chain run as Jobs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from diffview.core import forward as fwd
from diffview.core.schedules import SCHEDULES
from diffview.gui.handover import DenoiseRequest
from diffview.gui.imaging import IMAGE_FILTER, histogram_density, image_from_file, to_display
from diffview.gui.jobs import Job
from diffview.gui.panels.forward.process import ForwardProcess
from diffview.gui.panels.forward.samples import (
    class_representatives,
    default_sample,
    load_bundled,
)
from diffview.gui.panels.forward.state import CORRUPTIONS, PROCESSES, T_RANGE, ForwardState
from diffview.gui.panels.forward.widgets import (
    DISPLAY_LEVELS,
    ForwardImages,
    ForwardPlots,
    SampleStrip,
)
from diffview.runs.forward import run_forward_chain

__all__ = ["ForwardPanel"]

CHAIN_JOB = "Forward chain"


class ForwardPanel(QWidget):
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
        self._bundled, self._bundled_names = load_bundled()
        self._sample_index = 0
        self._image_path: Path | None = None
        self._source = ""
        self.process_model = ForwardProcess(self._bundled[0])
        self._xt: np.ndarray | None = None
        self._xt_disp: np.ndarray | None = None
        self._noise_key = None
        self._shut_down = False
        self._build()
        self._play_timer = QTimer(self)
        self._play_timer.setInterval(33)
        self._play_timer.timeout.connect(self._advance)
        context.image_model_changed.connect(self._on_model_changed)
        self.show_default_sample()
        self.set_step(self.schedule.T // 10)  # open on a visibly noised image
        self._plot_schedule()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        reps = class_representatives(self._bundled, self._bundled_names)
        self.sample_strip = SampleStrip(self._bundled, self._bundled_names, reps)
        self.sample_strip.sample_chosen.connect(self._on_sample_chosen)
        self.sample_strip.open_clicked.connect(self._ask_open_image)
        self.strip, self.class_combo = self.sample_strip.strip, self.sample_strip.class_combo
        root.addWidget(self.sample_strip)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.images = ForwardImages()
        self.xt_item, self.xt_label = self.images.xt_item, self.images.xt_label
        self.noise_item, self.noise_label = self.images.noise_item, self.images.noise_label
        split.addWidget(self.images)
        self.plots = ForwardPlots()
        self.hist_curve, self.curve_abar = self.plots.hist_curve, self.plots.curve_abar
        self.cursors = self.plots.cursors
        split.addWidget(self.plots)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        root.addWidget(split, 1)

        scrub = QHBoxLayout()
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Animate t from its position to T (Space)")
        self.play_button.toggled.connect(self.set_playing)
        scrub.addWidget(self.play_button)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self.schedule.T)
        self.slider.setToolTip("Number of noising steps t: 0 is the clean image, T pure noise")
        self.slider.valueChanged.connect(self._on_step)
        scrub.addWidget(self.slider, 1)
        self.step_spin = QSpinBox()
        self.step_spin.setRange(0, self.schedule.T)
        self.step_spin.setPrefix("t = ")
        self.step_spin.setToolTip("Type a step t directly")
        self.step_spin.valueChanged.connect(self.slider.setValue)
        scrub.addWidget(self.step_spin)
        root.addLayout(scrub)

        actions = QHBoxLayout()
        self.coef_label = QLabel()
        self.coef_label.setToolTip("x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε")
        actions.addWidget(self.coef_label, 1)
        self.new_noise_button = QPushButton("New noise")
        self.new_noise_button.setToolTip("Draw a new ε (or mask order) and keep t (N)")
        self.new_noise_button.clicked.connect(lambda: self.new_noise())
        actions.addWidget(self.new_noise_button)
        self.denoise_button = QPushButton("Denoise from here")
        self.denoise_button.setToolTip("Send x_0 and t to the sampling panel, which draws x_t "
                                       "~ q(x_t | x_0) for each image of its batch and denoises "
                                       "them from step t")
        self.denoise_button.clicked.connect(lambda: self.request_denoise())
        actions.addWidget(self.denoise_button)
        root.addLayout(actions)

        opts = QHBoxLayout()
        opts.addWidget(QLabel("Schedule"))
        self.schedule_combo = QComboBox()
        self.schedule_combo.addItems(SCHEDULES)
        self.schedule_combo.setToolTip("How β_t grows with t")
        self.schedule_combo.currentTextChanged.connect(self._on_schedule_changed)
        opts.addWidget(self.schedule_combo)
        opts.addWidget(QLabel("T"))
        self.T_spin = QSpinBox()
        self.T_spin.setRange(*T_RANGE)
        self.T_spin.setValue(1000)
        self.T_spin.setKeyboardTracking(False)
        self.T_spin.setToolTip("Number of diffusion steps T")
        self.T_spin.valueChanged.connect(self._on_schedule_changed)
        opts.addWidget(self.T_spin)
        self.process_combo = QComboBox()
        for key, text in PROCESSES.items():
            self.process_combo.addItem(text, key)
        self.process_combo.setToolTip("Jump to t in one draw, or apply t small noising steps "
                                      "(same distribution, different path)")
        self.process_combo.currentIndexChanged.connect(self._on_process_changed)
        opts.addWidget(self.process_combo)
        self.corruption_combo = QComboBox()
        for key, text in CORRUPTIONS.items():
            self.corruption_combo.addItem(text, key)
        self.corruption_combo.setToolTip("Gaussian noise (DDPM) or a deterministic cold-diffusion "
                                         "degradation")
        self.corruption_combo.currentIndexChanged.connect(self._on_corruption_changed)
        opts.addWidget(self.corruption_combo)
        opts.addStretch(1)
        root.addLayout(opts)

    # ---- what the panel shows --------------------------------------------------------------
    @property
    def x0(self) -> np.ndarray:
        return self.process_model.x0

    @property
    def noise(self) -> np.ndarray:
        return self.process_model.noise

    @property
    def schedule(self):
        return self.process_model.schedule

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
        return self.process_model.chain_ready()

    def chain_noises(self) -> list[np.ndarray]:
        return self.process_model.chain_noises()

    def state(self) -> ForwardState:
        return ForwardState(self.schedule_combo.currentText(), self.T_spin.value(), self.step,
                            self.process_model.seed, self.process, self.corruption,
                            self._sample_index if self._image_path is None else -1,
                            str(self._image_path) if self._image_path else None)

    # ---- actions ---------------------------------------------------------------------------
    def set_image(self, x0: np.ndarray, source: str = "image") -> None:
        """Show ``x0`` (float32 (C, H, W) in [-1, 1]) at the current t with fresh fixed noise."""
        self.process_model.set_image(x0)
        self._source = source
        self._xt = None
        self.images.x0_item.setImage(self.process_model.x0_disp, autoLevels=False,
                                     levels=DISPLAY_LEVELS)
        self._noise_key = None
        self._after_noise_change()

    def open_image(self, path: str | Path) -> None:
        """Load an image file on a worker; it replaces the current image when ready."""
        path = Path(path)
        self.context.report_status(f"Loading {path.name}…")
        self.context.jobs.start(Job(
            f"Loading {path.name}", lambda token: _load(path), on_result=self._on_image_loaded,
            error_title="Cannot load", lane=f"forward-image-{id(self)}", show_progress=False))

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
        self.process_model.draw_noise(self.process_model.seed + 1)
        self._after_noise_change()

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
        return self.process_model.compute_xt(step, self.corruption, self.process)

    def request_denoise(self) -> None:
        """Hand x_0, x_t and the timestep index to the sampling panel."""
        step = self.step
        if self.corruption != "noise" or step == 0:
            self.context.report_status("Denoise from here needs Gaussian noise and t ≥ 1.")
            return
        info = getattr(self.context.image_model, "info", None)
        x_t, t_index, note = self.process_model.model_compatible_xt(step, info)
        x0, _, _ = self.process_model.model_compatible_x0(info)
        if note:
            self.context.report_status(note)
        self.context.denoise_requested.emit(
            DenoiseRequest(x_t, t_index, x0=x0.astype(np.float32), note=note), t_index)

    def select_sample(self, index: int) -> None:
        """Show bundled sample ``index`` (switching the strip to its class)."""
        self.sample_strip.select(index)

    def show_default_sample(self) -> None:
        """Show the sample the panel opens on (bright, contrasted, a clear silhouette)."""
        first = default_sample(self._bundled, self._bundled_names)
        self.class_combo.setCurrentIndex(0)
        self.sample_strip.select(first)

    # ---- the Panel protocol ----------------------------------------------------------------
    def state_dict(self) -> dict:
        return self.state().to_dict()

    def load_state(self, data: dict) -> None:
        """Validate ``data`` whole, then apply it (a file image loads on a worker)."""
        state = ForwardState.from_dict(data)
        self.process_model.seed = state.seed
        self.set_schedule(state.schedule, state.T)
        self.set_process(state.process)
        self.set_corruption(state.corruption)
        if state.image_path:
            self.open_image(state.image_path)
        elif 0 <= state.sample < len(self._bundled):
            self.select_sample(state.sample)
        self.process_model.draw_noise(state.seed)
        self._after_noise_change()
        self.set_step(state.step)
        self._refresh()

    def is_busy(self) -> bool:
        jobs = self.context.jobs
        return jobs.is_busy(f"forward-image-{id(self)}") or jobs.is_busy(self._chain_lane)

    def shutdown(self) -> None:
        if self._shut_down:
            return
        self._shut_down = True
        self._play_timer.stop()
        self.context.jobs.cancel(f"forward-image-{id(self)}")
        self.context.jobs.cancel(self._chain_lane)

    def animation_source(self, n_frames: int = 80):
        """A function (for a worker) returning the scrub from t = 0 to T as (C, H, W) frames."""
        model = self.process_model
        snapshot = ForwardProcess.__new__(ForwardProcess)
        snapshot.__dict__.update(model.__dict__)
        kind, process = self.corruption, self.process
        steps = np.unique(np.linspace(0, model.schedule.T, n_frames).round().astype(int))
        return lambda: snapshot.frames(steps, kind, process)

    def animation_hint(self) -> str:
        return "Choose an image to scrub first."

    def demo_state(self) -> None:
        self.show_default_sample()
        self.set_step(self.schedule.T // 8)

    # ---- internals -------------------------------------------------------------------------
    @property
    def _chain_lane(self) -> str:
        return f"forward-chain-{id(self)}"

    def _after_noise_change(self) -> None:
        self._noise_key = None
        if self.process == "chain":
            self._start_chain()
        self._refresh()

    def _start_chain(self) -> None:
        model = self.process_model
        x0, schedule, seed, key = model.x0, model.schedule, model.seed, model.current_chain_key()
        self.context.jobs.start(Job(
            CHAIN_JOB, lambda token: run_forward_chain(x0, schedule, seed, token),
            on_result=lambda states: self._on_chain_ready(key, states),
            on_cancelled=lambda _p: self.process_combo.setCurrentIndex(0),
            on_error=self._on_chain_failed, lane=self._chain_lane, max_fps=20))

    def _on_chain_ready(self, key: tuple, states: np.ndarray) -> None:
        if self.process_model.adopt_chain(key, states):
            self._refresh()

    def _on_chain_failed(self, message: str) -> None:
        self.context.report_status(f"{message}; showing the closed form (same distribution).")
        self.process_combo.setCurrentIndex(0)

    def _on_image_loaded(self, result) -> None:
        x0, path = result
        self.sample_strip.clear_selection()
        self.set_image(x0, path.name)
        self._image_path = path
        c, h, w = x0.shape
        self.context.report_status(f"{path.name}: {w}×{h}, {'colour' if c == 3 else 'grey'}")

    def _on_sample_chosen(self, index: int) -> None:
        self._image_path = None
        self._sample_index = index
        self.set_image(self._bundled[index], self._bundled_names[index])

    def _on_model_changed(self, model) -> None:
        info = getattr(model, "info", None)
        if info is None or info.kind != "image" or info.time_kind != "index":
            return
        # Follow the model's schedule so that "Denoise from here" hands over matching t.
        self.set_schedule(info.schedule, int(info.T))

    def _ask_open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if path:
            self.open_image(path)

    def _on_schedule_changed(self, *_args) -> None:
        name, T = self.schedule_combo.currentText(), self.T_spin.value()  # noqa: N806
        model = self.process_model
        if name == "" or (name == model.schedule_name and T == model.schedule.T):
            return
        step_frac = self.step / max(model.schedule.T, 1)
        model.set_schedule(name, T)
        for w in (self.slider, self.step_spin):
            w.blockSignals(True)
            w.setMaximum(T)
            w.setValue(round(step_frac * T))
            w.blockSignals(False)
        if self.process == "chain":
            self._start_chain()
        self._plot_schedule()
        self._refresh()

    def _on_process_changed(self, _index: int) -> None:
        if self.process == "chain" and not self.chain_ready():
            self._start_chain()
        self._refresh()

    def _on_corruption_changed(self, _index: int) -> None:
        noise = self.corruption == "noise"
        self.process_combo.setEnabled(noise)
        self.denoise_button.setEnabled(noise)
        self._noise_key = None
        self._plot_schedule()
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
        self.slider.setValue(min(self.slider.maximum(), step + max(1, self.schedule.T // 150)))

    def _plot_schedule(self) -> None:
        kind, T = self.corruption, self.schedule.T  # noqa: N806
        if kind == "noise":
            self.plots.show_schedule(self.schedule)
            return
        sev = np.arange(T + 1) / T
        shape = self.x0.shape
        if kind == "blur":
            detail = np.array([fwd.blur_sigma(s, shape) for s in sev])
            name = "blur width σ (pixels)"
        elif kind == "pixelate":
            detail = np.array([fwd.pixelate_block(s, shape) for s in sev], float)
            name = "block size (pixels)"
        else:
            detail = 100.0 * np.round(sev * shape[-1] * shape[-2]) / (shape[-1] * shape[-2])
            name = "masked pixels (%)"
        counts, edges = histogram_density(self.process_model.x0_disp.reshape(-1))
        self.plots.show_degradation(kind, T, sev, name, detail, (edges, counts))

    def _refresh(self) -> None:
        step = self.slider.value()
        kind = self.corruption
        model = self.process_model
        chain = self.process == "chain" and self.chain_ready() and kind == "noise"
        if kind == "noise" and not chain:
            if self._xt_disp is None or self._xt_disp.shape != model.x0_disp.shape:
                self._xt_disp = np.empty_like(model.x0_disp)
            disp = model.closed_form_display(step, out=self._xt_disp)
            self._xt = None  # (C, H, W) made on demand by current_xt()
        else:
            self._xt = self.compute_xt(step)
            disp = to_display(self._xt)
        self.xt_item.setImage(disp, autoLevels=False, levels=DISPLAY_LEVELS)

        ab = self.schedule.alpha_bar_at_step(step)
        a, s = math.sqrt(ab), math.sqrt(max(0.0, 1.0 - ab))
        if kind == "noise":
            if chain and step > 0:
                self._show_noise((self._xt - a * self.x0) / max(s, 1e-12), None,
                                 "effective ε of the chain")
            else:
                self._show_noise(model.noise_disp, ("eps", id(model.noise_disp)),
                                 "noise ε (held fixed)")
            self.coef_label.setText(f"√ᾱ_t = {a:.4f}   √(1−ᾱ_t) = {s:.4f}")
        else:
            self._show_noise(self._xt - self.x0, None, "change x_t − x_0")
            self.coef_label.setText(f"severity t/T = {step / self.schedule.T:.3f}")
        self.xt_label.setText(f"x_t at t = {step}" + (" (chain)" if chain else ""))
        self.plots.set_cursor(step)
        values = disp.reshape(-1)
        if model.hist_index is not None:
            values = values[model.hist_index]
        counts, edges = histogram_density(values)
        self.hist_curve.setData(edges, counts)

    def _show_noise(self, x: np.ndarray, key, text: str) -> None:
        """Update the third image; an unchanged ``key`` (fixed ε) skips the redraw."""
        if key is not None and key == self._noise_key:
            return
        self._noise_key = key
        self.noise_item.setImage(x if key is not None else to_display(x), autoLevels=False,
                                 levels=DISPLAY_LEVELS)
        self.noise_label.setText(text)

    # ---- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_image(urls[0].toLocalFile())
            event.acceptProposedAction()


def _load(path: Path):
    """A run with no frames: read the image file (on the worker)."""
    return image_from_file(path), path
    yield  # noqa: B901 - makes this a generator
