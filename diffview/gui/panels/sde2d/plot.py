"""The plots of the 2-D SDE panel: point clouds with a heat map, score arrows, trails and
drawing (:class:`CloudPlot`), and the area holding two of them, a legend and the time bar
(:class:`CloudPlots`).

Every graphics item is created once; updates go through ``setData`` / ``setImage`` in place.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from diffview.gui.panels.points_item import PointsItem
from diffview.gui.style import PLOT_COLORS

__all__ = ["TRAIL_WINDOW", "CloudPlot", "CloudPlots", "DrawViewBox", "Player"]

_CMAPS = {"density": "inferno", "error": "viridis"}
TRAIL_WINDOW = 40   # steps of path drawn behind each tracked particle (a comet tail)


class DrawViewBox(pg.ViewBox):
    """A ViewBox that, in drawing mode, turns left-button drags and clicks into points."""

    point_drawn = Signal(float, float)

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.drawing = False

    def _emit(self, ev) -> None:
        p = self.mapSceneToView(ev.scenePos())
        self.point_drawn.emit(float(p.x()), float(p.y()))

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 (Qt naming)
        if self.drawing and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._emit(ev)
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        if self.drawing and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._emit(ev)
            return
        super().mouseClickEvent(ev)


class CloudPlot:
    """One PlotItem with its layers (bottom to top): heat map, points, trails, arrows, drawing."""

    def __init__(self, layout: pg.GraphicsLayoutWidget, title: str, row: int, col: int) -> None:
        self.view = DrawViewBox()
        self.plot = layout.addPlot(row=row, col=col, viewBox=self.view, title=title)
        self.plot.setAspectLocked(True)
        # no grid: translucent grid lines over the whole plot cost ~10 ms per axis and frame
        self.plot.setLabel("bottom", "x₁")
        self.plot.setLabel("left", "x₂")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        self.plot.addItem(self.image)
        self._cmap_name = ""
        self.points = PointsItem(size=2.0, colors=(PLOT_COLORS[0], PLOT_COLORS[1]))
        self.plot.addItem(self.points)
        self.trails = pg.PlotCurveItem(pen=pg.mkPen(PLOT_COLORS[4], width=1.5),
                                       connect="finite")
        self.trails.setZValue(6)
        self.plot.addItem(self.trails)
        self.trail_heads = pg.ScatterPlotItem(size=7, pen=pg.mkPen("w", width=1),
                                              brush=pg.mkBrush(PLOT_COLORS[4]))
        self.trail_heads.setZValue(7)
        self.plot.addItem(self.trail_heads)
        self.arrows = pg.PlotCurveItem(pen=pg.mkPen((40, 200, 120), width=1.2),
                                       connect="pairs")
        self.arrows.setZValue(8)
        self.plot.addItem(self.arrows)
        # the brush's footprint: discs of radius sigma in data units, translucent
        color = pg.mkColor(PLOT_COLORS[4])
        color.setAlpha(90)
        self.drawn = pg.ScatterPlotItem(pxMode=False, pen=None, brush=pg.mkBrush(color))
        self.drawn.setZValue(9)
        self.plot.addItem(self.drawn)
        self.image_kind = ""   # "", "density" or "error": what the heat map shows now
        self.image_data = np.zeros((0, 0))

    # -- layers ---------------------------------------------------------------------------------
    def set_points(self, x: np.ndarray | None, groups: np.ndarray | None) -> None:
        if x is None:
            self.points.setData(np.zeros((0, 2)))
        else:
            self.points.setData(x, groups)

    def set_heatmap(self, kind: str, values: np.ndarray | None, rect: QRectF | None) -> None:
        """Show ``values`` (ny, nx), row 0 at the bottom of ``rect``; kind "" hides it."""
        self.image_kind = kind if values is not None else ""
        if not self.image_kind:
            self.image.setVisible(False)
            self.image_data = np.zeros((0, 0))
            return
        if kind != self._cmap_name:
            self.image.setLookupTable(pg.colormap.get(_CMAPS[kind]).getLookupTable(nPts=256))
            self._cmap_name = kind
        top = float(np.nanmax(values)) if values.size else 1.0
        self.image_data = values
        self.image.setImage(values, autoLevels=False, levels=(0.0, top if top > 0 else 1.0))
        self.image.setRect(rect)
        self.image.setVisible(True)

    def set_drawn(self, points: np.ndarray | None, radius: float) -> None:
        """Painted points ``(N, 2)`` as discs of ``radius``; None hides them."""
        if points is None or len(points) == 0:
            self.drawn.setData([], [])
        else:
            self.drawn.setData(pos=np.asarray(points, dtype=float), size=2.0 * radius)

    def drawn_points(self) -> np.ndarray:
        """The painted points on screen ``(N, 2)`` (for tests)."""
        x, y = self.drawn.getData()
        return np.column_stack([x, y]) if x is not None and len(x) else np.zeros((0, 2))

    def set_arrows(self, xy: tuple[np.ndarray, np.ndarray] | None) -> None:
        if xy is None:
            self.arrows.setData([], [])
        else:
            self.arrows.setData(*xy)

    def set_trails(self, paths: np.ndarray | None) -> None:
        """``paths`` (steps, n_trails, 2): the last TRAIL_WINDOW steps of each particle as a
        polyline, its head marked."""
        if paths is None or len(paths) == 0:
            self.trails.setData([], [])
            self.trail_heads.setData([], [])
            return
        p = np.asarray(paths[-TRAIL_WINDOW:], dtype=np.float64)
        n_tr = p.shape[1]
        # one NaN row between particles breaks the line (connect="finite")
        sep = np.full((n_tr, 1, 2), np.nan)
        lines = np.concatenate([np.swapaxes(p, 0, 1), sep], axis=1).reshape(-1, 2)
        self.trails.setData(lines[:, 0], lines[:, 1])
        self.trail_heads.setData(pos=p[-1])

    def set_title(self, title: str) -> None:
        self.plot.setTitle(title)

    def view_rect(self) -> QRectF:
        (x0, x1), (y0, y1) = self.view.viewRange()
        return QRectF(x0, y0, x1 - x0, y1 - y0)

    def rect_tuple(self) -> tuple[float, float, float, float]:
        """The visible rectangle as (left, bottom, width, height)."""
        r = self.view_rect()
        return (r.left(), r.top(), r.width(), r.height())


def _swatch(color: str) -> str:
    return f'<span style="color:{color}; font-size:14pt">&#9632;</span>'


class CloudPlots(QWidget):
    """Plot a (left), plot b (right, shown side by side only when asked), a legend line for the
    two point colours and the time bar (slider and label)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.glw.setMinimumSize(240, 240)
        self.plot_a = CloudPlot(self.glw, "exact", 0, 0)
        self.plot_b = CloudPlot(self.glw, "learned", 0, 1)
        self.plot_b.plot.setXLink(self.plot_a.plot)
        self.plot_b.plot.setYLink(self.plot_a.plot)
        self.glw.removeItem(self.plot_b.plot)
        self._b_shown = False
        root.addWidget(self.glw, 1)
        self.legend = QLabel(
            f"{_swatch(PLOT_COLORS[0])} started at x₁ &lt; 0 &nbsp; {_swatch(PLOT_COLORS[1])} "
            f"started at x₁ > 0 &nbsp; {_swatch(PLOT_COLORS[4])} tracked particles")
        self.legend.setWordWrap(True)
        self.legend.setToolTip("Each particle keeps the colour of the half-plane where its run "
                               "started, so you can watch the halves mix and separate.")
        root.addWidget(self.legend)
        bar = QHBoxLayout()
        self.time_slider = QSlider(Qt.Orientation.Horizontal)
        self.time_slider.setMinimumWidth(160)
        self.time_slider.setToolTip("Time t of the frame shown (replay of the last run).")
        self.time_label = QLabel()
        self.time_label.setMinimumWidth(120)
        self.time_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar.addWidget(QLabel("t"))
        bar.addWidget(self.time_slider, 3)
        bar.addWidget(self.time_label, 2)
        root.addLayout(bar)

    def plots(self) -> tuple[CloudPlot, CloudPlot]:
        return self.plot_a, self.plot_b

    def show_b(self, shown: bool) -> None:
        """Put plot b beside plot a, or take it out (a hidden item would keep its cell)."""
        if shown and not self._b_shown:
            self.glw.addItem(self.plot_b.plot, row=0, col=1)
        elif not shown and self._b_shown:
            self.glw.removeItem(self.plot_b.plot)
        self._b_shown = shown

    @property
    def b_shown(self) -> bool:
        return self._b_shown

    def draw(self, series: tuple[str | None, str | None], shown: dict, trails: dict | None,
             groups, view: str, show_trails: bool) -> None:
        """Points of plot a / b (``shown["a"]``, ``shown["b"]``, coloured by ``groups(n)``) and
        the trails of their series; ``view`` "density" hides the points."""
        size = 1.0 if view in ("both", "error") else 2.0   # the density shows between points
        for which, plot, name in zip("ab", self.plots(), series, strict=True):
            if plot.points.size != size:
                plot.points.setSize(size)
            x = shown.get(which)
            show = name is not None and x is not None and view != "density"
            plot.set_points(x if show else None, groups(x.shape[0]) if show else None)
            plot.set_trails(trails.get(name) if show_trails and trails else None)

    def zoom_to(self, clouds: list) -> None:
        """Fit the view to the middle 99 % of the points (outliers would dominate)."""
        clouds = [x for x in clouds if x is not None and x.shape[0]]
        if not clouds:
            return
        x = np.concatenate(clouds).astype(np.float64)
        lo, hi = np.percentile(x, 0.5, axis=0), np.percentile(x, 99.5, axis=0)
        cx, cy = (float(v) for v in 0.5 * (lo + hi))
        half = max(0.6 * float(np.max(hi - lo)), 0.5)
        self.plot_a.view.setRange(xRange=(cx - half, cx + half), yRange=(cy - half, cy + half),
                                  padding=0)

    def set_half_range(self, half: float) -> None:
        self.plot_a.view.setRange(xRange=(-half, half), yRange=(-half, half), padding=0.02)


class Player(QObject):
    """Play: moves ``slider`` one position every 33 ms to its end; ``button`` (checkable)
    starts and pauses it."""

    def __init__(self, slider: QSlider, button, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._slider, self._button = slider, button
        self._timer = QTimer(self, interval=33, timeout=self._advance)
        button.toggled.connect(self.set_playing)

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def set_playing(self, playing: bool) -> None:
        if playing and self._slider.value() >= self._slider.maximum():
            self._slider.setValue(0)
        (self._timer.start if playing else self._timer.stop)()
        btn = self._button
        if btn.isChecked() != playing:
            btn.blockSignals(True)
            btn.setChecked(playing)
            btn.blockSignals(False)
        btn.setText("Pause" if playing else "Play")

    def _advance(self) -> None:
        v = self._slider.value()
        if v >= self._slider.maximum():
            self.set_playing(False)
        else:
            self._slider.setValue(v + 1)
