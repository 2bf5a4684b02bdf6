"""Pixel probes of the sampling panel: click a pixel, follow its value along the trajectory."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from diffview.gui.panels import mosaic_cell
from diffview.gui.style import PLOT_COLORS

__all__ = ["PixelProbeMixin"]


class PixelProbeMixin:
    """Clicked pixels of :class:`~diffview.gui.panels.sampling.SamplingPanel` (needs its
    ``result``, ``xt_item``, ``pixel_plot``, ``markers``, ``sample_spin``, ``_pixels`` ...)."""

    def _on_scene_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = self.xt_item.mapFromScene(event.scenePos())
        if self.add_pixel_at(pos.x(), pos.y()):
            event.accept()

    def add_pixel_at(self, x: float, y: float) -> bool:
        """Probe the pixel under image coordinates (x, y) of the x_t view."""
        if self.xt_item.image is None:
            return False
        c, h, w = self._sample_shape()
        cell = mosaic_cell(x, y, self._shown_tiles, h, w, self._live_cols)
        if cell is None:
            return False
        tile, row, col = cell
        sel = self.sample_spin.value()
        index = sel if sel >= 0 else tile
        self.add_pixel(index, row, col)
        return True

    def _sample_shape(self) -> tuple[int, int, int]:
        if self.result is not None:
            return tuple(self.result.xs.shape[2:])
        model = self.context.image_model
        return tuple(model.info.sample_shape) if model is not None else (1, 28, 28)

    def add_pixel(self, index: int, row: int, col: int) -> None:
        """Follow pixel (row, col) of image ``index`` of the batch (all its channels, mean)."""
        self._pixels.append((int(index), 0, int(row), int(col)))
        color = PLOT_COLORS[(len(self._pixels) - 1) % len(PLOT_COLORS)]
        curve = self.pixel_plot.plot(pen=pg.mkPen(color, width=2),
                                     name=f"img {index} ({row}, {col})")
        self._pixel_curves.append(curve)
        self._update_pixel_curves()
        self._place_markers()

    def pixel_trajectory(self, i: int) -> np.ndarray | None:
        """Values of probe ``i`` over the kept run (n + 1,), channel mean; None without a run."""
        if self.result is None:
            return None
        index, _c, row, col = self._pixels[i]
        if index >= self.result.xs.shape[1]:
            return None
        return self.result.xs[:, index, :, row, col].mean(axis=1)

    def _update_pixel_curves(self) -> None:
        for i, curve in enumerate(self._pixel_curves):
            values = self.pixel_trajectory(i)
            if values is None:
                curve.setData([], [])
            else:
                curve.setData(np.arange(len(values)), values)

    def _place_markers(self) -> None:
        c, h, w = self._sample_shape()
        sel = self.sample_spin.value()
        spots = []
        for i, (index, _c, row, col) in enumerate(self._pixels):
            if sel >= 0:
                if index != sel:
                    continue
                tile = 0
            else:
                tile = index
                if tile >= getattr(self, "_shown_tiles", 0):
                    continue
            r, q = divmod(tile, self._live_cols)
            spots.append({"pos": (q * (w + 1) + col + 0.5, r * (h + 1) + row + 0.5),
                          "pen": pg.mkPen(PLOT_COLORS[i % len(PLOT_COLORS)], width=2)})
        self.markers.setData(spots)

    def clear_pixels(self) -> None:
        for curve in self._pixel_curves:
            self.pixel_plot.removeItem(curve)
        self._pixel_curves.clear()
        self._pixels.clear()
        self.markers.setData([])

    def _clear_curves(self) -> None:
        for curve in self.norm_curves.values():
            curve.setData([], [])
        self._update_pixel_curves()
