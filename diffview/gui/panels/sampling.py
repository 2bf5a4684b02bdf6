"""Sampling panel: watch a sampler turn noise into images, replay any step, race samplers.

The sampling job runs ``core.samplers.sample_iter`` on a :class:`JobRunner`. Live frames are
throttled (latest frame wins); the job itself keeps every step of the first few images of the
batch and returns them, so after the run the timeline can replay any step exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from diffview.core.samplers import make_sampler, sample_iter
from diffview.core.schedules import make_schedule
from diffview.gui.panels import (
    X_LEVELS,
    cancellable,
    make_image_view,
    mosaic,
    mosaic_cell,
    to_display,
)
from diffview.gui.style import PLOT_COLORS
from diffview.gui.workers import JobRunner

__all__ = ["RaceResult", "RunResult", "SamplingPanel", "mosaic", "parse_race_spec"]

SAMPLER_LABELS = {"ddpm": "DDPM", "ddim": "DDIM", "dpm++2m": "DPM-Solver++ (2M)"}
KEEP_MAX = 64            # trajectories kept per run (the first images of the batch)
KEEP_BUDGET = 192 * 2**20  # bytes for the kept trajectories (x_t and predicted x0)
MOSAIC_MAX = 16          # tiles in the live mosaic
DEFAULT_RACE = "ddpm:100, ddim:10, ddim:50, dpm++2m:10, dpm++2m:20"
NO_MODEL_TIP = "No image model loaded: use File > Open model… (the default model is missing)"


def parse_race_spec(text: str) -> list[tuple[str, int]]:
    """``"ddim:10, dpm++2m:20"`` -> [("ddim", 10), ("dpm++2m", 20)]; raises ValueError."""
    out = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, _, steps = part.partition(":")
        name = name.strip().lower()
        if name not in SAMPLER_LABELS:
            raise ValueError(f"unknown sampler {name!r} (use ddpm, ddim or dpm++2m)")
        try:
            n = int(steps) if steps.strip() else 50
        except ValueError:
            raise ValueError(f"steps must be a whole number in {part!r}") from None
        if n < 1:
            raise ValueError(f"steps must be at least 1 in {part!r}")
        out.append((name, n))
    if not out:
        raise ValueError("give at least one sampler, e.g. ddim:10, dpm++2m:20")
    return out


@dataclass
class RunResult:
    """A finished (or cancelled) run: kept trajectories and per-step statistics.

    ``xs[k]`` is x after k steps (``xs[0]`` = the starting x_T), ``x0s[k]`` the x0 predicted
    from ``xs[k]`` (the last one is the final sample itself), both (n + 1, keep, C, H, W).
    ``norms`` maps a name to a (n,) curve over the whole batch.
    """

    xs: np.ndarray
    x0s: np.ndarray
    t_indices: np.ndarray          # (n,) timestep each step started from
    final: np.ndarray              # (B, C, H, W)
    norms: dict = field(default_factory=dict)
    description: str = ""
    seed: int = 0
    nfe: int = 0


@dataclass
class RaceResult:
    labels: list
    finals: list                   # (B, C, H, W) per sampler
    nfe: list


def keep_count(batch: int, sample_nbytes: int, n_steps: int) -> int:
    """How many trajectories of a batch to keep: all up to KEEP_MAX, within KEEP_BUDGET."""
    per_image = 2 * sample_nbytes * (n_steps + 1)
    return int(max(1, min(batch, KEEP_MAX, KEEP_BUDGET // per_image)))


def _sampling_job(model, make_sampler_fn, x_t: np.ndarray, seed: int, start_index,
                  description: str):
    """A JobRunner job: run the sampler, yield frames for display, return a RunResult.

    The sampler is built here, on the worker: its first construction imports parts of numpy
    lazily, which would otherwise stall the GUI thread.
    """

    def job(token):
        sampler = make_sampler_fn()
        rng = np.random.default_rng((seed, 2))
        ts = sampler.timesteps
        first = 0 if start_index is None else int(np.searchsorted(-ts, -start_index, "left"))
        n = max(1, ts.size - min(first, ts.size - 1))
        keep = keep_count(len(x_t), x_t[0].nbytes, n)
        shape = (n + 1, keep) + x_t.shape[1:]
        xs = np.empty(shape, np.float32)
        x0s = np.empty(shape, np.float32)
        xs[0] = x_t[:keep]
        t_indices = np.zeros(n, np.int64)
        norms = {name: np.zeros(n) for name in ("‖x_t‖ rms", "‖x̂₀‖ rms", "‖Δx‖ rms")}
        prev = x_t
        k = 0
        denoise = cancellable(model.predict_eps, token)
        for k, frame in enumerate(sample_iter(sampler, denoise, x_t, rng,
                                              start_index=start_index), start=1):
            xs[k] = frame.x[:keep]
            x0s[k - 1] = frame.x0_pred[:keep]
            t_indices[k - 1] = frame.t_index
            norms["‖x_t‖ rms"][k - 1] = float(np.sqrt(np.mean(frame.x**2)))
            norms["‖x̂₀‖ rms"][k - 1] = float(np.sqrt(np.mean(frame.x0_pred**2)))
            norms["‖Δx‖ rms"][k - 1] = float(np.sqrt(np.mean((frame.x - prev) ** 2)))
            prev = frame.x
            yield (k, n, frame.t_index, frame.x[:MOSAIC_MAX], frame.x0_pred[:MOSAIC_MAX])
        x0s[k] = xs[k]
        return RunResult(xs[:k + 1], x0s[:k + 1], t_indices[:k], prev,
                         {key: v[:k] for key, v in norms.items()},
                         description.format(n=n), seed,
                         int(sampler.nfe if start_index is None else k))

    return job


def _race_job(model, schedule, configs, x_T: np.ndarray, seed: int, eta: float,  # noqa: N803
              clip: bool = False):
    """Step every sampler in turn, always the one with the fewest network calls so far."""

    def job(token):
        samplers = [make_sampler(name, schedule,
                                 n_steps=None if name == "ddpm" and n >= schedule.T else n,
                                 eta=eta, clip_x0=clip)
                    for name, n in configs]
        denoise = cancellable(model.predict_eps, token)
        gens = [sample_iter(s, denoise, x_T, np.random.default_rng((seed, 3)))
                for s in samplers]
        done = [0] * len(gens)
        finals = [x_T.copy() for _ in gens]
        active = set(range(len(gens)))
        while active:
            j = min(active, key=lambda i: (done[i], i))
            try:
                frame = next(gens[j])
            except StopIteration:
                active.discard(j)
                continue
            done[j] += 1
            finals[j] = frame.x
            yield (j, done[j], samplers[j].nfe, frame.x, frame.x0_pred)
        labels = [f"{SAMPLER_LABELS[name]} {n}" for name, n in configs]
        return RaceResult(labels, finals, [s.nfe for s in samplers])

    return job


class SamplingPanel(QWidget):
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

    # ---- UI -----------------------------------------------------------------------------

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Sampler"))
        self.sampler_combo = QComboBox()
        for key, text in SAMPLER_LABELS.items():
            self.sampler_combo.addItem(text, key)
        self.sampler_combo.setCurrentIndex(1)
        self.sampler_combo.setToolTip("DDPM: stochastic, many steps; DDIM: deterministic at "
                                      "η = 0; DPM-Solver++: a fast second-order solver")
        self.sampler_combo.currentIndexChanged.connect(self._on_sampler_changed)
        row.addWidget(self.sampler_combo)
        row.addWidget(QLabel("Steps"))
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1000)
        self.steps_spin.setValue(50)
        self.steps_spin.setToolTip("Number of denoising steps (= network calls per image)")
        row.addWidget(self.steps_spin)
        self.eta_label = QLabel("η")
        row.addWidget(self.eta_label)
        self.eta_spin = QDoubleSpinBox()
        self.eta_spin.setRange(0.0, 1.0)
        self.eta_spin.setSingleStep(0.1)
        self.eta_spin.setToolTip("DDIM η: 0 deterministic, 1 as stochastic as DDPM")
        row.addWidget(self.eta_spin)
        row.addStretch(1)
        root.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Batch"))
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 256)
        self.batch_spin.setValue(16)
        self.batch_spin.setToolTip("Images sampled at once (the first 16 are shown live)")
        row.addWidget(self.batch_spin)
        row.addWidget(QLabel("Seed"))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of the initial noise and of the sampler's noise")
        row.addWidget(self.seed_spin)
        self.clip_check = QCheckBox("Clip x̂₀")
        self.clip_check.setChecked(True)
        self.clip_check.setToolTip("Clip the predicted x₀ to the data range [-1, 1] at every "
                                   "step, as Ho et al.'s sampler does")
        row.addWidget(self.clip_check)
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Sample from pure noise (Ctrl+R)")
        self.run_button.clicked.connect(lambda: self.run())
        row.addWidget(self.run_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run; the steps done so far stay replayable")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        root.addLayout(row)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_trajectory_tab(), "Trajectory")
        self.tabs.addTab(self._build_race_tab(), "Sampler race")
        root.addWidget(self.tabs, 1)
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)
        root.addWidget(self.info_label)

    def _build_trajectory_tab(self) -> QWidget:
        tab = QWidget()
        lay = QVBoxLayout(tab)
        lay.setContentsMargins(0, 0, 0, 0)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.images = pg.GraphicsLayoutWidget()
        self.images.setMinimumSize(300, 160)
        # x_t and x0 share one view box, side by side, so they are always drawn at one scale.
        self.xt_vb = self.images.addViewBox(row=0, col=0, lockAspect=True, enableMouse=False,
                                            invertY=True)
        self.xt_vb.setMenuEnabled(False)
        self.xt_item = pg.ImageItem(axisOrder="row-major")
        self.x0_item = pg.ImageItem(axisOrder="row-major")
        self.xt_vb.addItem(self.xt_item)
        self.xt_vb.addItem(self.x0_item)
        fg = pg.getConfigOption("foreground")
        self.xt_label = pg.TextItem("x_t", anchor=(0.5, 0.0), color=fg)
        self.x0_label = pg.TextItem("predicted x₀", anchor=(0.5, 0.0), color=fg)
        for label in (self.xt_label, self.x0_label):
            self.xt_vb.addItem(label)
            label.hide()  # until there is an image to label
        self._image_extent = None
        self.markers = pg.ScatterPlotItem(size=9, pen=pg.mkPen("w", width=1.5), brush=None,
                                          symbol="s")
        self.xt_vb.addItem(self.markers)
        self.images.scene().sigMouseClicked.connect(self._on_scene_clicked)
        self.xt_item.setToolTip("Click a pixel to plot its value along the trajectory")
        split.addWidget(self.images)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumSize(220, 160)
        self.pixel_plot = self.plots.addPlot(row=0, col=0, title="Clicked pixels")
        self.pixel_plot.setLabel("bottom", "step")
        self.pixel_plot.setMouseEnabled(False, False)
        self.norm_plot = self.plots.addPlot(row=1, col=0, title="Step norms")
        self.norm_plot.setLabel("bottom", "step")
        self.norm_plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self.norm_plot.setMouseEnabled(False, False)
        self.norm_curves = {}
        for i, name in enumerate(("‖x_t‖ rms", "‖x̂₀‖ rms", "‖Δx‖ rms")):
            self.norm_curves[name] = self.norm_plot.plot(pen=pg.mkPen(PLOT_COLORS[i], width=2),
                                                         name=name)
        self.step_lines = []
        for plot in (self.pixel_plot, self.norm_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(PLOT_COLORS[4]))
            line.hide()
            plot.addItem(line)
            self.step_lines.append(line)
        split.addWidget(self.plots)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay.addWidget(split, 1)

        row = QHBoxLayout()
        row.addWidget(QLabel("Timeline"))
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setEnabled(False)
        self.timeline.setToolTip("After a run: replay any step (0 = the starting noise)")
        self.timeline.valueChanged.connect(self.show_step)
        row.addWidget(self.timeline, 1)
        self.step_label = QLabel("no run yet")
        self.step_label.setMinimumWidth(110)
        row.addWidget(self.step_label)
        row.addWidget(QLabel("Show"))
        self.sample_spin = QSpinBox()
        self.sample_spin.setRange(-1, -1)
        self.sample_spin.setSpecialValueText("batch")
        self.sample_spin.setToolTip("The whole batch as a mosaic, or one image of it")
        self.sample_spin.valueChanged.connect(lambda _v: self._redraw())
        row.addWidget(self.sample_spin)
        self.clear_pixels_button = QPushButton("Clear pixels")
        self.clear_pixels_button.setToolTip("Remove the pixel curves")
        self.clear_pixels_button.clicked.connect(self.clear_pixels)
        row.addWidget(self.clear_pixels_button)
        lay.addLayout(row)
        return tab

    def _build_race_tab(self) -> QWidget:
        tab = QWidget()
        lay = QVBoxLayout(tab)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Samplers"))
        self.race_edit = QLineEdit(DEFAULT_RACE)
        self.race_edit.setToolTip("Comma-separated sampler:steps pairs, all started from the "
                                  "same noise")
        row.addWidget(self.race_edit, 1)
        row.addWidget(QLabel("Images"))
        self.race_batch = QSpinBox()
        self.race_batch.setRange(1, 16)
        self.race_batch.setValue(4)
        self.race_batch.setToolTip("Images per sampler (same initial noise for every sampler)")
        row.addWidget(self.race_batch)
        self.race_button = QPushButton("Start race")
        self.race_button.setToolTip("Run every sampler from the same noise, stepping whichever "
                                    "has used the fewest network calls")
        self.race_button.clicked.connect(self.run_race)
        row.addWidget(self.race_button)
        lay.addLayout(row)
        self.race_view = pg.GraphicsLayoutWidget()
        self.race_view.setMinimumHeight(160)
        lay.addWidget(self.race_view, 1)
        self.race_items: list = []
        self.race_labels: list = []
        return tab

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

    def _schedule(self):
        info = self.context.image_model.info
        return make_schedule(info.schedule, int(info.T))

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
        eta, clip = self.eta_spin.value(), self.clip_check.isChecked()

        def make():
            schedule = make_schedule(info.schedule, int(info.T))
            n = None if name == "ddpm" and steps >= schedule.T else steps
            return make_sampler(name, schedule, n_steps=n, eta=eta, clip_x0=clip)

        seed = self.seed_spin.value()
        batch = self.batch_spin.value()
        shape = tuple(info.sample_shape)
        if x_T is None:
            x_T = np.random.default_rng(seed).standard_normal((batch,) + shape,  # noqa: N806
                                                               dtype=np.float32)
        x_T = np.ascontiguousarray(x_T, np.float32)  # noqa: N806
        desc = self.sampler_combo.currentText()
        if name == "ddim":
            desc += f" η={eta:g}"
        if clip:
            desc += ", x̂₀ clipped"
        desc += ", {n} steps" + f", seed {seed}"
        if start_index is not None:
            desc += f", restoring from t index {start_index}"
        self._restore_from = start_index
        self.result = None
        self.timeline.setEnabled(False)
        for line in self.step_lines:
            line.hide()
        self._live_n = min(x_T.shape[0], MOSAIC_MAX)
        self.sample_spin.setRange(-1, -1)
        self._show_images(x_T[:MOSAIC_MAX], None)
        self.step_label.setText("running…")
        self.info_label.setText("Running " + desc.format(n=min(steps, int(info.T))))
        self._clear_curves()
        self.context.report_progress("Sampling", 0, 0)
        return self.runner.start(_sampling_job(model, make, x_T, seed, start_index, desc))

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
        x_t = np.asarray(x_t, np.float32)
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
        schedule = self._schedule()
        shape = tuple(model.info.sample_shape)
        seed = self.seed_spin.value()
        x_T = np.random.default_rng(seed).standard_normal(  # noqa: N806
            (self.race_batch.value(),) + shape, dtype=np.float32)
        self._build_race_views([f"{SAMPLER_LABELS[n]} {k}" for n, k in configs], x_T)
        self.tabs.setCurrentIndex(1)
        self._race_total = sum(min(k, schedule.T) for _, k in configs)
        self._race_done_steps = {}
        self.context.report_progress("Sampler race", 0, self._race_total)
        self.race_result = None
        return self.race_runner.start(_race_job(model, schedule, configs, x_T, seed,
                                                self.eta_spin.value(),
                                                self.clip_check.isChecked()))

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

    # ---- pixel probes -------------------------------------------------------------------

    def _on_scene_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = self.xt_item.mapFromScene(event.scenePos())
        if self.add_pixel_at(pos.x(), pos.y()):
            event.accept()

    def add_pixel_at(self, x: float, y: float) -> bool:
        """Probe the pixel under image coordinates (x, y) of the x_t view."""
        if self.xt_item.image is None:
            return False
        c, h, w = self._sample_shape()
        cell = mosaic_cell(x, y, self._shown_tiles, h, w, self._live_cols)
        if cell is None:
            return False
        tile, row, col = cell
        sel = self.sample_spin.value()
        index = sel if sel >= 0 else tile
        self.add_pixel(index, row, col)
        return True

    def _sample_shape(self) -> tuple[int, int, int]:
        if self.result is not None:
            return tuple(self.result.xs.shape[2:])
        model = self.context.image_model
        return tuple(model.info.sample_shape) if model is not None else (1, 28, 28)

    def add_pixel(self, index: int, row: int, col: int) -> None:
        """Follow pixel (row, col) of image ``index`` of the batch (all its channels, mean)."""
        self._pixels.append((int(index), 0, int(row), int(col)))
        color = PLOT_COLORS[(len(self._pixels) - 1) % len(PLOT_COLORS)]
        curve = self.pixel_plot.plot(pen=pg.mkPen(color, width=2),
                                     name=f"img {index} ({row}, {col})")
        self._pixel_curves.append(curve)
        self._update_pixel_curves()
        self._place_markers()

    def pixel_trajectory(self, i: int) -> np.ndarray | None:
        """Values of probe ``i`` over the kept run (n + 1,), channel mean; None without a run."""
        if self.result is None:
            return None
        index, _c, row, col = self._pixels[i]
        if index >= self.result.xs.shape[1]:
            return None
        return self.result.xs[:, index, :, row, col].mean(axis=1)

    def _update_pixel_curves(self) -> None:
        for i, curve in enumerate(self._pixel_curves):
            values = self.pixel_trajectory(i)
            if values is None:
                curve.setData([], [])
            else:
                curve.setData(np.arange(len(values)), values)

    def _place_markers(self) -> None:
        c, h, w = self._sample_shape()
        sel = self.sample_spin.value()
        spots = []
        for i, (index, _c, row, col) in enumerate(self._pixels):
            if sel >= 0:
                if index != sel:
                    continue
                tile = 0
            else:
                tile = index
                if tile >= getattr(self, "_shown_tiles", 0):
                    continue
            r, q = divmod(tile, self._live_cols)
            spots.append({"pos": (q * (w + 1) + col + 0.5, r * (h + 1) + row + 0.5),
                          "pen": pg.mkPen(PLOT_COLORS[i % len(PLOT_COLORS)], width=2)})
        self.markers.setData(spots)

    def clear_pixels(self) -> None:
        for curve in self._pixel_curves:
            self.pixel_plot.removeItem(curve)
        self._pixel_curves.clear()
        self._pixels.clear()
        self.markers.setData([])

    def _clear_curves(self) -> None:
        for curve in self.norm_curves.values():
            curve.setData([], [])
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
