"""Widgets of the 1-D diffusion physics panel: the parameter column and the three plots.

:class:`RandomWalkUiMixin` builds them as attributes of the panel and connects them to its
slots; the behaviour lives in :mod:`.randomwalk`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.panels.points_item import PointsItem
from diffview.gui.style import PLOT_COLORS

__all__ = ["MODES", "PROB_STEPS", "RandomWalkUiMixin"]

MODES = {"lattice": "Lattice random walk (p, q)", "ou": "Ornstein-Uhlenbeck  dx = -γx dt + σ dW"}
PROB_STEPS = 100                       # slider resolution: p, q in 0, 0.005, ..., 0.5


def _prob_slider(tip: str) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(0, PROB_STEPS)
    s.setToolTip(tip)
    return s


class RandomWalkUiMixin:
    """The widget tree of :class:`~diffview.gui.panels.randomwalk.RandomWalkPanel`."""

    def _build_ui(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        controls = QWidget()
        col = QVBoxLayout(controls)
        col.setContentsMargins(0, 0, 0, 0)

        box = QGroupBox("Process")
        form = QFormLayout(box)
        self.mode_combo = QComboBox()
        for key, label in MODES.items():
            self.mode_combo.addItem(label, key)
        self.mode_combo.setToolTip("Einstein's lattice walk (heat equation) or the OU process "
                                   "(Fokker-Planck with a restoring force).")
        self.n_spin = QSpinBox()
        self.n_spin.setRange(100, 100_000)
        self.n_spin.setSingleStep(1000)
        self.n_spin.setValue(5000)
        self.n_spin.setToolTip("Number of particles.")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Random seed of the walk.")
        form.addRow("Mode", self.mode_combo)
        form.addRow("Particles N", self.n_spin)
        form.addRow("Seed", self.seed_spin)
        col.addWidget(box)

        self.lattice_box = QGroupBox("Lattice walk")
        lf = QFormLayout(self.lattice_box)
        self.p_slider = _prob_slider("p: probability of a jump to the left per step.")
        self.q_slider = _prob_slider("q: probability of a jump to the right per step.")
        self.p_slider.setValue(PROB_STEPS // 2)
        self.q_slider.setValue(PROB_STEPS // 2)
        self.p_label, self.q_label = QLabel(), QLabel()
        for name, slider, label in (("p (left)", self.p_slider, self.p_label),
                                    ("q (right)", self.q_slider, self.q_label)):
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            label.setMinimumWidth(44)
            row.addWidget(label)
            lf.addRow(name, row)
        col.addWidget(self.lattice_box)

        self.ou_box = QGroupBox("Ornstein-Uhlenbeck")
        of = QFormLayout(self.ou_box)
        self.gamma_spin = QDoubleSpinBox()
        self.gamma_spin.setRange(0.05, 10.0)
        self.gamma_spin.setValue(1.0)
        self.gamma_spin.setSingleStep(0.1)
        self.gamma_spin.setToolTip("γ: strength of the pull back to 0.")
        self.sigma_spin = QDoubleSpinBox()
        self.sigma_spin.setRange(0.05, 5.0)
        self.sigma_spin.setValue(1.0)
        self.sigma_spin.setSingleStep(0.1)
        self.sigma_spin.setToolTip("σ: noise amplitude.")
        self.x0_spin = QDoubleSpinBox()
        self.x0_spin.setRange(-10.0, 10.0)
        self.x0_spin.setValue(3.0)
        self.x0_spin.setToolTip("Where every particle starts.")
        self.dt_spin = QDoubleSpinBox()
        self.dt_spin.setDecimals(3)
        self.dt_spin.setRange(0.001, 0.2)
        self.dt_spin.setSingleStep(0.005)
        self.dt_spin.setValue(0.01)
        self.dt_spin.setToolTip("Time step of the simulation.")
        for label, w in (("γ", self.gamma_spin), ("σ", self.sigma_spin), ("x(0)", self.x0_spin),
                         ("dt", self.dt_spin)):
            of.addRow(label, w)
        col.addWidget(self.ou_box)

        run = QGroupBox("Run")
        rf = QFormLayout(run)
        self.per_frame_spin = QSpinBox()
        self.per_frame_spin.setRange(1, 100)
        self.per_frame_spin.setValue(1)
        self.per_frame_spin.setToolTip("Steps per animation frame.")
        self.max_steps_spin = QSpinBox()
        self.max_steps_spin.setRange(10, 5000)
        self.max_steps_spin.setValue(500)
        self.max_steps_spin.setToolTip("Playing stops after this many steps.")
        rf.addRow("Steps / frame", self.per_frame_spin)
        rf.addRow("Max steps", self.max_steps_spin)
        row = QHBoxLayout()
        self.play_btn = QPushButton("Play")
        self.play_btn.setCheckable(True)
        self.play_btn.setToolTip("Animate the particles.")
        self.step_btn = QPushButton("Step")
        self.step_btn.setToolTip("Advance one frame.")
        self.reset_btn = QPushButton("Reset")
        self.reset_btn.setToolTip("All particles back to the start, step counter to 0.")
        for b in (self.play_btn, self.step_btn, self.reset_btn):
            row.addWidget(b)
        rf.addRow(row)
        self.step_label = QLabel()
        rf.addRow("Step", self.step_label)
        col.addWidget(run)

        self.formula_label = QLabel()
        self.formula_label.setWordWrap(True)
        self.formula_label.setTextFormat(Qt.TextFormat.RichText)
        col.addWidget(self.formula_label)
        col.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        scroll.setMaximumWidth(360)
        root.addWidget(scroll)

        self.glw = pg.GraphicsLayoutWidget()
        self.particle_plot = self.glw.addPlot(row=0, col=0, title="Particles")
        self.particle_plot.setLabel("bottom", "position x")
        self.particle_plot.hideAxis("left")
        self.particle_plot.setYRange(-0.05, 1.05, padding=0)
        self.particles = PointsItem(size=2.0, colors=(PLOT_COLORS[0],))
        self.particle_plot.addItem(self.particles)

        self.hist_plot = self.glw.addPlot(row=1, col=0)
        self.hist_plot.addLegend(offset=(-10, 10))
        self.hist_curve = pg.PlotCurveItem(np.array([0.0, 1.0]), np.array([0.0]),
                                           stepMode="center", fillLevel=0,
                                           brush=pg.mkBrush(0, 114, 178, 90),
                                           pen=pg.mkPen(PLOT_COLORS[0], width=1),
                                           name="particles")
        self.hist_plot.addItem(self.hist_curve)
        self.theory_curve = pg.PlotCurveItem(pen=pg.mkPen(PLOT_COLORS[4], width=2),
                                             name="theory")
        self.hist_plot.addItem(self.theory_curve)
        self.master_curve = pg.PlotDataItem(pen=None, symbol="o", symbolSize=4,
                                            symbolBrush=PLOT_COLORS[2], symbolPen=None,
                                            name="master equation N·c_i(t)")
        self.hist_plot.addItem(self.master_curve)
        self.particle_plot.setXLink(self.hist_plot)

        self.msd_plot = self.glw.addPlot(row=2, col=0)
        self.msd_plot.addLegend(offset=(10, 10))
        self.msd_plot.getAxis("left").enableAutoSIPrefix(False)
        self.msd_item = pg.PlotCurveItem(pen=pg.mkPen(PLOT_COLORS[0], width=2),
                                          name="particles")
        self.msd_plot.addItem(self.msd_item)
        self.msd_theory_item = pg.PlotCurveItem(pen=pg.mkPen(PLOT_COLORS[4], width=2,
                                                        style=Qt.PenStyle.DashLine),
                                           name="theory")
        self.msd_plot.addItem(self.msd_theory_item)
        self.glw.ci.layout.setRowStretchFactor(0, 1)
        self.glw.ci.layout.setRowStretchFactor(1, 3)
        self.glw.ci.layout.setRowStretchFactor(2, 2)
        root.addWidget(self.glw, 1)

        self.mode_combo.currentIndexChanged.connect(self.reset)
        for w in (self.n_spin, self.seed_spin, self.p_slider, self.q_slider):
            w.valueChanged.connect(self.reset)
        for w in (self.gamma_spin, self.sigma_spin, self.x0_spin, self.dt_spin):
            w.valueChanged.connect(self.reset)
        self.max_steps_spin.valueChanged.connect(self._on_max_steps)
        self.play_btn.toggled.connect(self.set_playing)
        self.step_btn.clicked.connect(lambda: self.advance(self.per_frame_spin.value()))
        self.reset_btn.clicked.connect(self.reset)
