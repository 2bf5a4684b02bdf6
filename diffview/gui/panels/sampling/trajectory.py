"""The trajectory tab: x_t beside the predicted x0, the step-norm and pixel plots, the timeline.

:class:`TrajectoryView` draws what the panel hands it and reports the user's input (timeline,
which image to show, pixel clicks); the replay logic lives in :mod:`.replay`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.imaging import mosaic, mosaic_cell, to_display
from diffview.gui.panels.sampling.board import ImageBoard
from diffview.gui.panels.sampling.pixels import MosaicLayout, PixelProbes
from diffview.gui.style import PLOT_COLORS

__all__ = ["NORM_NAMES", "TrajectoryView"]

NORM_NAMES = ("‖x_t‖ rms", "‖x̂₀‖ rms", "‖Δx‖ rms")  # the keys of SamplingResult.norms
NORM_LABELS = ("x_t", "x̂₀", "Δx")
PLOTS_HEIGHT = (110, 200)  # the plot strip's least and most height


def _legend_title(title: str, names, colors) -> str:
    """A plot title that is also its legend: the curves' names in their colours."""
    keys = " ".join(f"<span style='color:{pg.mkColor(c).name()}'>━ {n}</span>"
                    for n, c in zip(names, colors, strict=False))
    return f"{title}&nbsp;&nbsp;{keys}"


def _small_plot(title: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setTitle(title, size="9pt")
    plot.setMouseEnabled(False, False)
    plot.setMenuEnabled(False)
    plot.getPlotItem().hideButtons()
    plot.setMinimumSize(160, PLOTS_HEIGHT[0])
    return plot


class TrajectoryView(QWidget):
    """x_t | predicted x0 on one image board, plots under it, the timeline row at the bottom.

    Signals
    -------
    step_changed(int)
        The timeline moved to position k.
    show_changed(int)
        The user chose which image to show (-1: the batch).
    pixel_clicked(int, int, int)
        A click on tile ``tile`` of the x_t mosaic at (row, col).
    clear_pixels_clicked()
    """

    step_changed = Signal(int)
    show_changed = Signal(int)
    pixel_clicked = Signal(int, int, int)
    clear_pixels_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.board = ImageBoard(2)
        self.board.set_title(0, "x_t")
        self.board.set_title(1, "predicted x₀")
        self.board.setMinimumSize(240, 150)
        self.board.clicked.connect(self._on_board_clicked)
        self.board.item(0).setToolTip("Click a pixel to plot its value along the trajectory")
        lay.addWidget(self.board, 3)

        self.plots = QWidget()
        row = QHBoxLayout(self.plots)
        row.setContentsMargins(0, 0, 0, 0)
        self.norm_plot = _small_plot(_legend_title("RMS per step of", NORM_LABELS, PLOT_COLORS))
        self.norm_curves = {name: self.norm_plot.plot(pen=pg.mkPen(PLOT_COLORS[i], width=2))
                            for i, name in enumerate(NORM_NAMES)}
        self.pixel_plot = _small_plot("Clicked pixels: x_t per step")
        self.pixel_plot.hide()  # until a pixel is clicked
        self.step_lines = []
        for plot in (self.norm_plot, self.pixel_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(PLOT_COLORS[4]))
            line.hide()
            plot.addItem(line)
            self.step_lines.append(line)
            row.addWidget(plot, 1)
        self.plots.setMinimumHeight(PLOTS_HEIGHT[0])
        self.plots.setMaximumHeight(PLOTS_HEIGHT[1])
        self.plots.hide()  # until there is a run
        lay.addWidget(self.plots, 1)
        self.probes = PixelProbes(self.pixel_plot, self.board.item(0))

        row = QHBoxLayout()
        row.addWidget(QLabel("Timeline"))
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setEnabled(False)
        self.timeline.setToolTip("Replay any step of the last run (0 = the starting noise); a "
                                 "cancelled run replays up to where it stopped")
        self.timeline.valueChanged.connect(self.step_changed)
        row.addWidget(self.timeline, 1)
        self.step_label = QLabel("no run yet")
        self.step_label.setMinimumWidth(150)
        row.addWidget(self.step_label)
        row.addWidget(QLabel("Show"))
        self.sample_spin = QSpinBox()
        self.sample_spin.setRange(-1, -1)
        self.sample_spin.setSpecialValueText("batch")
        self.sample_spin.setToolTip("The whole batch as a mosaic, or one image of it")
        self.sample_spin.valueChanged.connect(self.show_changed)
        row.addWidget(self.sample_spin)
        self.clear_pixels_button = QPushButton("Clear pixels")
        self.clear_pixels_button.setToolTip("Remove the pixel curves")
        self.clear_pixels_button.setEnabled(False)
        self.clear_pixels_button.clicked.connect(self.clear_pixels_clicked)
        row.addWidget(self.clear_pixels_button)
        lay.addLayout(row)
        self.layout_info: MosaicLayout | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # ---- images ---------------------------------------------------------------------------

    def show_images(self, tiles: np.ndarray, tiles0: np.ndarray | None, cols: int,
                    show: int) -> MosaicLayout:
        """Draw (m, C, H, W) x_t tiles and their x0 predictions (None: not yet) as mosaics."""
        self.board.set_image(0, to_display(mosaic(tiles, cols)))
        self.board.set_image(1, None if tiles0 is None else to_display(mosaic(tiles0, cols)))
        h, w = tiles.shape[-2:]
        self.layout_info = MosaicLayout(show, len(tiles), cols, int(h), int(w))
        return self.layout_info

    def _on_board_clicked(self, slot: int, x: float, y: float) -> None:
        info = self.layout_info
        if slot != 0 or info is None:
            return
        cell = mosaic_cell(x, y, info.tiles, info.h, info.w, info.cols)
        if cell is not None:
            self.pixel_clicked.emit(*cell)

    # ---- plots and timeline ---------------------------------------------------------------

    def show_norms(self, norms: dict | None) -> None:
        """The per-step norm curves of a run (None: clear them)."""
        for name, curve in self.norm_curves.items():
            values = None if norms is None else norms.get(name)
            if values is None or len(values) == 0:
                curve.setData([], [])
            else:
                curve.setData(np.arange(1, len(values) + 1), values)
        self.plots.setVisible(norms is not None)

    def set_timeline(self, n: int | None) -> None:
        """A timeline over positions 0..n at n (None: no run to replay)."""
        self.timeline.blockSignals(True)
        if n is None:
            self.timeline.setEnabled(False)
        else:
            self.timeline.setRange(0, n)
            self.timeline.setValue(n)
            self.timeline.setEnabled(True)
            for plot in (self.norm_plot, self.pixel_plot):
                plot.setXRange(0, max(n, 1), padding=0.02)
        self.timeline.blockSignals(False)
        for line in self.step_lines:
            line.setVisible(n is not None)

    def mark_step(self, k: int, text: str) -> None:
        self.step_label.setText(text)
        for line in self.step_lines:
            line.setValue(k)

    def set_show_range(self, kept: int, show: int) -> None:
        """Offer images 0..kept-1 (or the batch) without reporting a change."""
        self.sample_spin.blockSignals(True)
        self.sample_spin.setRange(-1, max(-1, kept - 1))
        self.sample_spin.setValue(show if show < kept else -1)
        self.sample_spin.blockSignals(False)
