"""2-D point-cloud SDE panel: watch a data set melt into a Gaussian and come back.

Forward (data -> noise): either the exact marginal x_t = m(t) x0 + s(t) eps with the noise held
fixed (scrubbing is instant and every frame has exactly the law p_t), or an Euler-Maruyama
simulation whose particles follow genuine Brownian paths.  Reverse (noise -> data): the
reverse-time SDE, the probability-flow ODE or the predictor-corrector sampler from prior
samples, driven by the exact mixture score and/or the trained 2-D network, side by side.
MCMC: Metropolis chains on p_0, the pre-diffusion way to sample, for contrast.

Heavy numpy (a reverse run over 50k points with a mixture of ~200 components) runs as a job on
a :class:`JobRunner`; the GUI thread only draws frames and evaluates grid overlays (a few
thousand points).  The panel is assembled from mixins: widgets (:mod:`._sde2d_ui`), overlays,
display, drawing, the learned network and the session state live in the ``_sde2d_*`` modules.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QWidget

from diffview.core import sde as sde_mod
from diffview.core.toy2d import toy_mixture
from diffview.gui.panels._sde2d_anim import AnimationMixin
from diffview.gui.panels._sde2d_compute import (
    Recording,
    forward_em_job,
    mcmc_job,
    reverse_job,
)
from diffview.gui.panels._sde2d_display import DisplayMixin
from diffview.gui.panels._sde2d_draw import DrawingMixin
from diffview.gui.panels._sde2d_learned import TORCH_MISSING, LearnedMixin
from diffview.gui.panels._sde2d_overlays import OverlaysMixin
from diffview.gui.panels._sde2d_state import StateMixin
from diffview.gui.panels._sde2d_train import torch_available
from diffview.gui.panels._sde2d_ui import (  # noqa: F401 - re-exported names
    DATASET_LABELS,
    DRAWING,
    EXACT_FRAMES,
    FORWARD_METHODS,
    JOB_NAME,
    LABEL_INTERVAL_MS,
    MODES,
    NO_MODEL_TIP,
    REVERSE_METHODS,
    SCORES,
    SDE_LABELS,
    TRAIN_JOB,
    VIEWS,
    build_ui,
    set_item_enabled,
)
from diffview.gui.workers import JobRunner

__all__ = ["Sde2DPanel", "MODES", "SDE_LABELS", "VIEWS"]


class Sde2DPanel(OverlaysMixin, DisplayMixin, DrawingMixin, LearnedMixin, StateMixin,
                 AnimationMixin, QWidget):
    """Point clouds under the Brownian, VP, VE and OU SDEs, forward, reverse and by MCMC.

    Signals
    -------
    frame_shown(int)
        The slider position now on screen (-1 for a live frame of a running job).
    run_completed(str)
        A forward/reverse/MCMC run finished and its recording is ready to replay.
    overlays_updated()
        New heat maps / arrows are on screen (they are computed on a worker thread).
    learned_changed(bool)
        The data set's trained network finished loading (True) or does not exist (False).
    training_finished(bool)
        "Train network" ended: True when the new network is in use, False when it failed or
        was stopped.
    """

    panel_name = "sde2d"
    title = "2-D point-cloud SDE"

    frame_shown = Signal(int)
    run_completed = Signal(str)
    overlays_updated = Signal()
    learned_changed = Signal(bool)
    training_finished = Signal(bool)

    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._runner = JobRunner("sde2d", self, max_fps=30)
        self._runner.frame_ready.connect(self._on_frame)
        self._runner.run_finished.connect(self._on_finished)
        self._runner.run_failed.connect(self._on_failed)
        self._runner.run_cancelled.connect(self._on_cancelled)
        self._runner.busy_changed.connect(self._on_busy)
        context.cancel_requested.connect(self._on_cancel_requested)
        self._model_loader = JobRunner("sde2d-model", self)
        self._model_loader.run_finished.connect(self._on_model_loaded)
        self._wanted_learned: tuple[str | None, str | None] | None = None
        self._init_training()
        self._overlay_runner = JobRunner("sde2d-overlays", self, max_fps=30)
        self._overlay_runner.run_finished.connect(self._apply_overlays)
        self._overlay_runner.run_failed.connect(self._overlay_failed)
        self._overlay_pending = False
        self._overlay_dirty = False
        self._overlay_started = 0.0
        self._overlay_time_shown = 0.0
        self._overlay_seq = 0         # numbers every overlay computation
        self._overlay_seq_shown = 0   # the newest one on screen

        self._drawn: list[tuple[float, float]] = []
        self._drawn_mixture = None
        self._recording: Recording | None = None
        self._live: dict | None = None
        self._x0 = np.zeros((0, 2))
        self._eps = np.zeros((0, 2))
        self._x_T = np.zeros((0, 2))  # noqa: N815
        self._learned_model = None
        self._sde = sde_mod.make_sde("vp")
        self._shown: dict[str, np.ndarray] = {}
        self._shown_trails: dict | None = None
        self._group_ref = None
        self._group_labels = None
        self._mcmc_key = None
        self._mcmc_x0 = np.zeros((0, 2))
        self._shown_time = 0.0

        self._build_ui()
        self._play_timer = QTimer(self)
        self._play_timer.setInterval(33)
        self._play_timer.timeout.connect(self._advance)
        self._overlay_timer = QTimer(self)
        self._overlay_timer.setSingleShot(True)
        self._overlay_timer.setInterval(40)
        self._overlay_timer.timeout.connect(self._refresh_overlays)
        self._label_timer = QTimer(self)
        self._label_timer.setSingleShot(True)
        self._label_timer.setInterval(LABEL_INTERVAL_MS)
        self._label_timer.timeout.connect(self._on_label_timer)
        self._label_dirty = False
        self.plot_a.view.sigRangeChanged.connect(lambda *_: self._overlay_timer.start(40))

        self._on_dataset_changed()
        self._update_enabled()
        self._on_train_busy(False)
        if not torch_available():
            self.train_btn.setToolTip(TORCH_MISSING)

    # ---- UI ---------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        build_ui(self)

    # ---- properties -------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.mode_combo.currentData()

    @property
    def dataset(self) -> str:
        return self.dataset_combo.currentData()

    @property
    def sde(self) -> sde_mod.LinearSDE:
        return self._sde

    @property
    def forward_method(self) -> str:
        return self.forward_combo.currentData()

    @property
    def reverse_method(self) -> str:
        return self.reverse_combo.currentData()

    @property
    def score_source(self) -> str:
        return self.score_combo.currentData()

    @property
    def view_mode(self) -> str:
        return self.view_combo.currentData()

    @property
    def mixture(self):
        """p₀ as a GaussianMixture (the drawn one for "My drawing")."""
        if self.dataset == DRAWING and self._drawn_mixture is not None:
            return self._drawn_mixture
        return toy_mixture(self.dataset if self.dataset != DRAWING else "double_gaussian")

    @property
    def x0(self) -> np.ndarray:
        """The data samples (N, 2)."""
        return self._x0

    @property
    def x_T(self) -> np.ndarray:  # noqa: N802
        """The prior samples (N, 2) the reverse runs start from."""
        return self._x_T

    @property
    def recording(self) -> Recording | None:
        return self._recording

    @property
    def learned_available(self) -> bool:
        return self._learned_model is not None

    def shown_points(self, which: str = "a") -> np.ndarray:
        """The (N, 2) points on plot ``"a"`` (left) or ``"b"`` (right) now."""
        plot = self.plot_a if which == "a" else self.plot_b
        return plot.points.data()

    @property
    def shown_time(self) -> float:
        return self._shown_time

    def is_busy(self) -> bool:
        return self._runner.is_busy()

    # ---- setup changes ----------------------------------------------------------------------
    def _on_sde_changed(self, *_) -> None:
        self._sde = sde_mod.make_sde(self.sde_combo.currentData())
        self.zoom_check.blockSignals(True)
        self.zoom_check.setChecked(self._sde.name == "ve")
        self.zoom_check.blockSignals(False)
        self._on_samples_changed()

    def _on_samples_changed(self, *_) -> None:
        """Draw the data, the forward noise and the prior samples again; drop the last run."""
        self._discard_run()
        n = self.n_spin.value()
        seed = self.seed_spin.value()
        rng = np.random.default_rng((seed, 0))
        self._x0 = self.mixture.sample(n, rng)
        self._eps = np.random.default_rng((seed, 1)).standard_normal((n, 2))
        self._x_T = self._sde.prior_sample((n, 2), np.random.default_rng((seed, 2)))
        self._set_default_range()
        self._reset_slider()

    def _on_mode_changed(self, *_) -> None:
        self._discard_run()
        self._update_enabled()
        self._set_default_range()
        self._reset_slider()

    def _on_method_changed(self, *_) -> None:
        self._discard_run()
        self._update_enabled()
        self._reset_slider()

    def _update_enabled(self) -> None:
        mode = self.mode
        self.forward_combo.setEnabled(mode == "forward")
        self.reverse_combo.setEnabled(mode == "reverse")
        self.mcmc_step_spin.setEnabled(mode == "mcmc")
        self.sde_combo.setEnabled(mode != "mcmc")
        self.score_combo.setEnabled(mode != "mcmc")
        needs_run = not (mode == "forward" and self.forward_method == "exact")
        self.run_btn.setEnabled(needs_run and not self.is_busy())
        both = self.score_source == "both"
        # a hidden item still takes its cell in a QGraphicsGridLayout: take it out instead
        in_layout = self.plot_b.plot.scene() is not None and self._b_in_layout
        if both and not in_layout:
            self.glw.addItem(self.plot_b.plot, row=0, col=1)
            self._b_in_layout = True
        elif not both and in_layout:
            self.glw.removeItem(self.plot_b.plot)
            self._b_in_layout = False
        self.plot_a.set_title(self._plot_title("a"))
        self.plot_b.set_title(self._plot_title("b"))

    def _plot_title(self, which: str) -> str:
        learned = ("learned score (network trained here)" if self.dataset in self._trained
                   else "learned score (network)")
        if which == "b":
            return learned
        if self.mode == "mcmc":
            return "Metropolis chains on p₀"
        if self.score_source == "learned":
            return learned
        if self.dataset == DRAWING:
            return "exact score (kernel density of the drawing)"
        return "exact score (mixture)"

    def _set_default_range(self) -> None:
        """Fit the data and the prior: |x| up to 3 marginal standard deviations at T."""
        var = float(np.trace(self.mixture.covariance())) / 2.0
        mean = self.mixture.mean()
        half = max(4.5, float(np.max(np.abs(mean))) + 3.0 * math.sqrt(var))
        if self.mode != "mcmc":
            s_t = float(self._sde.marginal_std(self._sde.T))
            m_t = float(self._sde.mean_coef(self._sde.T))
            half = max(half, 3.2 * math.sqrt(m_t * m_t * var + s_t * s_t))
        self.plot_a.view.setRange(xRange=(-half, half), yRange=(-half, half), padding=0.02)

    def _discard_run(self) -> None:
        if self.is_busy():
            self._runner.cancel()
        self._recording = None
        self._live = None
        self.set_playing(False)

    # ---- the time axis ----------------------------------------------------------------------
    def _exact_times(self) -> np.ndarray:
        return self._sde.time_grid(EXACT_FRAMES)

    def frame_count(self) -> int:
        if self.mode == "forward" and self.forward_method == "exact":
            return EXACT_FRAMES + 1
        return len(self._recording) if self._recording is not None else 1

    def _reset_slider(self) -> None:
        self.time_slider.blockSignals(True)
        self.time_slider.setRange(0, max(self.frame_count() - 1, 0))
        self.time_slider.setValue(0)
        self.time_slider.blockSignals(False)
        self.show_frame(0)

    def set_frame(self, index: int) -> None:
        """Move the time slider (and show that frame)."""
        self.time_slider.setValue(int(index))

    def set_time(self, time: float) -> None:
        """Move the slider to the frame whose time is closest to ``time``."""
        times = self._frame_times()
        self.set_frame(int(np.argmin(np.abs(np.asarray(times) - time))))

    def _frame_times(self) -> list:
        if self.mode == "forward" and self.forward_method == "exact":
            return list(self._exact_times())
        if self._recording is not None:
            return self._recording.times
        return [0.0 if self.mode != "reverse" else float(self._sde.T)]

    def _series(self) -> tuple[str, str | None]:
        """The recording series drawn on plot a and plot b (None: b hidden)."""
        if self.mode != "reverse":
            return "cloud", ("cloud" if self.score_source == "both" else None)
        if self.score_source == "both":
            return "exact", "learned"
        return self.score_source, None

    def _frame(self, index: int) -> tuple[float, dict, dict | None]:
        """(time, {series: points}, {series: trail paths} or None) of slider position index."""
        if self.mode == "forward" and self.forward_method == "exact":
            t = float(self._exact_times()[index])
            x = self._sde.sample_marginal(self._x0, t, self._eps)
            return t, {"cloud": x}, None
        rec = self._recording
        if rec is None:
            if self.mode == "reverse":
                names = ("exact", "learned")
                return float(self._sde.T), {n: self._x_T for n in names}, None
            return 0.0, {"cloud": self._x0 if self.mode == "forward" else self._mcmc_start()}, None
        index = min(index, len(rec) - 1)
        xs = {name: frames[index] for name, frames in rec.frames.items()}
        upto = rec.steps[index] + 1
        trails = {name: tr[:upto] for name, tr in rec.trails.items()}
        return float(rec.times[index]), xs, trails

    def _mcmc_start(self) -> np.ndarray:
        """Chains start from a wide Gaussian N(0, 2² I), seeded like the data (cached)."""
        key = (self.n_spin.value(), self.seed_spin.value())
        if self._mcmc_key != key:
            rng = np.random.default_rng((key[1], 3))
            self._mcmc_x0 = 2.0 * rng.standard_normal((key[0], 2))
            self._mcmc_key = key
        return self._mcmc_x0

    def show_frame(self, index: int) -> None:
        """Draw slider position ``index``: points, overlays, labels."""
        t, xs, trails = self._frame(int(index))
        self._show(t, xs, trails)
        self.frame_shown.emit(int(index))

    def _show(self, t: float, xs: dict, trails: dict | None) -> None:
        a, b = self._series()
        self._shown_time = t
        self._shown = {"a": xs.get(a), "b": xs.get(b) if b else None}
        self._shown_trails = trails
        self._redraw()

    # ---- running ------------------------------------------------------------------------------
    def run(self) -> int | None:
        """Start the simulation of the current mode on the background thread; returns its id."""
        mode, n_steps, seed = self.mode, self.steps_spin.value(), self.seed_spin.value()
        self.set_playing(False)
        self._recording = None
        if mode == "forward":
            if self.forward_method == "exact":
                return None
            job = forward_em_job(self._sde, self._x0, n_steps, seed)
        elif mode == "reverse":
            names = {"exact": ["exact"], "learned": ["learned"],
                     "both": ["exact", "learned"]}[self.score_source]
            try:
                scores = {name: self._score(name) for name in names}
            except Exception as exc:  # noqa: BLE001
                self.context.report_error("2-D reverse run", str(exc))
                return None
            job = reverse_job(self._sde, scores, self._x_T, self.reverse_method, n_steps, seed)
        else:
            job = mcmc_job(self.mixture.log_prob, self._mcmc_start(), n_steps,
                           self.mcmc_step_spin.value(), seed)
        self._live = None
        rid = self._runner.start(job)
        self.context.report_progress(JOB_NAME, 0, n_steps)
        return rid

    def cancel(self) -> None:
        self._runner.cancel()

    def _on_busy(self, busy: bool) -> None:
        self.cancel_btn.setEnabled(busy)
        self.time_slider.setEnabled(not busy)
        self.play_btn.setEnabled(not busy)   # a live run drives the picture meanwhile
        if busy:
            self.set_playing(False)
        self._update_enabled()

    def _on_frame(self, _rid: int, frame: dict) -> None:
        self._live = frame
        self._show(frame["time"], frame["xs"], frame.get("trails"))
        self.context.report_progress(JOB_NAME, frame["k"], frame["n"])
        self.frame_shown.emit(-1)

    def _on_finished(self, _rid: int, rec) -> None:
        self._live = None
        n = self.steps_spin.value()
        self.context.report_progress(JOB_NAME, n, n)
        if rec is None:
            return
        self._recording = rec
        self.time_slider.blockSignals(True)
        self.time_slider.setRange(0, len(rec) - 1)
        self.time_slider.setValue(len(rec) - 1)
        self.time_slider.blockSignals(False)
        self.show_frame(len(rec) - 1)
        self.run_completed.emit(rec.kind)

    def _on_failed(self, _rid: int, message: str) -> None:
        self._live = None
        self.context.report_progress(JOB_NAME, 1, 1)
        self.context.report_error("2-D SDE run failed", message)
        self._reset_slider()

    def _on_cancelled(self, _rid: int) -> None:
        self._live = None
        self.context.report_progress(JOB_NAME, 1, 1)
        self.context.report_status("2-D SDE run cancelled.")
        self._reset_slider()

    def _on_cancel_requested(self, name: str) -> None:
        if name == JOB_NAME:
            self.cancel()
        elif name == TRAIN_JOB:
            self.cancel_training()

    # ---- playing ------------------------------------------------------------------------------
    def set_playing(self, playing: bool) -> None:
        if playing and self.time_slider.value() >= self.time_slider.maximum():
            self.time_slider.setValue(0)
        if playing:
            self._play_timer.start()
        else:
            self._play_timer.stop()
        if self.play_btn.isChecked() != playing:
            self.play_btn.blockSignals(True)
            self.play_btn.setChecked(playing)
            self.play_btn.blockSignals(False)
        self.play_btn.setText("Pause" if playing else "Play")

    def _advance(self) -> None:
        v = self.time_slider.value()
        if v >= self.time_slider.maximum():
            self.set_playing(False)
            return
        self.time_slider.setValue(v + 1)

    # ---- shutdown ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        self._play_timer.stop()
        self._overlay_timer.stop()
        self._label_timer.stop()
        self._runner.shutdown()
        self._overlay_runner.shutdown()
        self._model_loader.shutdown()
        self._trainer.shutdown()
        self._remove_train_dirs()
