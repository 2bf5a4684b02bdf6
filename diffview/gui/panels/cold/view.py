"""What the cold-diffusion panel draws: a row of labelled images, a PSNR plot, a timeline."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from diffview.gui.imaging import X_LEVELS, make_image_view, mosaic, to_display
from diffview.gui.style import PLOT_COLORS

__all__ = ["ColdView"]

TILES = 6


class ColdView(pg.GraphicsLayoutWidget):
    """Six image tiles with captions over a PSNR-against-step plot."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.tiles = []
        top = self.addLayout(row=0, col=0)
        for i in range(TILES):
            item, label, _ = make_image_view(top, "", 0, i)
            self.tiles.append((item, label))
        top.layout.setRowStretchFactor(0, 10)
        top.layout.setRowStretchFactor(1, 0)
        self.psnr_plot = self.addPlot(row=1, col=0, title="PSNR against the original")
        self.psnr_plot.setLabel("bottom", "restoration step")
        self.psnr_plot.setLabel("left", "PSNR (dB)")
        self.psnr_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.psnr_plot.addLegend(offset=(10, 10), labelTextSize="8pt")
        self.curves = [self.psnr_plot.plot(pen=pg.mkPen(PLOT_COLORS[i], width=2), name=name)
                       for i, name in enumerate(("Algorithm 1 (naive)", "Algorithm 2 (improved)"))]
        self.cursor = pg.InfiniteLine(angle=90, movable=False,
                                      pen=pg.mkPen(PLOT_COLORS[4], width=1))
        self.psnr_plot.addItem(self.cursor)
        self.ci.layout.setRowStretchFactor(0, 3)
        self.ci.layout.setRowStretchFactor(1, 2)

    def show_tiles(self, images: list, captions: list[str]) -> None:
        """Images (C, H, W) or batches (N, C, H, W, drawn as a mosaic) with their captions."""
        for i, (item, label) in enumerate(self.tiles):
            if i < len(images) and images[i] is not None:
                x = np.asarray(images[i], np.float32)
                if x.ndim == 4:
                    x = mosaic(x, pad=1)
                item.setImage(to_display(x), autoLevels=False, levels=X_LEVELS)
                label.setText(captions[i])
            else:
                item.clear()
                label.setText("")

    def show_psnr(self, curves: list) -> None:
        """Up to two PSNR curves over the restoration steps (None: hidden)."""
        for curve, values in zip(self.curves, curves + [None] * 2, strict=False):
            if values is None:
                curve.clear()
            else:
                v = np.asarray(values, float)
                curve.setData(np.arange(v.size), v)

    def set_cursor(self, step: int) -> None:
        self.cursor.setValue(step)
