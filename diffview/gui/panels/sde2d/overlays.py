"""Heat maps and score arrows of the 2-D panel, computed off the GUI thread.

The overlays of a frame (the density p_t on 96 x 96, the score error on 64 x 64, 21 x 21
arrows) cost 50-150 ms against a mixture of ~200 components, so :class:`OverlayService` runs
them as Jobs (:func:`diffview.runs.points2d.run_overlays`): one computation at a time, the
newest request wins, at most 10 a second while frames stream. Results are numbered so a late
one never replaces a newer one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import QObject, QRectF, QTimer, Signal

from diffview.core.mixtures import GaussianMixture
from diffview.core.sde import LinearSDE
from diffview.gui.jobs import Job
from diffview.gui.panels.sde2d.plot import CloudPlot
from diffview.gui.panels.sde2d.scene import CloudScene
from diffview.runs.points2d import (
    OverlayResult,
    OverlaySpec,
    PlotRequest,
    compute_overlays,
    run_overlays,
)

__all__ = ["ARROW_GRID", "DENSITY_GRID", "ERROR_GRID", "OVERLAY_MIN_INTERVAL_MS",
           "OverlayService", "OverlayWork", "overlay_time", "overlay_work"]

DENSITY_GRID, ERROR_GRID, ARROW_GRID = 96, 64, 21

OVERLAY_MIN_INTERVAL_MS = 100


@dataclass(frozen=True)
class OverlayWork:
    """Everything one overlay computation needs (plain data for the worker)."""

    spec: OverlaySpec
    mixture: GaussianMixture
    sde: LinearSDE
    scores: Mapping[str, Callable]


def overlay_time(scene: CloudScene, shown_time: float) -> float:
    """The time whose density and score the overlays show (MCMC: p_0)."""
    return 0.0 if scene.state.mode == "mcmc" else shown_time


def overlay_work(scene: CloudScene, model, rect: tuple[float, float, float, float],
                 shown_time: float) -> OverlayWork:
    """What the visible plots' overlays need for the scene's state; ``model`` is the learned
    network (None: none)."""
    s = scene.state
    heat = ("density" if s.view in ("density", "both")
            else "error" if s.view == "error" and model is not None else "")
    plots = {}
    for which, series in zip("ab", scene.series(), strict=True):
        if series is not None and s.process != "flow":   # no flow overlays yet
            source = ("learned" if (which == "b" or s.score == "learned")
                      and s.mode != "mcmc" else "exact")
            plots[which] = PlotRequest(heat, source if s.arrows else None)
    spec = OverlaySpec(rect, overlay_time(scene, shown_time), plots, DENSITY_GRID, ERROR_GRID,
                       ARROW_GRID)
    scores = {name: scene.score(name, model) for name in spec.score_names()}
    return OverlayWork(spec, scene.mixture, scene.sde, scores)


class OverlayService(QObject):
    """Keeps the plots' heat maps and arrows in step with the frame shown.

    ``build()`` says what the overlays of the frame shown need (raising when a score cannot be
    built, e.g. a broken network); ``animating()`` whether frames are streaming.

    Signals
    -------
    updated()
        New heat maps / arrows are on screen.
    """

    updated = Signal()

    def __init__(self, context, plots: Mapping[str, CloudPlot],
                 build: Callable[[], OverlayWork], animating: Callable[[], bool],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._context, self._plots = context, plots
        self._build, self._animating = build, animating
        self._lane = f"sde2d-overlays-{id(self)}"
        self._pending = self._dirty = False
        self._started = 0.0
        self._seq = 0          # numbers every computation
        self._seq_shown = 0    # the newest one on screen
        self.time_shown = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh)

    def schedule(self, delay_ms: int = 40) -> None:
        """Refresh soon (coalesces bursts such as a dragged view range)."""
        self._timer.start(delay_ms)

    def refresh(self) -> None:
        """Recompute on a worker (latest request wins)."""
        self._timer.stop()
        wait_ms = OVERLAY_MIN_INTERVAL_MS - (time.perf_counter() - self._started) * 1e3
        if self._animating() and wait_ms > 0:
            # while frames stream, at most ~10 refreshes a second: on a 2-core machine the
            # worker would otherwise take the CPU the frames need
            self._timer.start(max(1, int(wait_ms)))
            return
        if self._pending:
            self._dirty = True   # the newest request starts when the running one ends
            return
        work = self._work()
        if work is None:
            return
        if not work.spec.wanted():
            self._clear()
            self.updated.emit()
            return
        self._pending = True
        self._started = time.perf_counter()
        self._context.jobs.start(Job(
            "2-D overlays", lambda token: run_overlays(work.spec, work.mixture, work.sde,
                                                       work.scores, token),
            on_result=self._apply, on_error=self._failed, on_cancelled=self._cancelled,
            lane=self._lane, show_progress=False))

    def refresh_now(self) -> None:
        """Compute on this thread and show (screenshots, exports: a worker's result may not
        have arrived before a grab)."""
        work = self._work()
        if work is None:
            return
        self._context.jobs.cancel(self._lane)
        self._pending = self._dirty = False
        self._timer.stop()
        self._apply(compute_overlays(work.spec, work.mixture, work.sde, work.scores))

    def settled(self) -> bool:
        """True when the overlays on screen belong to the frame shown."""
        return not (self._pending or self._dirty or self._timer.isActive())

    def shutdown(self) -> None:
        self._timer.stop()
        self._context.jobs.cancel(self._lane)

    # ---- internals -------------------------------------------------------------------------
    def _work(self) -> OverlayWork | None:
        try:
            work = self._build()
        except Exception as exc:  # noqa: BLE001 - e.g. a broken network
            self._context.report_status(f"2-D overlay failed: {exc}")
            return None
        self._seq += 1
        return OverlayWork(OverlaySpec(work.spec.rect, work.spec.t, work.spec.plots,
                                       seq=self._seq), work.mixture, work.sde, work.scores)

    def _apply(self, result: OverlayResult) -> None:
        if result.seq < self._seq_shown:
            return   # finished after a newer synchronous refresh
        self._seq_shown = result.seq
        self._pending = False
        if self._dirty:
            self._dirty = False
            self.refresh()
        rect = QRectF(*result.rect)
        for which, plot in self._plots.items():
            over = result.plots.get(which)
            if over is None:
                continue
            plot.set_heatmap(over.heat_kind, over.heat, rect)
            plot.set_arrows(over.arrows)
        self.time_shown = result.t
        self.updated.emit()

    def _cancelled(self, _partial) -> None:
        self._pending = False
        if self._dirty:
            self._dirty = False
            self.refresh()

    def _failed(self, message: str) -> None:
        self._pending = self._dirty = False
        self._clear()
        self._context.report_status(f"2-D overlay failed: {message}")

    def _clear(self) -> None:
        for plot in self._plots.values():
            plot.set_heatmap("", None, None)
            plot.set_arrows(None)
