"""An image board: several images in one aspect-locked view box, at one scale, each titled.

Images that are compared (x_t beside the predicted x0, the racers of a race, samples beside real
images) share one view box so they are always drawn at the same scale. The board chooses how
many columns to use from its own width and height, so that the images are as large as the
widget allows and none is ever cut off; titles sit above each image in a band of fixed screen
height.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from diffview.gui.imaging import X_LEVELS

__all__ = ["ImageBoard", "best_columns"]

TITLE_PX = 20      # screen height of one title line
GAP = 0.06         # horizontal gap between images, as a fraction of the image width


def best_columns(n: int, cell_h: float, cell_w: float, width: float, height: float,
                 title_px: float = TITLE_PX, max_cols: int | None = None) -> tuple[int, float]:
    """Columns for ``n`` images of ``cell_h`` x ``cell_w`` that make them largest in a
    ``width`` x ``height`` pixel area (a title band of ``title_px`` above each row).

    Returns
    -------
    (columns, scale): scale is screen pixels per image pixel.
    """
    best = (1, 0.0)
    for cols in range(1, max(1, min(n, max_cols or n)) + 1):
        rows = math.ceil(n / cols)
        s_w = width / (cols * cell_w * (1.0 + GAP))
        s_h = (height / rows - title_px) / cell_h
        scale = min(s_w, s_h)
        if scale > best[1] + 1e-9:
            best = (cols, scale)
    return best


class ImageBoard(pg.GraphicsLayoutWidget):
    """``count`` image slots in one view box; hidden slots take no room.

    Signals
    -------
    clicked(int, float, float)
        A left click on slot ``i`` at image coordinates (x, y) of that slot's image.
    """

    clicked = Signal(int, float, float)

    def __init__(self, count: int = 0, title_lines: int = 1, max_cols: int | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        self.title_lines = title_lines
        self.max_cols = max_cols
        self.view = self.addViewBox(row=0, col=0, lockAspect=True, enableMouse=False,
                                    invertY=True)
        self.view.setMenuEnabled(False)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self._items: list[pg.ImageItem] = []
        self._titles: list[pg.TextItem] = []
        self._shown: list[bool] = []
        self._cols = 1
        self.view.sigResized.connect(self.relayout)
        self.scene().sigMouseClicked.connect(self._on_clicked)
        self.set_count(count)

    # ---- slots ----------------------------------------------------------------------------

    def set_count(self, count: int) -> None:
        """Have exactly ``count`` slots (new ones empty and shown)."""
        fg = pg.getConfigOption("foreground")
        while len(self._items) < count:
            item = pg.ImageItem(axisOrder="row-major")
            title = pg.TextItem("", anchor=(0.5, 1.0), color=fg)
            self.view.addItem(item)
            self.view.addItem(title)
            self._items.append(item)
            self._titles.append(title)
            self._shown.append(True)
        while len(self._items) > count:
            self.view.removeItem(self._items.pop())
            self.view.removeItem(self._titles.pop())
            self._shown.pop()
        self.relayout()

    def count(self) -> int:
        return len(self._items)

    def item(self, i: int) -> pg.ImageItem:
        return self._items[i]

    def title(self, i: int) -> str:
        return self._titles[i].textItem.toPlainText()

    def set_image(self, i: int, image: np.ndarray | None, levels=X_LEVELS) -> None:
        """Show ``image`` ((H, W) or (H, W, 3), model range) in slot ``i``; None clears it."""
        item = self._items[i]
        old = None if item.image is None else item.image.shape[:2]
        if image is None:
            item.clear()
        else:
            item.setImage(image, autoLevels=False, levels=levels)
        new = None if item.image is None else item.image.shape[:2]
        if new != old:
            self.relayout()

    def set_title(self, i: int, text: str) -> None:
        self._titles[i].setText(text)

    def set_shown(self, i: int, shown: bool) -> None:
        if self._shown[i] != bool(shown):
            self._shown[i] = bool(shown)
            self._items[i].setVisible(shown)
            self._titles[i].setVisible(shown)
            self.relayout()

    def is_shown(self, i: int) -> bool:
        return self._shown[i]

    def columns(self) -> int:
        return self._cols

    # ---- layout ---------------------------------------------------------------------------

    def _cell(self) -> tuple[int, int]:
        sizes = [it.image.shape[:2] for it, on in zip(self._items, self._shown, strict=True)
                 if on and it.image is not None]
        if not sizes:
            return 0, 0
        return max(s[0] for s in sizes), max(s[1] for s in sizes)

    def relayout(self, *_args) -> None:
        """Place the shown images in the number of columns that makes them largest."""
        shown = [i for i, on in enumerate(self._shown) if on]
        h, w = self._cell()
        if not shown or h == 0:
            return
        rect = self.view.boundingRect()
        width, height = max(rect.width(), 50.0), max(rect.height(), 50.0)
        band_px = TITLE_PX * self.title_lines
        cols, scale = best_columns(len(shown), h, w, width, height, band_px, self.max_cols)
        self._cols = cols
        scale = max(scale, 1e-3)
        band = band_px / scale          # title band in image pixels at this scale
        gap = GAP * w
        rows = math.ceil(len(shown) / cols)
        for k, i in enumerate(shown):
            r, q = divmod(k, cols)
            x = q * (w + gap)
            y = r * (h + band) + band
            self._items[i].setPos(x, y)
            self._titles[i].setPos(x + w / 2, y - 0.1 * band)
        total_w = cols * w + (cols - 1) * gap
        total_h = rows * (h + band)
        self.view.setRange(xRange=(0, total_w), yRange=(0, total_h), padding=0.0)

    # ---- input ----------------------------------------------------------------------------

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        for i, item in enumerate(self._items):
            if not self._shown[i] or item.image is None:
                continue
            pos = item.mapFromScene(event.scenePos())
            h, w = item.image.shape[:2]
            if 0 <= pos.x() < w and 0 <= pos.y() < h:
                self.clicked.emit(i, float(pos.x()), float(pos.y()))
                event.accept()
                return
