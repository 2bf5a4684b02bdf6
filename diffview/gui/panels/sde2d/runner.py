"""The 2-D panel's runs as Jobs: forward Euler-Maruyama, reverse and MCMC
(:mod:`diffview.runs.points2d`) on ``context.jobs``, one at a time; a new start or
:meth:`CloudRuns.discard` drops every callback of the earlier run."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from diffview.gui.jobs import Job
from diffview.gui.panels.sde2d.scene import CloudScene
from diffview.gui.panels.sde2d.state import FLOW_MAX_POINTS, FLOW_MAX_STEPS
from diffview.runs.flow2d import CompareSpec
from diffview.runs.points2d import (
    ForwardSpec,
    McmcSpec,
    ReverseSpec,
    run_flow_compare,
    run_forward,
    run_mcmc,
    run_reverse,
)

__all__ = ["JOB_NAME", "CloudRuns"]

JOB_NAME = "2-D SDE"


class CloudRuns(QObject):
    """Starts and cancels the scene's runs.

    Signals
    -------
    frame(object)
        A :class:`~diffview.runs.points2d.CloudFrame` of the running job.
    ended(object, bool)
        The :class:`~diffview.runs.points2d.Recording` (None: nothing was done) and whether it
        was cancelled.
    failed(str)
        The error message.
    busy_changed(bool)
    """

    frame = Signal(object)
    ended = Signal(object, bool)
    failed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, context, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self.lane = f"sde2d-run-{id(self)}"
        self._no = 0
        self._running = False

    def start(self, scene: CloudScene, model) -> int | None:
        """Run the scene's mode with its state's settings; ``model`` drives the learned score.
        Raises ValueError (or the network's error) when a score cannot be built."""
        s = scene.state
        if not s.needs_run:
            return None
        self.discard()
        if s.process == "flow":
            fspec = CompareSpec(s.dataset, min(s.n, FLOW_MAX_POINTS), s.seed, "heun",
                                min(s.steps, FLOW_MAX_STEPS))

            def start(token):
                return run_flow_compare(fspec, token)
        elif s.mode == "forward":
            spec, x0 = ForwardSpec(s.sde, s.steps, s.seed), scene.x0

            def start(token):
                return run_forward(spec, x0, token)
        elif s.mode == "reverse":
            names = ["exact", "learned"] if s.score == "both" else [s.score]
            scores = {name: scene.score(name, model) for name in names}
            rspec, x_T = ReverseSpec(s.sde, s.reverse, s.steps, s.seed), scene.x_T  # noqa: N806

            def start(token):
                return run_reverse(rspec, x_T, scores, token)
        else:
            mspec = McmcSpec(s.steps, s.mcmc_step, s.seed)
            log_prob, x_start = scene.mixture.log_prob, scene.mcmc_x0

            def start(token):
                return run_mcmc(mspec, log_prob, x_start, token)
        no = self._no
        rid = self._context.jobs.start(Job(
            JOB_NAME, start, lane=self.lane, error_title="2-D SDE run failed",
            on_frame=lambda f: self._emit(no, self.frame.emit, f),
            on_result=lambda r: self._end(no, r, False),
            on_cancelled=lambda r: self._end(no, r, True),
            on_error=lambda m: self._end(no, m, None)))
        self._set_running(True)
        return rid

    def cancel(self) -> None:
        """Stop the run; ``ended`` follows with what it did."""
        self._context.jobs.cancel(self.lane)

    def discard(self) -> None:
        """Stop the run and drop everything it would still send."""
        self._no += 1
        if self._running:
            self._context.jobs.cancel(self.lane)
            self._set_running(False)

    def is_busy(self) -> bool:
        return self._running

    def _emit(self, no: int, emit, value) -> None:
        if no == self._no:
            emit(value)

    def _end(self, no: int, value, cancelled: bool | None) -> None:
        if no != self._no:
            return
        self._set_running(False)
        if cancelled is None:
            self.failed.emit(value)
        else:
            self.ended.emit(value, cancelled)

    def _set_running(self, running: bool) -> None:
        if running != self._running:
            self._running = running
            self.busy_changed.emit(running)
