"""The forward noising panel: scrub t = 0..T over an image and watch x_t, the noise and the
schedule.

The panel owns a :class:`~.process.ForwardProcess` (x_0, fixed noise, schedule, chain), a
:class:`~.widgets.SampleStrip`, :class:`~.widgets.ForwardImages` and
:class:`~.widgets.ForwardPlots`; image loading and the step-by-step chain run as Jobs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QSplitter, QVBoxLayout, QWidget

from diffview.gui.handover import DenoiseRequest
from diffview.gui.imaging import IMAGE_FILTER, histogram_density, image_from_file
from diffview.gui.jobs import Job
from diffview.gui.panels.forward.process import ForwardProcess
from diffview.gui.panels.forward.render import ScrubRenderer
from diffview.gui.panels.forward.samples import (
    class_representatives,
    default_sample,
    load_bundled,
)
from diffview.gui.panels.forward.state import ForwardState
from diffview.gui.panels.forward.widgets import (
    DISPLAY_LEVELS,
    ForwardImages,
    ForwardOptions,
    ForwardPlots,
    SampleStrip,
    ScrubBar,
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
        self._shut_down = False
        self._build()
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

        split = QSplitter(Qt.Orientation.Vertical)  # images above, the three plots below
        self.images = ForwardImages()
        self.xt_item, self.xt_label = self.images.xt_item, self.images.xt_label
        self.noise_item, self.noise_label = self.images.noise_item, self.images.noise_label
        split.addWidget(self.images)
        self.plots = ForwardPlots()
        self.hist_curve, self.curve_abar = self.plots.hist_curve, self.plots.curve_abar
        self.cursors = self.plots.cursors
        split.addWidget(self.plots)
        self.renderer = ScrubRenderer(self.process_model, self.images, self.plots)
        split.setSizes([600, 400])
        split.setChildrenCollapsible(False)
        root.addWidget(split, 1)

        self.scrub = ScrubBar(self.schedule.T)
        self.play_button, self.slider = self.scrub.play_button, self.scrub.slider
        self.step_spin = self.scrub.step_spin
        self.slider.valueChanged.connect(self._on_step)
        root.addWidget(self.scrub)
        self.options = ForwardOptions()
        o = self.options
        self.coef_label, self.denoise_button = o.coef_label, o.denoise_button
        self.new_noise_button, self.schedule_combo = o.new_noise_button, o.schedule_combo
        self.T_spin, self.process_combo = o.T_spin, o.process_combo
        self.corruption_combo = o.corruption_combo
        o.new_noise_button.clicked.connect(lambda: self.new_noise())
        o.denoise_button.clicked.connect(lambda: self.request_denoise())
        o.schedule_combo.currentTextChanged.connect(self._on_schedule_changed)
        o.T_spin.valueChanged.connect(self._on_schedule_changed)
        o.process_combo.currentIndexChanged.connect(self._on_process_changed)
        o.corruption_combo.currentIndexChanged.connect(self._on_corruption_changed)
        root.addWidget(self.options)

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
        self.scrub.set_playing(playing)

    def toggle_play(self) -> None:
        self.scrub.set_playing(not self.scrub.playing)

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
        if step == 0:
            self.context.report_status("Move t past 0 first: there is nothing to restore.")
            return
        if self.corruption != "noise":
            # Restore from here: the cold-diffusion panel inverts the degradation.
            self.context.restore_requested.emit(DenoiseRequest(
                self.compute_xt(step), step, x0=self.x0.copy(), degradation=self.corruption,
                severity=step / self.schedule.T))
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
        self.scrub.set_playing(False)
        self.context.jobs.cancel(f"forward-image-{id(self)}")
        self.context.jobs.cancel(self._chain_lane)

    def animation_source(self, n_frames: int = 80):
        """A function (for a worker) returning the scrub from t = 0 to T as (C, H, W) frames."""
        return self.process_model.animation(n_frames, self.corruption, self.process)

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
        self.renderer.forget_noise()
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
        self.options.show_handover(noise)
        self.renderer.forget_noise()
        self._plot_schedule()
        self._refresh()

    def _on_step(self, step: int) -> None:
        self.step_spin.blockSignals(True)
        self.step_spin.setValue(step)
        self.step_spin.blockSignals(False)
        self._refresh()
        self.step_changed.emit(step)

    def _plot_schedule(self) -> None:
        kind, T = self.corruption, self.schedule.T  # noqa: N806
        if kind == "noise":
            self.plots.show_schedule(self.schedule)
            return
        sev, name, detail = self.process_model.degradation_curves(kind)
        counts, edges = histogram_density(self.process_model.x0_disp.reshape(-1))
        self.plots.show_degradation(kind, T, sev, name, detail, (edges, counts))

    def _refresh(self) -> None:
        self._xt = self.renderer.refresh(self.slider.value(), self.corruption, self.process)
        self.coef_label.setText(self.renderer.coef_text)

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
