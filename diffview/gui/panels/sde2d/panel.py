"""The 2-D point-cloud SDE panel: watch a data set melt into a Gaussian and come back.

Forward (data -> noise): the exact marginal x_t = m(t) x0 + s(t) eps with the noise held fixed
(instant scrubbing, the exact law at every t), or an Euler-Maruyama simulation. Reverse
(noise -> data): the reverse-time SDE, the probability-flow ODE or predictor-corrector, driven
by the exact mixture score and/or a learned network, side by side. MCMC: Metropolis chains on
p_0, for contrast.

The panel is a view over a :class:`~.state.Sde2DState` and a :class:`~.scene.CloudScene`; it
owns :class:`~.controls.Sde2DControls`, :class:`~.plot.CloudPlots` and the services
:class:`~.overlays.OverlayService`, :class:`~.learned.LearnedNetworks`,
:class:`~.training.NetworkTrainer` and :class:`~.drawing.Drawing`. Runs are
:mod:`diffview.runs.points2d` generators started as Jobs on ``context.jobs``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QWidget

from diffview.gui.panels.sde2d import animation
from diffview.gui.panels.sde2d.controls import CONTROL_NAMES, Sde2DControls
from diffview.gui.panels.sde2d.learned import LearnedNetworks
from diffview.gui.panels.sde2d.network_box import NetworkBox
from diffview.gui.panels.sde2d.overlays import (
    DENSITY_GRID,
    ERROR_GRID,
    OverlayService,
    OverlayWork,
    overlay_time,
    overlay_work,
)
from diffview.gui.panels.sde2d.plot import CloudPlots, Player
from diffview.gui.panels.sde2d.runner import JOB_NAME, CloudRuns
from diffview.gui.panels.sde2d.scene import CloudScene
from diffview.gui.panels.sde2d.state import DRAWING, Sde2DState
from diffview.runs.points2d import density_image, score_error_image

__all__ = ["JOB_NAME", "Sde2DPanel"]

LABEL_INTERVAL_MS = 150


class Sde2DPanel(QWidget):
    """Point clouds under the Brownian, VP, VE and OU SDEs, forward, reverse and by MCMC.

    Signals
    -------
    frame_shown(int)
        The slider position now on screen (-1 for a live frame of a running job).
    live_frame(object)
        A :class:`~diffview.runs.points2d.CloudFrame` of the running job.
    run_completed(str)
        A run finished (its kind); its recording is ready to replay.
    run_cancelled(object)
        A run was cancelled: its partial recording (replayable) or None.
    overlays_updated()
        New heat maps / arrows are on screen.
    learned_changed(bool)
        The data set's network is there (True) or does not exist (False).
    training_finished(bool)
        "Train network" ended: True when the new network is in use.
    """

    panel_name = "sde2d"
    title = "2-D point-cloud SDE"

    frame_shown = Signal(int)
    live_frame = Signal(object)
    run_completed = Signal(str)
    run_cancelled = Signal(object)
    overlays_updated = Signal()
    learned_changed = Signal(bool)
    training_finished = Signal(bool)

    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.controls = Sde2DControls()
        self.plots = CloudPlots()
        for name in CONTROL_NAMES:   # the panel offers them as its own attributes
            setattr(self, name, getattr(self.controls, name))
        self.plot_a, self.plot_b = self.plots.plots()
        self.glw, self.time_slider = self.plots.glw, self.plots.time_slider
        self.scene = CloudScene()
        self.learned = LearnedNetworks(context, self)
        self.overlays = OverlayService(context, {"a": self.plot_a, "b": self.plot_b},
                                       self._overlay_work, self._animating, self)
        self.overlays.updated.connect(self.overlays_updated)
        self.network = NetworkBox(self, context, self.controls, self.learned, self.plot_a)
        self.network.model_changed.connect(self._on_model_changed)
        self.network.data_changed.connect(lambda: self._on_changed("dataset"))
        self.network.learned_changed.connect(self.learned_changed)
        self.network.training_finished.connect(self.training_finished)
        self.drawing = self.network.drawing
        self.runs = CloudRuns(context, self)
        self.runs.frame.connect(self._on_frame)
        self.runs.ended.connect(self._on_ended)
        self.runs.failed.connect(self._on_failed)
        self.runs.busy_changed.connect(self._on_busy)
        self.run_lane = self.runs.lane
        self._state = Sde2DState()
        self._live = None
        self._shown: dict = {}
        self._shown_trails: dict | None = None
        self._shown_time = 0.0
        self._shut_down = False
        self._build()
        self._on_changed("dataset")

    def _build(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        scroll.setMaximumWidth(340)
        root.addWidget(scroll)
        root.addWidget(self.plots, 1)
        self.player = Player(self.time_slider, self.controls.play_btn, self)
        self._label_timer = QTimer(self, interval=LABEL_INTERVAL_MS, singleShot=True,
                                   timeout=self._update_info)
        c = self.controls
        c.changed.connect(self._on_changed)
        c.run_btn.clicked.connect(self.run)
        c.cancel_btn.clicked.connect(self.cancel)
        c.save_net_btn.clicked.connect(lambda: self.save_network())
        self.time_slider.valueChanged.connect(self.show_frame)
        self.plot_a.view.sigRangeChanged.connect(lambda *_: self.overlays.schedule())

    # ---- what is shown -----------------------------------------------------------------------
    @property
    def state(self) -> Sde2DState:
        """What the panel shows now (the slider's frame included)."""
        return dataclasses.replace(self.network.complete(self._state),
                                   frame=self.time_slider.value())

    mode = property(lambda self: self._state.mode)
    dataset = property(lambda self: self._state.dataset)
    forward_method = property(lambda self: self._state.forward)
    reverse_method = property(lambda self: self._state.reverse)
    score_source = property(lambda self: self._state.score)
    view_mode = property(lambda self: self._state.view)
    sde = property(lambda self: self.scene.sde)
    mixture = property(lambda self: self.scene.mixture)
    x0 = property(lambda self: self.scene.x0)
    x_T = property(lambda self: self.scene.x_T)  # noqa: N815
    recording = property(lambda self: self.scene.recording)
    shown_time = property(lambda self: self._shown_time)
    learned_available = property(lambda self: self.network.model is not None)

    def shown_points(self, which: str = "a") -> np.ndarray:
        """The (N, 2) points on plot ``"a"`` (left) or ``"b"`` (right) now."""
        return (self.plot_a if which == "a" else self.plot_b).points.data()

    def learned_loading(self) -> bool:
        return self.learned.loading()

    def trained_network(self):
        return self.learned.trained(self.dataset)

    # ---- the learned network and training (NetworkBox) ---------------------------------------
    def _on_model_changed(self) -> None:
        self._sync()
        self.update_enabled()
        self._redraw()

    def start_training(self) -> int | None:
        return self.network.start_training()

    def cancel_training(self) -> None:
        self.network.trainer.cancel()

    def is_training(self) -> bool:
        return self.network.trainer.is_busy()

    def save_network(self, path=None) -> bool:
        """Copy the network trained here for the current data to ``path`` (asks when None)."""
        return self.network.save_network(self, path)

    # ---- changes -----------------------------------------------------------------------------
    def _sync(self) -> None:
        self._state = self.controls.read(self._state, self.time_slider.value())
        self._state = self.network.complete(self._state)
        self.scene.update(self._state, self.drawing.mixture
                          if self._state.dataset == DRAWING else None)

    def _on_changed(self, kind: str) -> None:
        """A control changed: ``kind`` is dataset, sde, samples, mode, method, view or zoom."""
        if kind == "sde":
            self.controls.zoom_check.blockSignals(True)
            self.controls.zoom_check.setChecked(self.controls.sde_combo.currentData() == "ve")
            self.controls.zoom_check.blockSignals(False)
        if kind == "dataset":
            self.network.on_dataset(self.controls.dataset_combo.currentData())
        self._sync()
        if kind in ("view", "zoom"):
            if kind == "zoom" and not self._state.zoom:
                self._set_default_range()
            self._redraw()
            return
        self._discard_run()
        self.update_enabled()
        if kind != "method":
            self._set_default_range()
        self._reset_slider()

    def update_enabled(self) -> None:
        s = self._state
        flow = s.process == "flow"
        self.controls.set_mode_enabled(s.mode, self.is_busy(), s.needs_run, flow)
        self.plots.show_b(flow or (s.score == "both" and s.mode != "mcmc"))
        self.plot_a.set_title(self.network.plot_title("a", s))
        self.plot_b.set_title(self.network.plot_title("b", s))

    def _set_default_range(self) -> None:
        self.plots.set_half_range(self.scene.default_half_range())

    def _discard_run(self) -> None:
        self.runs.discard()        # callbacks of an earlier run are dropped
        self.scene.recording = None
        self._live = None
        self.set_playing(False)

    # ---- the time axis -----------------------------------------------------------------------
    def frame_count(self) -> int:
        return self.scene.frame_count()

    def _reset_slider(self, index: int = 0) -> None:
        self.time_slider.blockSignals(True)
        self.time_slider.setRange(0, max(self.frame_count() - 1, 0))
        self.time_slider.setValue(index)
        self.time_slider.blockSignals(False)
        self.show_frame(self.time_slider.value())

    def set_frame(self, index: int) -> None:
        self.time_slider.setValue(int(index))

    def set_time(self, time: float) -> None:
        """Move the slider to the frame whose time is closest to ``time``."""
        times = np.asarray(self.scene.frame_times())
        self.set_frame(int(np.argmin(np.abs(times - time))))

    def show_frame(self, index: int) -> None:
        frame = self.scene.frame(int(index))
        self._show(frame.time, frame.points, frame.trails)
        self.frame_shown.emit(int(index))

    def _show(self, t: float, xs: dict, trails: dict | None) -> None:
        a, b = self.scene.series()
        self._shown_time = t
        self._shown = {"a": xs.get(a), "b": xs.get(b) if b else None}
        self._shown_trails = trails
        self._redraw()

    def _redraw(self) -> None:
        s = self._state
        if s.zoom:
            self.plots.zoom_to(list(self._shown.values()))
        self.plots.draw(self.scene.series(), self._shown, self._shown_trails, self.scene.groups,
                        s.view, s.trails)
        self.overlays.refresh()
        self.plots.time_label.setText(animation.time_text(self.scene, self._shown_time))
        if not self._label_timer.isActive():   # the word-wrapped label relayouts (~10 ms)
            self._update_info()
            self._label_timer.start()

    def _update_info(self) -> None:
        rec, live = self.scene.recording, self._live
        rate = live.accept_rate if live is not None else rec.accept_rate if rec else None
        self.info_label.setText(animation.info_text(self.scene, self._shown.get("a"),
                                                    live is not None, rate))

    # ---- overlays ----------------------------------------------------------------------------
    def _overlay_work(self) -> OverlayWork:
        return overlay_work(self.scene, self.network.model, self.plot_a.rect_tuple(),
                            self._shown_time)

    def _animating(self) -> bool:
        return self.player.is_playing() or self.is_busy()

    def overlays_settled(self) -> bool:
        return self.overlays.settled()

    def refresh_overlays_now(self) -> None:
        self.overlays.refresh_now()

    def density_image(self):
        """(xs, ys, p_t (ny, nx)) over the visible rectangle at the time shown."""
        return density_image(self.scene.mixture, self.scene.sde, self.plot_a.rect_tuple(),
                             overlay_time(self.scene, self._shown_time), DENSITY_GRID)

    def score_error_image(self):
        """(xs, ys, |learned - exact score| (ny, nx)) at the time shown."""
        model = self.network.model
        return score_error_image(self.scene.score("learned", model), self.scene.score("exact"),
                                 self.plot_a.rect_tuple(),
                                 overlay_time(self.scene, self._shown_time), ERROR_GRID)

    # ---- running -----------------------------------------------------------------------------
    def run(self) -> int | None:
        """Start the current mode's run as a Job; returns its request id (None: nothing)."""
        self._discard_run()
        try:
            return self.runs.start(self.scene, self.network.model)
        except Exception as exc:  # noqa: BLE001 - e.g. a broken network
            self.context.report_error("2-D reverse run", str(exc))
            return None

    def cancel(self) -> None:
        self.runs.cancel()

    def is_busy(self) -> bool:
        return self.runs.is_busy()

    def _on_busy(self, running: bool) -> None:
        c = self.controls
        c.cancel_btn.setEnabled(running)
        self.time_slider.setEnabled(not running)
        c.play_btn.setEnabled(not running)   # a live run drives the picture meanwhile
        if running:
            self.set_playing(False)
        self.update_enabled()

    def _on_frame(self, frame) -> None:
        self._live = frame
        self._show(frame.time, frame.points, frame.trails)
        self.frame_shown.emit(-1)
        self.live_frame.emit(frame)

    def _on_ended(self, rec, cancelled: bool) -> None:
        self._live = None
        self.scene.recording = rec if rec is not None and len(rec) else None
        self._reset_slider(len(rec) - 1 if self.scene.recording is not None else 0)
        self._label_timer.stop()   # the finished run's lines now, not after the throttle
        self._update_info()
        if cancelled:
            self.context.report_status("2-D SDE run cancelled; the part done can be replayed.")
            self.run_cancelled.emit(self.scene.recording)
        else:
            self.run_completed.emit(rec.kind)

    def _on_failed(self, message: str) -> None:
        self._live = None
        self.context.report_error("2-D SDE run failed", message)
        self._reset_slider()

    def set_playing(self, playing: bool) -> None:
        self.player.set_playing(playing)

    # ---- the Panel protocol ------------------------------------------------------------------
    def state_dict(self) -> dict:
        return self.state.to_dict()

    to_state = state_dict

    def load_state(self, data: dict) -> None:
        """Validate ``data`` whole (ValueError naming the field), then show it."""
        state = Sde2DState.from_dict(data)
        self._discard_run()
        self.network.restore(state)
        self.controls.show_state(state)
        self._state = state
        self._on_changed("dataset")
        self.set_frame(state.frame)

    from_state = load_state

    def animation_source(self):
        return animation.cloud_animation(self.scene, self.plot_a.rect_tuple())

    def animation_hint(self) -> str:
        return animation.ANIMATION_HINT

    def demo_state(self) -> None:
        """Moons under the VP SDE, a tenth of the way to noise, density and arrows on."""
        c = self.controls
        for box, key in ((c.mode_combo, "forward"), (c.dataset_combo, "moons"),
                         (c.sde_combo, "vp"), (c.forward_combo, "exact"),
                         (c.view_combo, "both")):
            box.setCurrentIndex(box.findData(key))
        c.arrows_check.setChecked(True)
        self.set_time(0.1)
        self.refresh_overlays_now()

    def shutdown(self) -> None:
        if self._shut_down:
            return
        self._shut_down = True
        self.player.set_playing(False)
        self._label_timer.stop()
        self._discard_run()
        self.overlays.shutdown()
        self.network.shutdown()
