"""Widgets of the sampling panel: the controls row, the trajectory tab and the race tab.

:class:`SamplingUiMixin` builds them as attributes of the panel and connects them to its slots;
the behaviour lives in :mod:`.sampling`.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.panels._sampling_jobs import SAMPLER_LABELS
from diffview.gui.style import PLOT_COLORS

__all__ = ["DEFAULT_RACE", "SamplingUiMixin"]

DEFAULT_RACE = "ddpm:100, ddim:10, ddim:50, dpm++2m:10, dpm++2m:20"



class InfoLabel(QLabel):
    """A word-wrapped line of status text that never changes its own height.

    A wrapping label whose text grows by a line re-lays out the whole panel, and every plot
    in it repaints: at the end of a sampling run that cost ~35 ms of a ~90 ms event-loop
    stall. The height is fixed at two lines; the full text is also the tooltip.
    """

    LINES = 2

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setFixedHeight(self.LINES * self.fontMetrics().lineSpacing() + 4)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text)

class SamplingUiMixin:
    """The widget tree of :class:`~diffview.gui.panels.sampling.SamplingPanel`."""

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Sampler"))
        self.sampler_combo = QComboBox()
        for key, text in SAMPLER_LABELS.items():
            self.sampler_combo.addItem(text, key)
        self.sampler_combo.setCurrentIndex(1)
        self.sampler_combo.setToolTip("DDPM: stochastic, many steps; DDIM: deterministic at "
                                      "η = 0; DPM-Solver++: a fast second-order solver")
        self.sampler_combo.currentIndexChanged.connect(self._on_sampler_changed)
        row.addWidget(self.sampler_combo)
        row.addWidget(QLabel("Steps"))
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1000)
        self.steps_spin.setValue(50)
        self.steps_spin.setToolTip("Number of denoising steps (= network calls per image)")
        row.addWidget(self.steps_spin)
        self.eta_label = QLabel("η")
        row.addWidget(self.eta_label)
        self.eta_spin = QDoubleSpinBox()
        self.eta_spin.setRange(0.0, 1.0)
        self.eta_spin.setSingleStep(0.1)
        self.eta_spin.setToolTip("DDIM η: 0 deterministic, 1 as stochastic as DDPM")
        row.addWidget(self.eta_spin)
        row.addStretch(1)
        root.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Batch"))
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 256)
        self.batch_spin.setValue(16)
        self.batch_spin.setToolTip("Images sampled at once (the first 16 are shown live)")
        row.addWidget(self.batch_spin)
        row.addWidget(QLabel("Seed"))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of the initial noise and of the sampler's noise")
        row.addWidget(self.seed_spin)
        self.clip_check = QCheckBox("Clip x̂₀")
        self.clip_check.setChecked(True)
        self.clip_check.setToolTip("Clip the predicted x₀ to the data range [-1, 1] at every "
                                   "step, as Ho et al.'s sampler does")
        row.addWidget(self.clip_check)
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Sample from pure noise (Ctrl+R)")
        self.run_button.clicked.connect(lambda: self.run())
        row.addWidget(self.run_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run; the steps done so far stay replayable")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        root.addLayout(row)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_trajectory_tab(), "Trajectory")
        self.tabs.addTab(self._build_race_tab(), "Sampler race")
        root.addWidget(self.tabs, 1)
        self.info_label = InfoLabel()
        root.addWidget(self.info_label)

    def _build_trajectory_tab(self) -> QWidget:
        tab = QWidget()
        lay = QVBoxLayout(tab)
        lay.setContentsMargins(0, 0, 0, 0)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.images = pg.GraphicsLayoutWidget()
        self.images.setMinimumSize(300, 160)
        # x_t and x0 share one view box, side by side, so they are always drawn at one scale.
        self.xt_vb = self.images.addViewBox(row=0, col=0, lockAspect=True, enableMouse=False,
                                            invertY=True)
        self.xt_vb.setMenuEnabled(False)
        self.xt_item = pg.ImageItem(axisOrder="row-major")
        self.x0_item = pg.ImageItem(axisOrder="row-major")
        self.xt_vb.addItem(self.xt_item)
        self.xt_vb.addItem(self.x0_item)
        fg = pg.getConfigOption("foreground")
        self.xt_label = pg.TextItem("x_t", anchor=(0.5, 0.0), color=fg)
        self.x0_label = pg.TextItem("predicted x₀", anchor=(0.5, 0.0), color=fg)
        for label in (self.xt_label, self.x0_label):
            self.xt_vb.addItem(label)
            label.hide()  # until there is an image to label
        self._image_extent = None
        self.markers = pg.ScatterPlotItem(size=9, pen=pg.mkPen("w", width=1.5), brush=None,
                                          symbol="s")
        self.xt_vb.addItem(self.markers)
        self.images.scene().sigMouseClicked.connect(self._on_scene_clicked)
        self.xt_item.setToolTip("Click a pixel to plot its value along the trajectory")
        split.addWidget(self.images)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumSize(220, 160)
        self.pixel_plot = self.plots.addPlot(row=0, col=0, title="Clicked pixels")
        self.pixel_plot.setLabel("bottom", "step")
        self.pixel_plot.setMouseEnabled(False, False)
        self.norm_plot = self.plots.addPlot(row=1, col=0, title="Step norms")
        self.norm_plot.setLabel("bottom", "step")
        self.norm_plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self.norm_plot.setMouseEnabled(False, False)
        self.norm_curves = {}
        for i, name in enumerate(("‖x_t‖ rms", "‖x̂₀‖ rms", "‖Δx‖ rms")):
            self.norm_curves[name] = self.norm_plot.plot(pen=pg.mkPen(PLOT_COLORS[i], width=2),
                                                         name=name)
        self.step_lines = []
        for plot in (self.pixel_plot, self.norm_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(PLOT_COLORS[4]))
            line.hide()
            plot.addItem(line)
            self.step_lines.append(line)
        split.addWidget(self.plots)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay.addWidget(split, 1)

        row = QHBoxLayout()
        row.addWidget(QLabel("Timeline"))
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setEnabled(False)
        self.timeline.setToolTip("After a run: replay any step (0 = the starting noise)")
        self.timeline.valueChanged.connect(self.show_step)
        row.addWidget(self.timeline, 1)
        self.step_label = QLabel("no run yet")
        self.step_label.setMinimumWidth(110)
        row.addWidget(self.step_label)
        row.addWidget(QLabel("Show"))
        self.sample_spin = QSpinBox()
        self.sample_spin.setRange(-1, -1)
        self.sample_spin.setSpecialValueText("batch")
        self.sample_spin.setToolTip("The whole batch as a mosaic, or one image of it")
        self.sample_spin.valueChanged.connect(lambda _v: self._redraw())
        row.addWidget(self.sample_spin)
        self.clear_pixels_button = QPushButton("Clear pixels")
        self.clear_pixels_button.setToolTip("Remove the pixel curves")
        self.clear_pixels_button.clicked.connect(self.clear_pixels)
        row.addWidget(self.clear_pixels_button)
        lay.addLayout(row)
        return tab

    def _build_race_tab(self) -> QWidget:
        tab = QWidget()
        lay = QVBoxLayout(tab)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Samplers"))
        self.race_edit = QLineEdit(DEFAULT_RACE)
        self.race_edit.setToolTip("Comma-separated sampler:steps pairs, all started from the "
                                  "same noise")
        row.addWidget(self.race_edit, 1)
        row.addWidget(QLabel("Images"))
        self.race_batch = QSpinBox()
        self.race_batch.setRange(1, 16)
        self.race_batch.setValue(4)
        self.race_batch.setToolTip("Images per sampler (same initial noise for every sampler)")
        row.addWidget(self.race_batch)
        self.race_button = QPushButton("Start race")
        self.race_button.setToolTip("Run every sampler from the same noise, stepping whichever "
                                    "has used the fewest network calls")
        self.race_button.clicked.connect(self.run_race)
        row.addWidget(self.race_button)
        lay.addLayout(row)
        self.race_view = pg.GraphicsLayoutWidget()
        self.race_view.setMinimumHeight(160)
        lay.addWidget(self.race_view, 1)
        self.race_items: list = []
        self.race_labels: list = []
        return tab
