"""Pixel probes: the values of clicked pixels along the trajectory, and their markers.

:class:`PixelProbes` draws a list of probes ``(image, row, col)`` (held by the panel's state)
into a plot, one coloured curve each, and marks them on the x_t mosaic. The plot is hidden while
there is no probe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg

from diffview.gui.panels.sampling.replay import Replay
from diffview.gui.style import PLOT_COLORS

__all__ = ["MosaicLayout", "PixelProbes"]


@dataclass(frozen=True)
class MosaicLayout:
    """How the x_t mosaic is drawn: image ``show`` alone (-1: the batch), ``tiles`` tiles in
    ``cols`` columns of ``h`` x ``w`` images (1 pixel of padding between tiles)."""

    show: int
    tiles: int
    cols: int
    h: int
    w: int

    def tile_of(self, index: int) -> int | None:
        """The tile showing batch image ``index``, or None when it is not drawn."""
        if self.show >= 0:
            return 0 if index == self.show else None
        return index if index < self.tiles else None


class PixelProbes:
    """Curves of probed pixels in ``plot`` and their markers over ``image_item``."""

    def __init__(self, plot: pg.PlotWidget, image_item: pg.ImageItem) -> None:
        self.plot = plot
        self.markers = pg.ScatterPlotItem(size=9, pen=pg.mkPen("w", width=1.5), brush=None,
                                          symbol="s")
        self.markers.setParentItem(image_item)
        self.curves: list[pg.PlotDataItem] = []

    @staticmethod
    def color(i: int):
        return PLOT_COLORS[i % len(PLOT_COLORS)]

    def show(self, pixels, replay: Replay | None, layout: MosaicLayout | None) -> None:
        """Draw ``pixels`` (a sequence of (image, row, col)) for ``replay`` (None: no run)."""
        while len(self.curves) > len(pixels):
            self.plot.removeItem(self.curves.pop())
        while len(self.curves) < len(pixels):
            i = len(self.curves)
            image, row, col = pixels[i]
            self.curves.append(self.plot.plot(pen=pg.mkPen(self.color(i), width=2),
                                              name=f"img {image} ({row}, {col})"))
        for curve, (image, row, col) in zip(self.curves, pixels, strict=True):
            values = None if replay is None else replay.pixel(image, row, col)
            if values is None:
                curve.setData([], [])
            else:
                curve.setData(np.arange(len(values)), values)
        self.plot.setVisible(bool(pixels))
        self._place_markers(pixels, layout)

    def _place_markers(self, pixels, layout: MosaicLayout | None) -> None:
        spots = []
        if layout is not None:
            for i, (image, row, col) in enumerate(pixels):
                tile = layout.tile_of(image)
                if tile is None:
                    continue
                r, q = divmod(tile, layout.cols)
                spots.append({"pos": (q * (layout.w + 1) + col + 0.5,
                                      r * (layout.h + 1) + row + 0.5),
                              "pen": pg.mkPen(self.color(i), width=2)})
        self.markers.setData(spots)
