"""Widgets of the forward panel: the sample strip, the three images on one grey scale with a
colour bar, and the schedule / histogram plots."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.core.schedules import SCHEDULES
from diffview.gui.imaging import make_image_view, thumbnail_icon
from diffview.gui.panels.forward.state import CORRUPTIONS, PROCESSES, T_RANGE
from diffview.gui.style import PLOT_COLORS

__all__ = ["DISPLAY_LEVELS", "ForwardImages", "ForwardOptions", "ForwardPlots", "SampleStrip",
           "ScrubBar"]

DISPLAY_LEVELS = (-2.5, 2.5)
"""One grey scale for x_0, x_t and the noise: clean pixels in [-1, 1] stay readable while the
noise (std 1) is not clipped into harsh black and white."""


def _coloured(names: tuple[str, ...]) -> str:
    """A plot title naming its curves in their own colours (a legend that covers no data)."""
    parts = [f'<span style="color:{PLOT_COLORS[i]}">{name}</span>' for i, name in
             enumerate(names)]
    return " and ".join(parts)


class SampleStrip(QWidget):
    """Bundled samples as thumbnails (one per class, or every sample of one class), and Open.

    Signals
    -------
    sample_chosen(int)
        The index of the bundled sample clicked.
    open_clicked()
    """

    sample_chosen = Signal(int)
    open_clicked = Signal()

    def __init__(self, images: np.ndarray, names: list[str], representatives: dict[str, int],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images, self.names, self.representatives = images, names, representatives
        self.indices: list[int] = []
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Which bundled samples the strip shows")
        self.class_combo.addItem("One per class", None)
        for name in dict.fromkeys(names):
            self.class_combo.addItem(name, name)
        self.class_combo.currentIndexChanged.connect(self._fill)
        row.addWidget(self.class_combo)
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
        self.strip.currentRowChanged.connect(self._on_row)
        row.addWidget(self.strip, 1)
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Load a PNG or JPEG (any size, grey or colour); "
                                    "you can also drop a file here")
        self.open_button.clicked.connect(self.open_clicked)
        row.addWidget(self.open_button)
        self._fill()

    def _fill(self, *_args) -> None:
        wanted = self.class_combo.currentData()
        if wanted is None:   # the most legible sample of each class
            self.indices = list(self.representatives.values())
        else:
            self.indices = [i for i, n in enumerate(self.names) if n == wanted]
        self.strip.blockSignals(True)
        self.strip.clear()
        for i in self.indices:
            item = QListWidgetItem(thumbnail_icon(self.images[i]), "")
            item.setToolTip(self.names[i])
            item.setSizeHint(QSize(50, 50))
            self.strip.addItem(item)
        self.strip.blockSignals(False)

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.indices):
            self.sample_chosen.emit(self.indices[row])

    def select(self, index: int, emit: bool = True) -> None:
        """Show bundled sample ``index`` selected (switching the strip to its class if needed)."""
        if index not in self.indices:
            self.class_combo.setCurrentIndex(max(0, self.class_combo.findData(self.names[index])))
        if index in self.indices:
            self.strip.blockSignals(True)
            self.strip.setCurrentRow(self.indices.index(index))
            self.strip.blockSignals(False)
        if emit:
            self.sample_chosen.emit(index)

    def clear_selection(self) -> None:
        self.strip.blockSignals(True)
        self.strip.clearSelection()
        self.strip.setCurrentRow(-1)
        self.strip.blockSignals(False)


class ForwardImages(pg.GraphicsLayoutWidget):
    """x_0, x_t and the noise (or, for a cold degradation, what it changed) side by side, on
    one grey scale shown by a colour bar."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(300, 170)
        self.setToolTip("x_0, x_t and the noise ε held fixed (for a cold degradation: what it "
                        "changed, x_t − x_0), all on the grey scale of the colour bar")
        self.x0_item, self.x0_label, _ = make_image_view(self, "x_0", 0, 0)
        self.xt_item, self.xt_label, _ = make_image_view(self, "x_t", 0, 1)
        self.noise_item, self.noise_label, _ = make_image_view(self, "noise ε", 0, 2)
        self.colorbar = pg.ColorBarItem(values=DISPLAY_LEVELS, colorMap=pg.colormap.get(
            "CET-L1"), interactive=False, width=12, label="pixel value")
        self.colorbar.setImageItem([self.x0_item, self.xt_item, self.noise_item])
        self.addItem(self.colorbar, row=0, col=3)
        layout = self.ci.layout
        for col, stretch in ((0, 2), (1, 3), (2, 2)):
            layout.setColumnStretchFactor(col, stretch)
        layout.setRowStretchFactor(0, 10)
        layout.setRowStretchFactor(1, 0)


class ForwardPlots(pg.GraphicsLayoutWidget):
    """The schedule (alpha-bar, beta) or the cold severity, the SNR, and the pixel histogram
    against N(0, 1) (noise) or against x_0's own histogram (cold), each with a cursor at t."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(300, 150)
        self.sched_plot = self.addPlot(row=0, col=0, title="Schedule")
        self.sched_plot.setLabel("bottom", "t")
        self.sched_plot.setLabel("left", "value")
        self.sched_plot.setYRange(0, 1.02, padding=0)
        self.sched_plot.setMouseEnabled(False, False)
        self.curve_abar = self.sched_plot.plot(pen=pg.mkPen(PLOT_COLORS[0], width=2),
                                               name="ᾱ_t")
        self.curve_beta = self.sched_plot.plot(pen=pg.mkPen(PLOT_COLORS[1], width=2),
                                               name="β_t / max β")
        self.curve_snr = pg.PlotDataItem(pen=pg.mkPen(PLOT_COLORS[2], width=2,
                                                      style=Qt.PenStyle.DashLine))
        self.snr_plot = self.addPlot(row=0, col=1, title="Signal-to-noise ratio")
        self.snr_plot.addItem(self.curve_snr)
        self.snr_plot.setLabel("bottom", "t")
        self.snr_plot.setLabel("left", "SNR (dB)")
        self.snr_plot.setMouseEnabled(False, False)
        self.snr_plot.setXLink(self.sched_plot)
        self.cursors = []
        for plot in (self.sched_plot, self.snr_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(PLOT_COLORS[4], width=1))
            plot.addItem(line)
            self.cursors.append(line)
        self.hist_plot = self.addPlot(row=0, col=2, title="Histogram vs N(0, 1)")
        self.hist_plot.setMouseEnabled(False, False)
        self.hist_plot.setXRange(-4, 4, padding=0)
        self.hist_plot.setLabel("left", "density")
        self.hist_plot.getAxis("left").enableAutoSIPrefix(False)
        self.hist_curve = self.hist_plot.plot(stepMode="center", fillLevel=0,
                                              brush=pg.mkBrush(0, 114, 178, 90),
                                              pen=pg.mkPen(PLOT_COLORS[0]))
        xs = np.linspace(-4, 4, 161)
        self.gauss_curve = self.hist_plot.plot(xs, np.exp(-xs**2 / 2) / math.sqrt(2 * math.pi),
                                               pen=pg.mkPen(PLOT_COLORS[4], width=2))
        self.ref_curve = self.hist_plot.plot(stepMode="center",
                                             pen=pg.mkPen(PLOT_COLORS[4], width=2))

    def show_schedule(self, schedule) -> None:
        """Gaussian noise: alpha-bar, beta / max beta and the SNR over t."""
        t = np.arange(1, schedule.T + 1)
        self.curve_abar.setData(t, schedule.alpha_bars)
        self.curve_beta.setData(t, schedule.betas / schedule.betas.max())
        self.sched_plot.setTitle(_coloured(("ᾱ_t", "β_t / max β")))
        self.snr_plot.setTitle("SNR ᾱ/(1−ᾱ)")
        self.snr_plot.setLabel("left", "SNR (dB)")
        self.curve_snr.setData(t, np.clip(schedule.snr_db, -60, 60))
        self.sched_plot.setXRange(0, schedule.T, padding=0.01)
        for plot in (self.sched_plot, self.snr_plot):  # narrow plots: ticks at 0, T/2, T
            plot.getAxis("bottom").setTickSpacing(schedule.T / 2, schedule.T / 10)
        self.hist_plot.setTitle("Histogram vs N(0, 1)")
        self.gauss_curve.show()
        self.ref_curve.hide()

    def show_degradation(self, kind: str, T: int, severity_curve: np.ndarray,  # noqa: N803
                         detail_name: str, detail: np.ndarray, x0_hist) -> None:
        """A cold degradation: its severity t/T and what grows with it (blur width, masked
        share, block size), and x_t's histogram against x_0's."""
        t = np.arange(0, T + 1)
        self.sched_plot.setTitle(f"{kind.capitalize()} severity t/T")
        self.curve_abar.setData(t, severity_curve)
        self.curve_beta.setData([], [])

        self.snr_plot.setTitle(detail_name)
        self.snr_plot.setLabel("left", detail_name.split(" (")[0])
        self.curve_snr.setData(t, detail)
        self.sched_plot.setXRange(0, T, padding=0.01)
        self.hist_plot.setTitle("Histogram: x_t vs x_0")
        self.gauss_curve.hide()
        self.ref_curve.setData(*x0_hist)
        self.ref_curve.show()

    def set_cursor(self, step: int) -> None:
        for line in self.cursors:
            line.setValue(step)


class ScrubBar(QWidget):
    """Play, the t slider and a spin box to type t; playing moves t to T in about 150 frames
    of 33 ms."""

    def __init__(self, T: int, parent: QWidget | None = None) -> None:  # noqa: N803
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Animate t from its position to T (Space)")
        row.addWidget(self.play_button)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, T)
        self.slider.setToolTip("Number of noising steps t: 0 is the clean image, T pure noise")
        row.addWidget(self.slider, 1)
        self.step_spin = QSpinBox()
        self.step_spin.setRange(0, T)
        self.step_spin.setPrefix("t = ")
        self.step_spin.setToolTip("Type a step t directly")
        self.step_spin.valueChanged.connect(self.slider.setValue)
        row.addWidget(self.step_spin)
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._advance)
        self.play_button.toggled.connect(self.set_playing)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def set_playing(self, playing: bool) -> None:
        if playing and self.slider.value() >= self.slider.maximum():
            self.slider.setValue(0)
        self.play_button.blockSignals(True)
        self.play_button.setChecked(playing)
        self.play_button.blockSignals(False)
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        step, top = self.slider.value(), self.slider.maximum()
        if step >= top:
            self.set_playing(False)
            return
        self.slider.setValue(min(top, step + max(1, top // 150)))


class ForwardOptions(QWidget):
    """The coefficients line with New noise and Denoise from here, then schedule, T, process
    and degradation."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        actions = QHBoxLayout()
        self.coef_label = QLabel()
        self.coef_label.setToolTip("x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε")
        actions.addWidget(self.coef_label, 1)
        self.new_noise_button = QPushButton("New noise")
        self.new_noise_button.setToolTip("Draw a new ε (or mask order) and keep t (N)")
        actions.addWidget(self.new_noise_button)
        self.denoise_button = QPushButton("Denoise from here")
        self.denoise_button.setToolTip("Send x_0 and t to the sampling panel, which draws x_t "
                                       "~ q(x_t | x_0) for each image of its batch and denoises "
                                       "them from step t")
        actions.addWidget(self.denoise_button)
        col.addLayout(actions)

        opts = QHBoxLayout()
        opts.addWidget(QLabel("Schedule"))
        self.schedule_combo = QComboBox()
        self.schedule_combo.addItems(SCHEDULES)
        self.schedule_combo.setToolTip("How β_t grows with t")
        opts.addWidget(self.schedule_combo)
        opts.addWidget(QLabel("T"))
        self.T_spin = QSpinBox()
        self.T_spin.setRange(*T_RANGE)
        self.T_spin.setValue(1000)
        self.T_spin.setKeyboardTracking(False)
        self.T_spin.setToolTip("Number of diffusion steps T")
        opts.addWidget(self.T_spin)
        self.process_combo = QComboBox()
        for key, text in PROCESSES.items():
            self.process_combo.addItem(text, key)
        self.process_combo.setToolTip("Jump to t in one draw, or apply t small noising steps "
                                      "(same distribution, different path)")
        opts.addWidget(self.process_combo)
        self.corruption_combo = QComboBox()
        for key, text in CORRUPTIONS.items():
            self.corruption_combo.addItem(text, key)
        self.corruption_combo.setToolTip("Gaussian noise (DDPM) or a deterministic "
                                         "cold-diffusion degradation")
        opts.addWidget(self.corruption_combo)
        opts.addStretch(1)
        col.addLayout(opts)

    def show_handover(self, noise: bool) -> None:
        """Denoise from here (Gaussian noise) or Restore from here (a cold degradation)."""
        self.denoise_button.setText("Denoise from here" if noise else "Restore from here")
        self.denoise_button.setToolTip(
            "Send x_0 and t to the sampling panel, which draws x_t ~ q(x_t | x_0) for each "
            "image of its batch and denoises them from step t" if noise else
            "Send the degraded image to the cold-diffusion panel, which restores it without "
            "noise with Algorithm 1 and Algorithm 2 side by side")
