"""The Likelihood panel's plots: L_t over t, rate against distortion, per-image bits/dim, and
the weight each training objective puts on each noise level."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from diffview.core.data import to_model_range
from diffview.core.elbo import loss_weights, rate_distortion
from diffview.gui.imaging import X_LEVELS, make_image_view, mosaic, to_display
from diffview.gui.style import PLOT_COLORS

__all__ = ["OBJECTIVE_LABELS", "LikelihoodPlots"]

OBJECTIVE_LABELS = {"elbo": "ELBO", "l_simple": "L_simple", "x0": "x₀ MSE", "v": "v MSE",
                    "flow_matching": "flow matching"}


def _finite(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _fill_gaps(values: np.ndarray) -> np.ndarray | None:
    """A per-t curve with the indices the fast estimator did not draw filled in linearly
    between those it did (None when fewer than two were drawn)."""
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return None
    idx = np.arange(values.size)
    return np.interp(idx, idx[ok], values[ok])


class LikelihoodPlots(pg.GraphicsLayoutWidget):
    """Four plots in a 2 x 2 grid, each built once and updated in place."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.terms_plot = self.addPlot(row=0, col=0, title="Bound terms L_t")
        self.terms_plot.setLogMode(y=True)
        self.terms_plot.setLabel("bottom", "t")
        self.terms_plot.setLabel("left", "L_t (bits/dim)")
        self.terms_plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.terms_curve = self.terms_plot.plot(pen=pg.mkPen(PLOT_COLORS[0], width=1.5),
                                                name="L_t−1")
        self.terms_band_hi = pg.PlotCurveItem(pen=pg.mkPen((0, 114, 178, 60)))
        self.terms_band_lo = pg.PlotCurveItem(pen=pg.mkPen((0, 114, 178, 60)))
        self.terms_band = pg.FillBetweenItem(self.terms_band_lo, self.terms_band_hi,
                                             brush=pg.mkBrush(0, 114, 178, 50))
        self.terms_plot.addItem(self.terms_band)
        self.terms_band.hide()
        self.ends = self.terms_plot.plot(pen=None, symbol="o", symbolSize=9,
                                         symbolBrush=PLOT_COLORS[4], name="L_0, L_T")

        self.rd_plot = self.addPlot(row=0, col=1, title="Rate vs distortion")
        self.rd_plot.setLabel("bottom", "bits/dim received")
        self.rd_plot.setLabel("left", "RMSE (0..255)")
        self.rd_curve = self.rd_plot.plot(pen=pg.mkPen(PLOT_COLORS[2], width=2))

        self.hist_plot = self.addPlot(row=1, col=0, title="Bits/dim per image")
        self.hist_plot.setLabel("bottom", "bits/dim")
        self.hist_plot.setLabel("left", "images")
        self.hist_plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.hist_curve = self.hist_plot.plot(stepMode="center", fillLevel=0,
                                              brush=pg.mkBrush(0, 114, 178, 90),
                                              pen=pg.mkPen(PLOT_COLORS[0]), name="ELBO")
        self.ode_hist = self.hist_plot.plot(stepMode="center",
                                            pen=pg.mkPen(PLOT_COLORS[1], width=2), name="ODE")
        self.user_line = pg.InfiniteLine(angle=90, movable=False,
                                         pen=pg.mkPen(PLOT_COLORS[4], width=2,
                                                      style=Qt.PenStyle.DashLine),
                                         label="your image", labelOpts={"position": 0.9})
        self.user_line.hide()
        self.hist_plot.addItem(self.user_line)

        self.weights_plot = self.addPlot(row=1, col=1, title="Weights over log-SNR")
        self.weights_plot.setLabel("bottom", "log-SNR λ")
        self.weights_plot.setLabel("left", "w(λ)")
        self.weights_plot.setLogMode(y=True)
        # The curves fall to the right: the legend goes bottom left, under them.
        legend = self.weights_plot.addLegend(offset=(10, -10), labelTextSize="7pt")
        legend.setColumnCount(2)
        self.weight_curves = {}
        for i, (key, label) in enumerate(OBJECTIVE_LABELS.items()):
            self.weight_curves[key] = self.weights_plot.plot(
                pen=pg.mkPen(PLOT_COLORS[i % len(PLOT_COLORS)], width=2), name=label)
        self.extremes = self.addLayout(row=2, col=0, colspan=2)
        self.extremes_item, self.extremes_label, _ = make_image_view(
            self.extremes, "most likely … least likely", 0, 0)
        self.ci.layout.setRowStretchFactor(0, 5)
        self.ci.layout.setRowStretchFactor(1, 5)
        self.ci.layout.setRowStretchFactor(2, 2)
        self.extremes.setMaximumHeight(110)
        self.mse_curve = self.weights_plot.plot(
            pen=pg.mkPen((120, 120, 120), width=1.5, style=Qt.PenStyle.DashLine),
            name="model ε MSE")

    def show_weights(self, schedule) -> None:
        """The loss-weighting explorer of ``schedule`` (Kingma and Gao 2023)."""
        lw = loss_weights(schedule)
        for key, curve in self.weight_curves.items():
            curve.setData(*_finite(lw.log_snr, np.maximum(lw.normalised[key], 1e-12)))
        self._log_snr = lw.log_snr

    def show_elbo(self, terms, stderr, image_bpd, eps_mse=None, x0_mse=None) -> None:
        """Draw a bound: terms (T + 1,) L_0..L_T and their standard errors, per-image values."""
        terms = np.asarray(terms, float)
        stderr = np.asarray(stderr, float) if stderr is not None else np.full_like(terms, np.nan)
        T = terms.size - 1  # noqa: N806
        t = np.arange(1, T)                       # paper step of L_{t-1}: index k -> t = k + 1
        mid = terms[1:T]
        x, y = _finite(t + 1, np.maximum(mid, 1e-12))
        self.terms_curve.setData(x, y)
        hi = np.where(np.isfinite(stderr[1:T]), mid + stderr[1:T], mid)
        lo = np.where(np.isfinite(stderr[1:T]), np.maximum(mid - stderr[1:T], 1e-12), mid)
        keep = np.isfinite(mid)
        self.terms_band.setVisible(bool(keep.sum() > 1))
        self.terms_band_hi.setData(t[keep] + 1, np.maximum(hi[keep], 1e-12))
        self.terms_band_lo.setData(t[keep] + 1, np.maximum(lo[keep], 1e-12))
        ends = np.array([1.0, T + 1.0]), np.maximum(np.array([terms[0], terms[T]]), 1e-12)
        self.ends.setData(*_finite(*ends))
        if x0_mse is not None and np.all(np.isfinite(terms)):
            x0 = _fill_gaps(np.asarray(x0_mse, float))
            if x0 is not None:
                rd = rate_distortion(terms, x0)
                self.rd_curve.setData(*_finite(rd.rate_bpd, rd.rmse))
        self._histogram(self.hist_curve, image_bpd)
        if eps_mse is not None and getattr(self, "_log_snr", None) is not None:
            mse = np.asarray(eps_mse, float)
            if mse.size == self._log_snr.size and np.any(np.isfinite(mse)):
                scale = np.nanmax(mse)
                self.mse_curve.setData(*_finite(self._log_snr, np.maximum(mse / scale, 1e-12)))

    def show_extremes(self, images, image_bpd, k: int = 5) -> None:
        """The ``k`` most and least likely images (uint8 (N, H, W[, C])) side by side."""
        bpd = np.asarray(image_bpd, float)
        ok = np.flatnonzero(np.isfinite(bpd))
        if images is None or ok.size == 0 or len(images) < bpd.size:
            self.extremes_item.clear()
            return
        order = ok[np.argsort(bpd[ok])]
        k = min(k, max(1, order.size // 2))
        pick = np.concatenate([order[:k], order[-k:]])
        x = to_model_range(np.asarray(images)[pick])
        self.extremes_item.setImage(to_display(mosaic(x, cols=2 * k, pad=2)), autoLevels=False,
                                    levels=X_LEVELS)
        lo, hi = bpd[order[0]], bpd[order[-1]]
        self.extremes_label.setText(f"most likely ({lo:.2f}) … least likely ({hi:.2f} bits/dim)")

    def show_ode(self, image_bpd) -> None:
        self._histogram(self.ode_hist, image_bpd)

    def show_user(self, bpd: float | None) -> None:
        if bpd is None or not np.isfinite(bpd):
            self.user_line.hide()
            return
        self.user_line.setValue(bpd)
        self.user_line.label.setFormat(f"your image {bpd:.2f}")
        self.user_line.show()

    def reset_plots(self) -> None:
        for item in (self.terms_curve, self.ends, self.rd_curve, self.hist_curve, self.ode_hist,
                     self.mse_curve):
            item.clear()
        self.extremes_item.clear()
        self.terms_band.hide()
        self.user_line.hide()

    @staticmethod
    def _histogram(curve, values) -> None:
        v = np.asarray(values, float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            curve.clear()
            return
        bins = int(np.clip(np.sqrt(v.size) * 2, 5, 40))
        counts, edges = np.histogram(v, bins=bins)
        curve.setData(edges, counts.astype(float))
