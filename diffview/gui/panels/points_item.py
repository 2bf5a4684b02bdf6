"""A point-cloud graphics item that redraws 50,000+ points at screen rate.

pyqtgraph's ``ScatterPlotItem.setData`` does per-point Python work (about 57 ms for 20,000
points on the reference machine, see STACK.md), too slow to animate a diffusing cloud.
:class:`PointsItem` keeps one preallocated ``QPolygonF`` per colour group, writes the
coordinates into the polygon's memory through a numpy view (no per-point Python), and paints
each group with a single ``QPainter.drawPoints`` call using a cosmetic square pen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from pyqtgraph import functions as fn
from PySide6 import QtCore, QtGui

__all__ = ["PointsItem"]


class _Group:
    """One colour: a QPolygonF whose buffer we fill in place, plus its pen."""

    __slots__ = ("pen", "poly", "count", "view", "dev", "dev_view")

    def __init__(self, pen: QtGui.QPen) -> None:
        self.pen = pen
        self.poly = QtGui.QPolygonF()
        self.count = 0
        self.view: np.ndarray | None = None
        self.dev = QtGui.QPolygonF()           # the same points in device pixels, for paint()
        self.dev_view: np.ndarray | None = None

    def fill(self, xy: np.ndarray, index: np.ndarray | None = None) -> None:
        """Copy ``xy`` (or its rows ``index``) into the polygon, resizing it if needed."""
        n = int(xy.shape[0] if index is None else index.shape[0])
        if n != self.count or self.view is None:
            # Qt keeps the allocation when a QPolygonF shrinks, so resizing to exactly n is
            # cheap; the numpy views must be taken again because the buffers may move.
            for name in ("poly", "dev"):
                poly = getattr(self, name)
                if poly.size() == 0 and n:
                    setattr(self, name, fn.create_qpolygonf(n))
                else:
                    poly.resize(n)
            self.view = fn.ndarray_from_qpolygonf(self.poly) if n else None
            self.dev_view = fn.ndarray_from_qpolygonf(self.dev) if n else None
            self.count = n
        if n and index is None:
            self.view[:] = xy
        elif n:
            # straight into the polygon's memory (boolean-mask indexing would copy twice)
            np.take(xy, index, axis=0, out=self.view)

    def device_polygon(self, tr: QtGui.QTransform) -> QtGui.QPolygonF:
        """The points mapped through the affine ``tr`` into the device buffer."""
        if self.count:
            if tr.m12() == 0.0 and tr.m21() == 0.0:
                # the usual ViewBox transform (scale + translate): elementwise, no BLAS call
                np.multiply(self.view, (tr.m11(), tr.m22()), out=self.dev_view)
            else:
                a = np.array([[tr.m11(), tr.m12()], [tr.m21(), tr.m22()]])
                np.matmul(self.view, a, out=self.dev_view)
            self.dev_view += (tr.m31(), tr.m32())
        return self.dev


class PointsItem(pg.GraphicsObject):
    """Many same-size points, optionally in a few colour groups.

    Parameters
    ----------
    size : float
        Point size in screen pixels (a cosmetic pen, independent of zoom).
    colors : sequence of colours (anything ``pg.mkColor`` accepts), one per group; alpha is
        ignored (see :meth:`setColors`).

    Notes
    -----
    ``setData(pos, groups=None)``: ``pos`` is (N, 2); ``groups`` an optional (N,) int array of
    indices into ``colors``; it is remembered by identity, so pass a new array (not the same one
    changed in place) when the labels change.  Non-finite rows are dropped.  Each call copies
    the coordinates into the polygons (a few ms for 200k points) and schedules one repaint.  Below
    :attr:`raster_threshold` points each group is one ``drawPoints`` call; above it the points
    are stamped into an image with numpy (drawPoints slows down with heavy overdraw: 190 ms for
    200k points against ~10 ms for the image).
    """

    raster_threshold = 5_000
    """From this many points on, paint() stamps an image instead of calling drawPoints."""

    def __init__(self, size: float = 2.0, colors: Sequence = ((80, 160, 255),),
                 parent=None) -> None:
        super().__init__(parent)
        self._size = float(size)
        self._groups: list[_Group] = []
        self._bounds = QtCore.QRectF()
        self._xy = np.zeros((0, 2))
        self._mask_source = None
        self._masks: list[np.ndarray] = []     # row indices of each group
        self._n_labelled = -1
        self.setColors(colors)

    # -- public API --------------------------------------------------------------------------
    def setColors(self, colors: Sequence) -> None:  # noqa: N802 (Qt naming)
        """Set the colour of each group (resets the groups' contents)."""
        self._groups = []
        for c in colors:
            color = pg.mkColor(c)
            # Translucent points wider than one pixel fall off Qt's fast path (62 ms instead
            # of 8 ms for 50k points, measured): colours are made opaque.
            color.setAlpha(255)
            pen = QtGui.QPen(color)
            pen.setWidthF(self._size)
            pen.setCosmetic(True)
            pen.setCapStyle(QtCore.Qt.PenCapStyle.SquareCap)
            self._groups.append(_Group(pen))
        self._mask_source = None
        self.setData(self._xy)

    @property
    def size(self) -> float:
        """Point size in pixels."""
        return self._size

    def setSize(self, size: float) -> None:  # noqa: N802
        """Point size in pixels."""
        self._size = float(size)
        for g in self._groups:
            g.pen.setWidthF(self._size)
        self.update()

    def setData(self, pos: np.ndarray, groups: np.ndarray | None = None) -> None:  # noqa: N802
        """Replace the points: ``pos`` (N, 2), ``groups`` (N,) ints into the colour list."""
        xy = np.asarray(pos, dtype=np.float64).reshape(-1, 2)
        # Cheap check first: one sum is finite only if every entry is (axis reductions over
        # an (N, 2) array are ~100x slower in numpy than whole-array or column reductions).
        if not np.isfinite(xy.sum()):
            finite = np.isfinite(xy[:, 0]) & np.isfinite(xy[:, 1])
            xy = xy[finite]
            if groups is not None:
                groups = np.asarray(groups)[finite]
        self._xy = xy
        if groups is None or len(self._groups) == 1:
            self._groups[0].fill(xy)
            for g in self._groups[1:]:
                g.fill(xy[:0])
        else:
            if groups is not self._mask_source or self._n_labelled != xy.shape[0]:
                # the same labels usually come with every frame: sort them out once
                labels = np.asarray(groups)
                self._masks = [np.flatnonzero(labels == k) for k in range(len(self._groups))]
                self._mask_source = groups
                self._n_labelled = xy.shape[0]
            for index, g in zip(self._masks, self._groups, strict=True):
                g.fill(xy, index)
        self._update_bounds()

    def data(self) -> np.ndarray:
        """The (N, 2) finite points last given to :meth:`setData` (shared, do not modify)."""
        return self._xy

    def __len__(self) -> int:
        return int(self._xy.shape[0])

    # -- bounds (for autorange) ---------------------------------------------------------------
    def _update_bounds(self) -> None:
        self.prepareGeometryChange()
        if self._xy.shape[0]:
            xs, ys = self._xy[:, 0], self._xy[:, 1]
            x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
            self._bounds = QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)
        else:
            self._bounds = QtCore.QRectF()
        self.informViewBoundsChanged()
        self.update()

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # noqa: N802
        """Range of the data along axis ``ax`` (0 = x, 1 = y), as pyqtgraph's ViewBox asks."""
        if not self._xy.shape[0]:
            return None, None
        vals = self._xy[:, ax]
        if orthoRange is not None:
            other = self._xy[:, 1 - ax]
            vals = vals[(other >= orthoRange[0]) & (other <= orthoRange[1])]
            if not vals.size:
                return None, None
        if frac >= 1.0:
            return float(vals.min()), float(vals.max())
        q = (1.0 - frac) * 50.0
        return tuple(float(v) for v in np.percentile(vals, [q, 100.0 - q]))

    def pixelPadding(self) -> float:  # noqa: N802
        return self._size * 0.5

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802
        if self._bounds.isNull() and not self._xy.shape[0]:
            return QtCore.QRectF()
        # Pad by the pen size in data units so the outermost points are not clipped.
        px = self.pixelVectors()
        pad_x = pad_y = 0.0
        if px[0] is not None:
            pad_x = abs(px[0].x()) * self._size + abs(px[1].x()) * self._size
            pad_y = abs(px[0].y()) * self._size + abs(px[1].y()) * self._size
        return self._bounds.adjusted(-pad_x, -pad_y, pad_x, pad_y)

    def viewTransformChanged(self) -> None:  # noqa: N802
        # the pixel padding in data units depends on the zoom
        self.prepareGeometryChange()

    # -- painting ------------------------------------------------------------------------------
    def paint(self, painter: QtGui.QPainter, option, widget=None) -> None:
        # Qt's fast path for wide cosmetic points needs a uniform (or identity) transform; a
        # ViewBox almost always scales x and y differently, which costs 4x (measured: 35 ms
        # against 8 ms for 50k points).  So map to device pixels with numpy and draw untransformed.
        tr = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)
        total = sum(g.count for g in self._groups)
        if total >= self.raster_threshold:
            self._paint_raster(painter, tr)
        else:
            for g in self._groups:
                if g.count:
                    painter.setPen(g.pen)
                    painter.drawPoints(g.device_polygon(tr))
        painter.restore()

    def _paint_raster(self, painter: QtGui.QPainter, tr: QtGui.QTransform) -> None:
        """Many points: stamp them into an ARGB image with numpy, then draw the image once.

        Each point becomes the size x size pixel square that drawPoints would paint (a square
        cap centred on the point); later groups are stamped over earlier ones, as in the
        polygon path.  Cost is O(N) numpy + one image blit, independent of overdraw.
        """
        clip = painter.clipBoundingRect() if painter.hasClipping() else QtCore.QRectF()
        if clip.isEmpty():
            dev = painter.device()
            clip = QtCore.QRectF(0, 0, dev.width(), dev.height())
        # only the part of the view the points cover: a smaller image to clear and blit
        pad = self._size + 1.0
        clip = clip.intersected(tr.mapRect(self._bounds).adjusted(-pad, -pad, pad, pad))
        x0, y0 = int(np.floor(clip.left())), int(np.floor(clip.top()))
        w, h = int(np.ceil(clip.right())) - x0, int(np.ceil(clip.bottom())) - y0
        if w <= 0 or h <= 0:
            return
        size = max(1, int(round(self._size)))
        # a margin of `size` pixels lets every stamp of an in-range point stay inside the
        # buffer, so one bounds test per point suffices
        pw, ph = w + 2 * size, h + 2 * size
        img = np.zeros(pw * ph, dtype=np.uint32)
        offsets = (np.arange(size)[:, None] * pw + np.arange(size)[None, :]).ravel()
        # drawPoints with a square cap covers [p - size/2, p + size/2) on each axis
        origin = np.array([x0 - size + 0.5 * size - 0.5, y0 - size + 0.5 * size - 0.5])
        for g in self._groups:
            if not g.count:
                continue
            g.device_polygon(tr)
            # truncation equals floor for every point inside the image (coordinates >= 0 there);
            # points just left of it may round onto the margin, which the clip hides
            ij = (g.dev_view - origin).astype(np.int64)
            ix, iy = ij[:, 0], ij[:, 1]
            ok = (ix >= 0) & (ix <= pw - size) & (iy >= 0) & (iy <= ph - size)
            base = (iy * pw + ix)[ok]
            argb = np.uint32(g.pen.color().rgba())
            for off in offsets:
                img[base + off] = argb
        qimg = QtGui.QImage(img.data, pw, ph, 4 * pw,
                            QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        painter.drawImage(QtCore.QPointF(x0 - size, y0 - size), qimg)
