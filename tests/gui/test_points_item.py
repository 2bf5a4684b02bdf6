"""PointsItem: data kept in place, bounds for autorange, and what actually lands on screen."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage

from diffview.gui.panels.points_item import PointsItem

RED, GREEN = (255, 0, 0), (0, 255, 0)


@pytest.fixture
def plot(qtbot):
    w = pg.PlotWidget()
    w.setBackground("k")
    w.hideAxis("left")
    w.hideAxis("bottom")
    qtbot.addWidget(w)
    w.resize(400, 300)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_set_data_drops_non_finite_rows_and_splits_groups():
    item = PointsItem(colors=(RED, GREEN))
    pos = np.array([[0.0, 0.0], [1.0, np.nan], [2.0, 1.0], [np.inf, 3.0], [4.0, -1.0]])
    groups = np.array([0, 1, 1, 0, 1])
    item.setData(pos, groups)
    np.testing.assert_array_equal(item.data(), pos[[0, 2, 4]])
    assert len(item) == 3
    assert [g.count for g in item._groups] == [1, 2]
    # the polygons hold exactly the coordinates of each group, written in place
    np.testing.assert_array_equal(item._groups[1].view, pos[[2, 4]])
    assert item.dataBounds(0) == (0.0, 4.0)
    assert item.dataBounds(1) == (-1.0, 1.0)
    # shrinking and growing keep the buffers consistent with the data
    item.setData(pos[:1])
    assert [g.count for g in item._groups] == [1, 0]
    big = np.random.default_rng(0).standard_normal((5000, 2))
    item.setData(big)
    np.testing.assert_array_equal(item._groups[0].view, big)


def test_autorange_covers_all_points(plot):
    item = PointsItem()
    plot.addItem(item)
    pts = np.array([[-3.0, 2.0], [5.0, -7.0], [0.5, 0.5]])
    item.setData(pts)
    plot.autoRange(padding=0)
    (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
    assert x0 <= -3.0 and x1 >= 5.0 and y0 <= -7.0 and y1 >= 2.0
    rect = item.boundingRect()
    assert rect.left() <= -3.0 and rect.right() >= 5.0


def _pixel_at(plot, x, y):
    vb = plot.getViewBox()
    scene = vb.mapViewToScene(QPointF(x, y))
    wpt = plot.mapFromScene(scene)
    img = plot.grab().toImage()
    ratio = img.devicePixelRatio()
    c = img.pixelColor(int(wpt.x() * ratio), int(wpt.y() * ratio))
    return c.red(), c.green(), c.blue()


@pytest.mark.parametrize("threshold", [10**9, 0], ids=["drawPoints", "raster"])
def test_points_are_painted_where_they_are_in_their_group_colour(qtbot, plot, threshold):
    item = PointsItem(size=5.0, colors=(RED, GREEN))
    item.raster_threshold = threshold
    plot.addItem(item)
    item.setData(np.array([[-1.0, 0.0], [1.0, 0.0]]), np.array([0, 1]))
    plot.setRange(xRange=(-2, 2), yRange=(-2, 2), padding=0)
    qtbot.wait(10)
    assert _pixel_at(plot, -1.0, 0.0) == RED
    assert _pixel_at(plot, 1.0, 0.0) == GREEN
    assert _pixel_at(plot, 0.0, 1.0) == (0, 0, 0)
    # moving the data moves the pixels (update in place + repaint)
    item.setData(np.array([[0.0, 1.0]]), np.array([1]))
    qtbot.wait(10)
    assert _pixel_at(plot, 0.0, 1.0) == GREEN
    assert _pixel_at(plot, -1.0, 0.0) == (0, 0, 0)


def test_translucent_colours_are_made_opaque():
    item = PointsItem(colors=((10, 20, 30, 100),))
    assert item._groups[0].pen.color().alpha() == 255


def test_raster_path_paints_what_draw_points_paints(qtbot, plot):
    """Above raster_threshold points are stamped into an image: same pixels as drawPoints."""
    item = PointsItem(size=2.0, colors=(RED, GREEN))
    plot.addItem(item)
    rng = np.random.default_rng(1)
    pts = rng.standard_normal((3000, 2))
    item.setData(pts, (pts[:, 0] > 0).astype(int))
    plot.setRange(xRange=(-3, 3), yRange=(-3, 3), padding=0)
    images = {}
    for name, threshold in (("poly", 10**9), ("raster", 0)):
        item.raster_threshold = threshold
        item.update()
        qtbot.wait(10)
        img = plot.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), -1, 4)[..., :3]
        images[name] = arr.copy()
    a, b = images["poly"], images["raster"]
    red_a, red_b = (a == RED[::-1]).all(-1), (b == RED[::-1]).all(-1)    # BGRA byte order
    green_a, green_b = (a == GREEN[::-1]).all(-1), (b == GREEN[::-1]).all(-1)
    for ma, mb in ((red_a, red_b), (green_a, green_b)):
        assert ma.sum() > 1000
        iou = (ma & mb).sum() / (ma | mb).sum()
        assert iou > 0.97
