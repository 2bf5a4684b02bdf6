"""What the 2-D SDE panel draws for a frame: points, colours, zoom, labels."""

from __future__ import annotations

import numpy as np

from diffview.gui.panels._sde2d_ui import DATASET_LABELS, DRAWING

__all__ = ["DisplayMixin"]


class DisplayMixin:
    """The drawing of a frame for :class:`~diffview.gui.panels.sde2d.Sde2DPanel` (needs its
    plots, ``_shown``, ``_shown_trails``, the check boxes and the label timer)."""

    def _groups(self, n: int) -> np.ndarray:
        """Colour by the half-plane where each particle started: the halves mix as t grows."""
        ref = self._x_T if self.mode == "reverse" else (
            self._x0 if self.mode == "forward" else self._mcmc_start())
        if ref.shape[0] != n:
            return None
        if ref is not self._group_ref:   # recomputed only when the reference cloud changes
            self._group_ref = ref
            self._group_labels = (ref[:, 0] > 0).astype(np.int8)
        return self._group_labels

    def _on_zoom_toggled(self, on: bool) -> None:
        if on:
            self._redraw()
        else:
            self._set_default_range()

    def _zoom_to_cloud(self) -> None:
        """Fit the view to the middle 99 % of the shown points (outliers would dominate)."""
        clouds = [x for x in self._shown.values() if x is not None and x.shape[0]]
        if not clouds:
            return
        x = np.concatenate(clouds).astype(np.float64)
        lo = np.percentile(x, 0.5, axis=0)
        hi = np.percentile(x, 99.5, axis=0)
        cx, cy = (float(v) for v in 0.5 * (lo + hi))
        half = max(0.6 * float(np.max(hi - lo)), 0.5)
        self.plot_a.view.setRange(xRange=(cx - half, cx + half), yRange=(cy - half, cy + half),
                                  padding=0)

    def _redraw(self, *_) -> None:
        view = self.view_mode
        show_points = view != "density"
        # over a heat map, 1-pixel points let the density show through between them
        point_size = 1.0 if view in ("both", "error") else 2.0
        a, b = self._series()
        for plot in (self.plot_a, self.plot_b):
            if plot.points._size != point_size:
                plot.points.setSize(point_size)
        if self.zoom_check.isChecked():
            self._zoom_to_cloud()
        for which, plot, series in (("a", self.plot_a, a), ("b", self.plot_b, b)):
            if series is None:
                continue
            x = self._shown.get(which)
            if x is not None and show_points:
                plot.set_points(x, self._groups(x.shape[0]))
            else:
                plot.set_points(None, None)
            if self.trails_check.isChecked() and self._shown_trails:
                plot.set_trails(self._shown_trails.get(series))
            else:
                plot.set_trails(None)
        self._refresh_overlays()
        self._update_labels()

    def _update_labels(self) -> None:
        t = self._shown_time
        if self.mode == "mcmc":
            self.time_label.setText(f"Metropolis step {int(t)}")
        else:
            m = float(self._sde.mean_coef(t))
            s = float(self._sde.marginal_std(t))
            self.time_label.setText(f"t = {t:.3g} / {self._sde.T:g}   m(t) = {m:.3f}   "
                                    f"s(t) = {s:.3f}")
        # The word-wrapped info label relayouts the control column on every change (~10 ms):
        # while frames stream, refresh it at most every LABEL_INTERVAL_MS.
        if self._label_timer.isActive():
            self._label_dirty = True
            return
        self._label_timer.start()
        self._update_info()

    def _on_label_timer(self) -> None:
        if self._label_dirty:
            self._label_dirty = False
            self._update_info()

    def _update_info(self) -> None:
        x = self._shown.get("a")
        lines = [f"{DATASET_LABELS[self.dataset]}, {x.shape[0] if x is not None else 0:,} points"]
        if x is not None and x.shape[0]:
            # column by column: numpy's axis-0 reductions of an (N, 2) array are ~10x slower
            cols = (x[:, 0], x[:, 1])
            mu = [float(c.mean()) for c in cols]
            sd = [float(c.std()) for c in cols]
            lines.append(f"cloud mean ({mu[0]:+.2f}, {mu[1]:+.2f}), std ({sd[0]:.2f}, "
                         f"{sd[1]:.2f})")
        if self.dataset == DRAWING and self._drawn_mixture is not None:
            lines.append(f"p₀ = kernel density of {self._drawn_mixture.n_components} Gaussians "
                         f"(σ = {float(np.sqrt(self._drawn_mixture.covs[0, 0, 0])):.2g}): "
                         "the exact score is exact for this mixture.")
        if self.mode == "forward":
            lines.append("x_t = m(t) x₀ + s(t) ε, ε ~ N(0, I)" if self.forward_method == "exact"
                         else "Euler-Maruyama: x += f dt + g √dt z")
        rec = self._recording
        if self._live is not None and "accept_rate" in self._live:
            lines.append(f"acceptance rate {self._live['accept_rate']:.2f}")
        elif rec is not None and "accept_rate" in rec.info:
            lines.append(f"acceptance rate {rec.info['accept_rate']:.2f}")
        if self.mode in ("reverse", "mcmc") and rec is None and self._live is None:
            lines.append("Press Run to start.")
        if self.mode == "forward" and self.forward_method == "em" and rec is None \
                and self._live is None:
            lines.append("Press Run to simulate the paths.")
        self.info_label.setText("\n".join(lines))
