"""Heat maps and score arrows of the 2-D SDE panel, computed off the GUI thread.

The overlays of a frame (the density p_t on a 96 x 96 grid, the score error on 64 x 64, 21 x 21
arrows) cost 50-150 ms against a mixture of ~200 components, so :class:`OverlaysMixin` sends
them to a JobRunner: one computation at a time, the newest request wins, at most 10 a second
while frames stream.  Every result is numbered so a late one never replaces a newer one.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QRectF

from diffview.core.mixtures import density_grid, mixture_score
from diffview.gui.panels._sde2d_compute import compute_overlays, grid_points, learned_score_fn

DENSITY_GRID = 96           # heat-map resolution (pixels per side)
ARROW_GRID = 21             # score arrows per side
ERROR_GRID = 64
OVERLAY_MIN_INTERVAL_MS = 100


class OverlaysMixin:
    """The overlay half of :class:`~diffview.gui.panels.sde2d.Sde2DPanel` (needs its state:
    ``plot_a``, ``plot_b``, ``_overlay_runner``, ``_overlay_timer``, ``_play_timer``, ...)."""

    def _overlay_time(self) -> float:
        return 0.0 if self.mode == "mcmc" else self._shown_time

    def _score(self, source: str):
        """ScoreFn of ``source`` ("exact" or "learned") for the current data and SDE."""
        if source == "learned" and self._learned_model is not None:
            return learned_score_fn(self._learned_model, self._sde)
        mix, sde = self.mixture, self._sde
        return lambda x, t: mixture_score(mix, sde, x, t)

    def _overlay_request(self) -> dict:
        """What the overlays of the visible plots need, as plain data for the worker."""
        view = self.view_mode
        a, b = self._series()
        r = self.plot_a.view_rect()
        plots = {}
        for which, series in (("a", a), ("b", b)):
            if series is None:
                continue
            source = "learned" if (which == "b" or self.score_source == "learned") else "exact"
            if self.mode == "mcmc":
                source = "exact"
            heat = ""
            if view in ("density", "both"):
                heat = "density"
            elif view == "error" and self.learned_available:
                heat = "error"
            plots[which] = {"heat": heat,
                            "arrows": source if self.arrows_check.isChecked() else None}
        return {"rect": (r.left(), r.top(), r.width(), r.height()),
                "time": self._overlay_time(), "density_n": DENSITY_GRID,
                "error_n": ERROR_GRID, "arrow_n": ARROW_GRID, "plots": plots}

    def density_image(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xs, ys, p_t on the grid (ny, nx)) for the visible rectangle at the time shown,
        computed here and now (the heat map gets the same from the overlay worker)."""
        r = self.plot_a.view_rect()
        xs, ys, _ = grid_points((r.left(), r.top(), r.width(), r.height()), DENSITY_GRID)
        t = self._overlay_time()
        mix = self.mixture if t <= 0.0 else self.mixture.marginal(self._sde, t)
        return xs, ys, density_grid(mix, xs, ys)

    def score_error_image(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xs, ys, |learned − exact score| on the grid (ny, nx)) at the time shown."""
        r = self.plot_a.view_rect()
        xs, ys, pts = grid_points((r.left(), r.top(), r.width(), r.height()), ERROR_GRID)
        t = max(self._overlay_time(), 1e-3)
        err = self._score("learned")(pts, t) - self._score("exact")(pts, t)
        return xs, ys, np.hypot(err[:, 0], err[:, 1]).reshape(ys.size, xs.size)

    def _refresh_overlays(self) -> None:
        """Recompute heat maps and arrows on the overlay worker (latest request wins).

        Grids of ~10k points against a mixture of ~200 components take 50-150 ms: on the GUI
        thread that would cap an animation at a few frames per second.
        """
        self._overlay_timer.stop()   # a range change just queued this refresh: done now
        animating = self._play_timer.isActive() or self.is_busy()
        wait_ms = OVERLAY_MIN_INTERVAL_MS - (time.perf_counter() - self._overlay_started) * 1e3
        if animating and wait_ms > 0:
            # while frames stream, overlays refresh at most ~10 times a second: on a 2-core
            # machine the worker would otherwise take the CPU the frames need
            self._overlay_timer.start(max(1, int(wait_ms)))
            return
        if self._overlay_pending:
            # one computation at a time: the newest request starts when the running one ends
            # (starting it now would only queue work whose result is dropped)
            self._overlay_dirty = True
            return
        request = self._overlay_request()
        wanted = any(p["heat"] or p["arrows"] for p in request["plots"].values())
        if not wanted:
            for plot in (self.plot_a, self.plot_b):
                plot.set_heatmap("", None, None)
                plot.set_arrows(None)
            self._overlay_pending = False
            self.overlays_updated.emit()
            return
        try:
            names = {p["arrows"] for p in request["plots"].values() if p["arrows"]}
            if any(p["heat"] == "error" for p in request["plots"].values()):
                names |= {"exact", "learned"}
            scores = {name: self._score(name) for name in names}
        except Exception as exc:  # noqa: BLE001 - e.g. a broken network
            self.context.report_status(f"2-D overlay failed: {exc}")
            return
        mixture, sde = self.mixture, self._sde
        self._overlay_seq += 1
        seq = self._overlay_seq

        def job(token):
            result = compute_overlays(request, mixture, sde, scores)
            result["seq"] = seq
            return result
            yield  # noqa: B901 - a generator without frames

        self._overlay_pending = True
        self._overlay_started = time.perf_counter()
        self._overlay_runner.start(job)

    def _apply_overlays(self, _rid: int, result: dict) -> None:
        if result.get("seq", 0) < self._overlay_seq_shown:
            return   # a worker result that finished after a newer synchronous refresh
        self._overlay_seq_shown = result.get("seq", 0)
        self._overlay_pending = False
        if self._overlay_dirty:
            self._overlay_dirty = False
            self._refresh_overlays()
        rect = QRectF(*result["rect"])
        for which, plot in (("a", self.plot_a), ("b", self.plot_b)):
            spec = result["plots"].get(which)
            if spec is None:
                continue
            if spec["heat"] is None:
                plot.set_heatmap("", None, None)
            else:
                plot.set_heatmap(spec["heat"][0], spec["heat"][1], rect)
            plot.set_arrows(spec["arrows"])
        self._overlay_time_shown = result["time"]
        self.overlays_updated.emit()

    def _overlay_failed(self, _rid: int, message: str) -> None:
        self._overlay_pending = False
        self._overlay_dirty = False
        for plot in (self.plot_a, self.plot_b):
            plot.set_heatmap("", None, None)
            plot.set_arrows(None)
        self.context.report_status(f"2-D overlay failed: {message}")

    def overlays_settled(self) -> bool:
        """True when the overlays on screen belong to the frame shown (for tests)."""
        return not (self._overlay_pending or self._overlay_dirty
                    or self._overlay_timer.isActive())


    def refresh_overlays_now(self) -> None:
        """Compute the overlays on this thread and show them (screenshots, exports): the
        worker's result may not have arrived before a grab."""
        request = self._overlay_request()
        names = {p["arrows"] for p in request["plots"].values() if p["arrows"]}
        if any(p["heat"] == "error" for p in request["plots"].values()):
            names |= {"exact", "learned"}
        scores = {name: self._score(name) for name in names}
        result = compute_overlays(request, self.mixture, self._sde, scores)
        self._overlay_seq += 1
        result["seq"] = self._overlay_seq
        self._overlay_runner.cancel()
        self._overlay_pending = self._overlay_dirty = False
        self._overlay_timer.stop()
        self._apply_overlays(-1, result)
