"""The sampling panel: watch a sampler turn noise into images, replay any step, race samplers.

Composition: a :class:`~.state.SamplingState` (what the panel shows; what a session saves), the
views that draw it (:class:`~.controls.SamplingControls`, :class:`~.trajectory.TrajectoryView`,
:class:`~.race.RaceView`) and the services they own (pixel probes, the image board). Every run
is a :mod:`diffview.runs` generator handed to ``context.jobs`` as a :class:`~diffview.gui.jobs.Job`
(:func:`~diffview.runs.sampling.run_sampling`, :func:`~diffview.runs.race.run_race`); the job
manager owns progress, ETA, Cancel and errors. A cancelled run hands back what it did, which
replays and exports like a finished one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from diffview.gui.handover import DenoiseRequest, as_request
from diffview.gui.jobs import Job
from diffview.gui.panels.sampling.controls import SamplingControls
from diffview.gui.panels.sampling.from_here import denoise_start, one_image
from diffview.gui.panels.sampling.info_label import InfoLabel, long_run_note
from diffview.gui.panels.sampling.race import RaceView, SamplerRace
from diffview.gui.panels.sampling.replay import Replay, select_tiles, start_images
from diffview.gui.panels.sampling.state import SamplingState, model_problem
from diffview.gui.panels.sampling.trajectory import TrajectoryView
from diffview.runs.sampling import (
    SamplingSpec,
    Start,
    build_sampler,
    check_spec,
    describe,
    run_sampling,
)

__all__ = ["SamplingPanel"]

NOTHING_TO_ANIMATE = "Run the sampler first: there is no run to export."
LANE = "sampling"


class SamplingPanel(QWidget):
    """Run a sampler and watch x_t and the predicted x0, then replay, probe pixels, race.

    Signals
    -------
    frame_shown(object)
        A live :class:`~diffview.runs.sampling.SamplingFrame` was drawn.
    run_completed(object)
        The :class:`~diffview.runs.sampling.SamplingResult` of a finished run.
    run_cancelled(object)
        The partial result of a cancelled run (None when it stopped before its first step).
    race_frame_shown(object), race_finished(object), race_cancelled(object)
        The same for the sampler race (:class:`~diffview.runs.race.RaceResult`).
    """

    panel_name = "sampling"
    title = "Sampling trajectories"

    frame_shown = Signal(object)
    run_completed = Signal(object)
    run_cancelled = Signal(object)
    race_frame_shown = Signal(object)
    race_finished = Signal(object)
    race_cancelled = Signal(object)

    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.state = SamplingState()
        self._replay: Replay | None = None
        self._note = ""  # what the status line adds about the running run
        self._said_eta = self._shut_down = False
        self.controls = SamplingControls()
        self.trajectory = TrajectoryView()
        self.race = RaceView()
        self.racer = SamplerRace(context, self.race, self)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.trajectory, "Trajectory")
        self.tabs.addTab(self.race, "Sampler race")
        self.info_label = InfoLabel("No run yet: press Run to sample a batch from pure noise.")
        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        root.setSpacing(3)
        root.addWidget(self.controls)
        root.addWidget(self.tabs, 1)
        root.addWidget(self.info_label)
        # The widgets that scripts and tests drive, under their established names.
        c, t, r = self.controls, self.trajectory, self.race
        self.sampler_combo, self.steps_spin, self.eta_spin = (c.sampler_combo, c.steps_spin,
                                                              c.eta_spin)
        self.batch_spin, self.seed_spin, self.clip_check = c.batch_spin, c.seed_spin, c.clip_check
        self.run_button, self.cancel_button = c.run_button, c.cancel_button
        self.timeline, self.step_label, self.sample_spin = t.timeline, t.step_label, t.sample_spin
        self.race_edit, self.race_batch, self.race_button = r.race_edit, r.race_batch, \
            r.race_button
        c.sampler_chosen.connect(self._on_sampler_chosen)
        c.edited.connect(lambda: self._set(**self.controls.values()))
        c.run_clicked.connect(lambda: self.run())
        c.cancel_clicked.connect(self.cancel)
        r.edited.connect(lambda: self._set(**self.race.values()))
        r.start_clicked.connect(self.run_race)
        self.racer.frame_shown.connect(self.race_frame_shown)
        self.racer.finished.connect(self._on_race_done)
        self.racer.cancelled.connect(self._on_race_cancelled)
        self.racer.failed.connect(self._on_error)
        t.step_changed.connect(self.show_step)
        t.show_changed.connect(self._on_show_changed)
        t.pixel_clicked.connect(self._on_pixel_clicked)
        t.clear_pixels_clicked.connect(self.clear_pixels)
        c.show_state(self.state)
        r.show_state(self.state)
        context.image_model_changed.connect(self._on_model_changed)
        context.denoise_requested.connect(
            lambda payload, t_index: self.denoise_from(as_request(payload, t_index)))
        context.trajectory_requested.connect(self.show_trajectory)
        context.jobs.busy_changed.connect(self._update_running)
        self._on_model_changed(context.image_model)

    # ---- state and model ------------------------------------------------------------------

    def _set(self, **changes) -> None:
        self.state = dataclasses.replace(self.state, **changes)

    def model_problem(self) -> str:
        """Why the panel cannot sample now ("" when it can)."""
        return model_problem(self.context.image_model)

    def _on_model_changed(self, _model=None) -> None:
        problem = self.model_problem()
        if problem:
            self.info_label.setText(problem)
        else:
            info = self.context.image_model.info
            self.controls.set_max_steps(info.T)
            if self.state.steps > info.T:
                self._set(steps=int(info.T))
                self.controls.show_state(self.state)
            self.info_label.setText(f"Model: {'×'.join(map(str, info.sample_shape))}, "
                                    f"{info.schedule} schedule, T = {info.T}. Press Run to "
                                    "sample from pure noise.")
        self._update_running()

    def _on_sampler_chosen(self, name: str) -> None:
        model = self.context.image_model
        self.state = self.state.with_sampler(name, model.info.T if model is not None else 1000)
        self.controls.show_state(self.state)

    def _update_running(self, *_args) -> None:
        busy = self.is_busy()
        problem = self.model_problem()
        self.controls.set_running(busy, problem)
        self.race.set_running(busy, problem)

    # ---- runs -----------------------------------------------------------------------------

    def run(self, start: Start | None = None, note: str = "") -> int | None:
        """Sample with the panel's settings from fresh noise (or from ``start``); returns the
        job's request id, or None when there is no model."""
        return self._start_run(self.state.spec(start), note)

    def _start_run(self, spec: SamplingSpec, note: str = "", publish: bool = True) -> int | None:
        """Start ``spec``; ``publish``: its samples become the app's (the grid shows them)."""
        problem = self.model_problem()
        if problem:
            self.context.report_status(problem)
            return None
        model = self.context.image_model
        info = model.info
        try:
            check_spec(spec, info)
            n = len(build_sampler(spec, info).timesteps)
        except ValueError as exc:
            self.context.report_error("Cannot sample", str(exc))
            return None
        self._set(result=None, live=None)
        self._replay = None
        self.trajectory.set_timeline(None)
        self.trajectory.show_norms(None)
        self._draw(start_images(spec, info.sample_shape), None)
        self.trajectory.step_label.setText("running…")
        self._note, self._said_eta = note, False
        self.info_label.setText(" ".join(filter(None, [f"Running {describe(spec, n)}.", note])))
        job = Job("Sampling", start=lambda token: run_sampling(spec, model, token),
                  on_frame=self._on_frame, on_result=lambda r: self._on_result(r, publish),
                  on_cancelled=self._on_cancelled, on_error=self._on_error, lane=LANE)
        rid = self.context.jobs.start(job)
        self._update_running()
        return rid

    def denoise_from(self, request: DenoiseRequest) -> int | None:
        """"Denoise from here": restore the forward panel's image (x_0 given: B independent
        draws of x_t; x_t only: B copies, and the status line says why they agree)."""
        problem = self.model_problem()
        if problem:
            self.context.report_error("Cannot denoise", problem)
            return None
        if request.degradation != "noise":
            self.context.report_status(f"The sampling panel removes Gaussian noise; a "
                                       f"{request.degradation} needs a restoration model.")
            return None
        try:
            begin = denoise_start(request, self.state.spec(), self.context.image_model.info)
        except ValueError as exc:
            self.context.report_error("Cannot denoise", str(exc))
            return None
        self.tabs.setCurrentWidget(self.trajectory)
        return self.run(begin.start, " ".join(filter(None, [begin.note, request.note])))

    def show_trajectory(self, payload) -> None:
        """A grid click: ``{"index": i}`` shows image i of the last run; with ``"spec"`` (the
        grid's own batch) image i of that spec is re-run alone, exactly (seeding rule)."""
        index = int(payload.get("index", 0) if isinstance(payload, dict) else payload)
        self.tabs.setCurrentWidget(self.trajectory)
        spec = payload.get("spec") if isinstance(payload, dict) else None
        if spec is not None:
            self._start_run(one_image(spec, index),
                            f"Image {index} of the grid's batch, re-run alone.", publish=False)
            return
        if self._replay is None:
            return
        if index >= self._replay.kept:
            self.context.report_status(f"Only the first {self._replay.kept} trajectories of the "
                                       f"run were kept; image {index} has its final sample only.")
            return
        self.sample_spin.setValue(index)
        self.timeline.setValue(self.timeline.maximum())

    def run_race(self) -> int | None:
        """Race the samplers of the race field from the same noise; returns the request id."""
        problem = self.model_problem()
        if problem:
            self.context.report_status(problem)
            return None
        rid = self.racer.start(self.state, self.context.image_model)
        if rid is not None:
            self.tabs.setCurrentWidget(self.race)
            self._set(race_result=None)
            self.info_label.setText("Race running: every sampler from the same noise; the one "
                                    "with the fewest network calls so far takes the next step.")
        self._update_running()
        return rid

    def cancel(self) -> None:
        self.context.jobs.cancel(LANE)
        self.racer.cancel()

    # ---- job callbacks --------------------------------------------------------------------

    def _on_frame(self, frame) -> None:
        self._set(live=frame)
        self._draw(frame.x, frame.x0_pred)
        self.trajectory.step_label.setText(f"step {frame.step}/{frame.total}  "
                                           f"(t index {frame.t_index})")
        if not self._said_eta and (eta := long_run_note(self.context.jobs, "Sampling")):
            self._said_eta = True
            self.info_label.setText(f"{self.info_label.text()} {eta}")
        self.frame_shown.emit(frame)

    def _on_result(self, result, publish: bool = True) -> None:
        self._adopt(result)
        hint = self._note or "Drag the timeline to replay; click a pixel to follow it."
        self.info_label.setText(f"Done: {result.description} — {result.final.shape[0]} images, "
                                f"{result.nfe} network calls each. {hint}")
        self._update_running()
        self.run_completed.emit(result)
        if publish:
            self.context.last_samples = result.final
            # Other panels redraw on the next turn of the event loop, not in this one.
            QTimer.singleShot(0, lambda: self.context.samples_changed.emit(result))

    def _on_cancelled(self, partial) -> None:
        total = self.state.live.total if self.state.live is not None else 0
        if partial is not None and partial.xs.shape[0] > 1:
            self._adopt(partial)
            k = self._replay.n_steps
            self.info_label.setText(f"Cancelled after {k} of {total} steps: the timeline "
                                    "replays them and File > Export animation writes them.")
        else:
            self.trajectory.step_label.setText("cancelled")
            self.info_label.setText("Run cancelled before its first step.")
        self._update_running()
        self.run_cancelled.emit(partial)

    def _on_error(self, message: str) -> None:
        self.trajectory.step_label.setText("failed")
        self._update_running()
        self.context.report_error("Sampling failed", message)

    def _on_race_done(self, result) -> None:
        self._set(race_result=result)
        self.info_label.setText("Race finished: the same initial noise for every sampler; NFE "
                                "is network calls per image.")
        self._update_running()
        self.race_finished.emit(result)

    def _on_race_cancelled(self, partial) -> None:
        if partial is not None:
            self._set(race_result=partial)
        self.info_label.setText("Race cancelled.")
        self._update_running()
        self.race_cancelled.emit(partial)

    # ---- replay and display ---------------------------------------------------------------

    def _adopt(self, result) -> None:
        """Make ``result`` (finished or partial) the run the timeline replays."""
        self._set(result=result, live=None)
        self._replay = Replay(result)
        n = self._replay.n_steps
        self.trajectory.set_show_range(self._replay.kept, self.state.show)
        self._set(show=self.sample_spin.value())
        self.trajectory.set_timeline(n)
        self.trajectory.show_norms(result.norms)
        self.show_step(n)

    def _draw(self, x: np.ndarray, x0: np.ndarray | None) -> None:
        tiles, cols = select_tiles(x, self.state.show)
        tiles0 = None if x0 is None else select_tiles(x0, self.state.show)[0]
        self.trajectory.show_images(tiles, tiles0, cols, self.state.show)
        self._draw_probes()

    def _draw_probes(self) -> None:
        self.trajectory.probes.show(self.state.pixels, self._replay,
                                    self.trajectory.layout_info)
        self.trajectory.clear_pixels_button.setEnabled(bool(self.state.pixels))

    def show_step(self, k: int) -> None:
        """Replay position k of the last run: x after k steps and the x0 predicted from it."""
        if self._replay is None:
            return
        x, x0 = self._replay.at(k)
        self._draw(x, x0)
        self.trajectory.mark_step(int(np.clip(k, 0, self._replay.n_steps)),
                                  self._replay.label(k))

    def _on_show_changed(self, show: int) -> None:
        self._set(show=int(show))
        if self._replay is not None:
            self.show_step(self.timeline.value())
        elif self.state.live is not None:
            self._draw(self.state.live.x, self.state.live.x0_pred)

    # ---- pixel probes ---------------------------------------------------------------------

    def _on_pixel_clicked(self, tile: int, row: int, col: int) -> None:
        self.add_pixel(self.state.show if self.state.show >= 0 else tile, row, col)

    def add_pixel(self, index: int, row: int, col: int) -> None:
        """Follow pixel (row, col) of image ``index`` of the batch (channel mean)."""
        self._set(pixels=(*self.state.pixels, (int(index), int(row), int(col))))
        self._draw_probes()

    def clear_pixels(self) -> None:
        self._set(pixels=())
        self._draw_probes()

    def pixel_trajectory(self, i: int) -> np.ndarray | None:
        """Values of probe ``i`` over the kept run (n + 1,); None without a run."""
        return None if self._replay is None else self._replay.pixel(*self.state.pixels[i])

    # ---- the Panel protocol ---------------------------------------------------------------

    def state_dict(self) -> dict:
        return self.state.to_dict()

    def load_state(self, data: dict) -> None:
        new = SamplingState.from_dict(data)  # ValueError before anything changes
        self.state = dataclasses.replace(new, result=self.state.result,
                                         race_result=self.state.race_result)
        self.controls.show_state(self.state)
        self.race.show_state(self.state)
        self._on_model_changed()
        if self._replay is not None:
            self.trajectory.set_show_range(self._replay.kept, self.state.show)
            self.show_step(self.timeline.value())

    def is_busy(self) -> bool:
        return self.context.jobs.is_busy(LANE) or self.racer.is_busy()

    def shutdown(self) -> None:
        if not self._shut_down:
            self._shut_down = True
            self.cancel()

    def animation_source(self):
        """The last run's positions as (C, H, W) mosaics (x_t | x0), or None before a run."""
        return None if self._replay is None else self._replay.animation()

    def animation_hint(self) -> str:
        return NOTHING_TO_ANIMATE

    def demo_state(self) -> None:
        if not self.model_problem():
            self._set(steps=20)
            self.controls.show_state(self.state)
            self.run()
