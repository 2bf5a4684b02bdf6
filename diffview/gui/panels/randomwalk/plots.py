"""The three plots of the 1-D physics panel: particles, histogram against theory, MSD.

:class:`WalkPlots` builds its pyqtgraph items once and redraws them in place from a
:class:`~diffview.runs.walk1d.Walk1D`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from diffview.gui.panels.points_item import PointsItem
from diffview.gui.style import PLOT_COLORS
from diffview.runs.walk1d import Walk1D, WalkView

__all__ = ["WalkPlots"]


class WalkPlots(pg.GraphicsLayoutWidget):
    """Particles (top), particles per site or bin against theory (middle), MSD (bottom)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.particle_plot = self.addPlot(row=0, col=0, title="Particles")
        self.particle_plot.setLabel("bottom", "position x")
        self.particle_plot.hideAxis("left")
        self.particle_plot.setYRange(-0.05, 1.05, padding=0)
        self.particle_plot.setMouseEnabled(y=False)
        self.particles = PointsItem(size=2.0, colors=(PLOT_COLORS[0],))
        self.particle_plot.addItem(self.particles)

        self.hist_plot = self.addPlot(row=1, col=0)
        self.hist_plot.addLegend(offset=(10, 10))
        self.hist_curve = pg.PlotCurveItem(np.array([0.0, 1.0]), np.array([0.0]),
                                           stepMode="center", fillLevel=0,
                                           brush=pg.mkBrush(0, 114, 178, 90),
                                           pen=pg.mkPen(PLOT_COLORS[0], width=1))
        self.hist_plot.addItem(self.hist_curve)
        self.theory_curve = pg.PlotCurveItem(pen=pg.mkPen(PLOT_COLORS[4], width=2))
        self.hist_plot.addItem(self.theory_curve)
        self.master_curve = pg.PlotDataItem(pen=None, symbol="o", symbolSize=4,
                                            symbolBrush=PLOT_COLORS[2], symbolPen=None)
        self.hist_plot.addItem(self.master_curve)
        self.particle_plot.setXLink(self.hist_plot)

        self.msd_plot = self.addPlot(row=2, col=0)
        self.msd_plot.addLegend(offset=(10, 10))
        self.msd_plot.getAxis("left").enableAutoSIPrefix(False)
        self.msd_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.msd_item = pg.PlotCurveItem(pen=pg.mkPen(PLOT_COLORS[0], width=2))
        self.msd_plot.addItem(self.msd_item)
        self.msd_theory_item = pg.PlotCurveItem(pen=pg.mkPen(PLOT_COLORS[4], width=2,
                                                             style=Qt.PenStyle.DashLine))
        self.msd_plot.addItem(self.msd_theory_item)
        layout = self.ci.layout
        layout.setRowStretchFactor(0, 1)
        layout.setRowStretchFactor(1, 3)
        layout.setRowStretchFactor(2, 2)

    def setup_axes(self, walk: Walk1D) -> None:
        """Titles, labels, legends and x range for the walk's mode and horizon."""
        lattice = walk.spec.mode == "lattice"
        self.particle_plot.setTitle("Particles (height random)")
        if lattice:
            self.hist_plot.setTitle("Per site vs heat kernel")
            self.hist_plot.setLabel("left", "particles per site")
            self.msd_plot.setTitle("MSD vs 2Dt + (vt)²")
            self.msd_plot.setLabel("bottom", "time t (steps)")
            self.msd_plot.setLabel("left", "⟨(x − x₀)²⟩")
            self.hist_plot.setXRange(*walk.lattice_range(), padding=0.02)
        else:
            self.hist_plot.setTitle("Histogram vs exact law")
            self.hist_plot.setLabel("left", "particles per bin")
            self.msd_plot.setTitle("Var x(t) vs exact")
            self.msd_plot.setLabel("bottom", "time t")
            self.msd_plot.setLabel("left", "Var x(t)")
            self.hist_plot.setXRange(*walk.ou_range(), padding=0.02)
        self.hist_plot.setLabel("bottom", "position x")
        self.hist_plot.enableAutoRange(axis="y")
        self.msd_plot.enableAutoRange(axis="y")
        horizon = walk.spec.max_steps * (walk.spec.dt if not lattice else 1.0)
        self.msd_plot.setXRange(0, horizon, padding=0.02)
        legend = self.hist_plot.legend
        legend.clear()
        legend.addItem(self.hist_curve, "particles")
        if lattice:
            legend.addItem(self.theory_curve, "heat kernel N·C(x,t)")
            legend.addItem(self.master_curve, "master equation")
        else:
            legend.addItem(self.theory_curve, "exact law at t")
            legend.addItem(self.master_curve, "stationary N(0, σ²/2γ)")
        # The histogram's legend sits on the side away from where the particles are.
        right = lattice and walk.spec.v < 0 or not lattice and walk.spec.x0 < 0
        legend.anchor((1, 0), (1, 0), offset=(-10, 10)) if right \
            else legend.anchor((0, 0), (0, 0), offset=(10, 10))
        mleg = self.msd_plot.legend
        mleg.clear()
        mleg.addItem(self.msd_item, "particles")
        mleg.addItem(self.msd_theory_item, "2Dt + (vt)²" if lattice else "σ²/2γ (1 − e^(−2γt))")
        # The MSD grows from the lower left: its legend goes top left, over empty space.
        mleg.anchor((0, 0), (0, 0), offset=(10, 10))

    def render_view(self, view: WalkView) -> None:
        """Redraw every curve from a :class:`WalkView` (in place)."""
        pos = view.positions.astype(np.float64)
        self.particles.setData(np.column_stack([pos, view.jitter[:pos.size]]))
        self.hist_curve.setData(*view.histogram)
        self.theory_curve.setData(*view.theory)
        self.master_curve.setData(*view.master)
        self.msd_item.setData(*view.msd)
        self.msd_theory_item.setData(*view.msd_theory)
