"""Widgets of the forward panel: the image picker strip, the x_t / noise views, the schedule
and histogram plots, and the controls.

:class:`ForwardUiMixin` builds them as attributes of the panel and connects them to its slots;
the behaviour lives in :mod:`.forward`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
)

from diffview.core.schedules import SCHEDULES
from diffview.gui.panels import make_image_view, thumbnail_icon
from diffview.gui.panels._forward_data import CORRUPTIONS
from diffview.gui.style import PLOT_COLORS

__all__ = ["ForwardUiMixin"]


class ForwardUiMixin:
    """The widget tree of :class:`~diffview.gui.panels.forward.ForwardPanel`."""

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)

        top = QHBoxLayout()
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Which bundled samples the strip shows")
        self.class_combo.currentIndexChanged.connect(self._fill_strip)
        top.addWidget(self.class_combo)
        self.strip = QListWidget()
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setIconSize(QSize(44, 44))
        self.strip.setGridSize(QSize(50, 50))
        self.strip.setSpacing(0)
        self.strip.setFixedHeight(50 + self.strip.horizontalScrollBar().sizeHint().height() + 6)
        self.strip.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.strip.setMovement(QListWidget.Movement.Static)
        self.strip.setToolTip("Bundled samples: click one to noise it")
        self.strip.currentRowChanged.connect(self._on_strip_row)
        top.addWidget(self.strip, 1)
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Load a PNG or JPEG (any size, grey or colour); "
                                    "you can also drop a file here")
        self.open_button.clicked.connect(self._ask_open_image)
        top.addWidget(self.open_button)
        root.addLayout(top)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.images = pg.GraphicsLayoutWidget()
        self.images.setMinimumSize(260, 180)
        self.images.setToolTip("Left: x_t. Right: the noise ε held fixed (for a cold "
                               "degradation: what it changed, x_t − x_0)")
        self.xt_item, self.xt_label, _ = make_image_view(self.images, "x_t", 0, 0)
        self.noise_item, self.noise_label, _ = make_image_view(self.images, "noise ε", 0, 1)
        self.images.ci.layout.setColumnStretchFactor(0, 3)
        self.images.ci.layout.setColumnStretchFactor(1, 2)
        split.addWidget(self.images)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumSize(240, 180)
        self.sched_plot = self.plots.addPlot(row=0, col=0, title="Schedule")
        self.sched_plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self.sched_plot.setLabel("bottom", "t")
        self.sched_plot.setYRange(0, 1.02, padding=0)
        self.sched_plot.setMouseEnabled(False, False)
        self.curve_abar = self.sched_plot.plot(pen=pg.mkPen(PLOT_COLORS[0], width=2),
                                               name="ᾱ_t")
        self.curve_beta = self.sched_plot.plot(pen=pg.mkPen(PLOT_COLORS[1], width=2),
                                               name="β_t / max β")
        self.curve_snr = pg.PlotDataItem(pen=pg.mkPen(PLOT_COLORS[2], width=2,
                                                      style=Qt.PenStyle.DashLine))
        self.snr_plot = self.plots.addPlot(row=1, col=0, title="SNR (dB)")
        self.snr_plot.addItem(self.curve_snr)
        self.snr_plot.setLabel("bottom", "t")
        self.snr_plot.setMouseEnabled(False, False)
        self.snr_plot.setXLink(self.sched_plot)
        self.cursors = []
        for plot in (self.sched_plot, self.snr_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(PLOT_COLORS[4], width=1))
            plot.addItem(line)
            self.cursors.append(line)
        self.hist_plot = self.plots.addPlot(row=2, col=0, title="Pixel histogram vs N(0, 1)")
        self.hist_plot.setMouseEnabled(False, False)
        self.hist_plot.setXRange(-4, 4, padding=0)
        self.hist_curve = self.hist_plot.plot(stepMode="center", fillLevel=0,
                                              brush=pg.mkBrush(0, 114, 178, 90),
                                              pen=pg.mkPen(PLOT_COLORS[0]))
        xs = np.linspace(-4, 4, 161)
        self.hist_plot.plot(xs, np.exp(-xs**2 / 2) / math.sqrt(2 * math.pi),
                            pen=pg.mkPen(PLOT_COLORS[4], width=2))
        split.addWidget(self.plots)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        root.addWidget(split, 1)

        scrub = QHBoxLayout()
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Animate t from its position to T (Space)")
        self.play_button.toggled.connect(self.set_playing)
        scrub.addWidget(self.play_button)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self._schedule.T)
        self.slider.setToolTip("Number of noising steps t: 0 is the clean image, T pure noise")
        self.slider.valueChanged.connect(self._on_step)
        scrub.addWidget(self.slider, 1)
        self.step_spin = QSpinBox()
        self.step_spin.setRange(0, self._schedule.T)
        self.step_spin.setPrefix("t = ")
        self.step_spin.setToolTip("Type a step t directly")
        self.step_spin.valueChanged.connect(self.slider.setValue)
        scrub.addWidget(self.step_spin)
        root.addLayout(scrub)

        actions = QHBoxLayout()
        self.coef_label = QLabel()
        self.coef_label.setToolTip("x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε")
        actions.addWidget(self.coef_label, 1)

        opts = QHBoxLayout()
        opts.addWidget(QLabel("Schedule"))
        self.schedule_combo = QComboBox()
        self.schedule_combo.addItems(SCHEDULES)
        self.schedule_combo.setToolTip("How β_t grows with t")
        self.schedule_combo.currentTextChanged.connect(self._on_schedule_changed)
        opts.addWidget(self.schedule_combo)
        opts.addWidget(QLabel("T"))
        self.T_spin = QSpinBox()
        self.T_spin.setRange(10, 4000)
        self.T_spin.setValue(1000)
        self.T_spin.setKeyboardTracking(False)
        self.T_spin.setToolTip("Number of diffusion steps T")
        self.T_spin.valueChanged.connect(self._on_schedule_changed)
        opts.addWidget(self.T_spin)
        self.process_combo = QComboBox()
        self.process_combo.addItem("Closed form q(x_t|x_0)", "closed")
        self.process_combo.addItem("Step-by-step chain", "chain")
        self.process_combo.setToolTip("Jump to t in one draw, or apply t small noising steps "
                                      "(same distribution, different path)")
        self.process_combo.currentIndexChanged.connect(self._on_process_changed)
        opts.addWidget(self.process_combo)
        self.corruption_combo = QComboBox()
        for key, text in CORRUPTIONS.items():
            self.corruption_combo.addItem(text, key)
        self.corruption_combo.setToolTip("Gaussian noise (DDPM) or a deterministic cold-diffusion "
                                         "degradation")
        self.corruption_combo.currentIndexChanged.connect(self._on_corruption_changed)
        opts.addWidget(self.corruption_combo)
        self.new_noise_button = QPushButton("New noise")
        self.new_noise_button.setToolTip("Draw a new ε (or mask order) and keep t (N)")
        self.new_noise_button.clicked.connect(lambda: self.new_noise())
        actions.addWidget(self.new_noise_button)
        opts.addStretch(1)
        self.denoise_button = QPushButton("Denoise from here")
        self.denoise_button.setToolTip("Send x_t to the sampling panel, which restores it "
                                       "from step t")
        self.denoise_button.clicked.connect(lambda: self.request_denoise())
        actions.addWidget(self.denoise_button)
        root.addLayout(actions)
        root.addLayout(opts)

    def _fill_class_combo(self) -> None:
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("One per class", None)
        for name in dict.fromkeys(self._bundled_names):
            self.class_combo.addItem(name, name)
        self.class_combo.blockSignals(False)

    def _fill_strip(self, *_args) -> None:
        wanted = self.class_combo.currentData()
        if wanted is None:   # the most legible sample of each class
            self._strip_indices = list(self._class_reps.values())
        else:
            self._strip_indices = [i for i, n in enumerate(self._bundled_names) if n == wanted]
        self.strip.blockSignals(True)
        self.strip.clear()
        for i in self._strip_indices:
            item = QListWidgetItem(thumbnail_icon(self._bundled[i]), "")
            item.setToolTip(self._bundled_names[i])
            item.setSizeHint(QSize(50, 50))
            self.strip.addItem(item)
        self.strip.blockSignals(False)
