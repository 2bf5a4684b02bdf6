"""Animations of the 2-D SDE panel for File > Export animation: each frame is the cloud(s) as a
density image (a 2-D histogram, log-scaled, coloured), one per shown series side by side.

A density image instead of a screen grab: it is pure numpy, so the export worker renders the
frames without touching the GUI thread, and 50k points cost one ``histogram2d`` per frame.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ANIM_FRAMES_MAX", "AnimationMixin", "cloud_image"]

ANIM_FRAMES_MAX = 150   # an exported run is subsampled to at most this many frames
ANIM_SIZE = 320         # pixels per side of each plot in the animation
_GAP = 6


def cloud_image(points: np.ndarray, rect: tuple[float, float, float, float], size: int,
                lut: np.ndarray) -> np.ndarray:
    """Points ``(N, 2)`` as a ``(size, size, 3)`` uint8 image of ``rect`` = (left, bottom,
    width, height), y up: log(1 + count) per pixel, scaled to the frame's maximum, through
    ``lut`` ``(256, 3)``."""
    left, bottom, width, height = rect
    x = np.asarray(points, dtype=np.float64)
    counts, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=size,
                                  range=[[bottom, bottom + height], [left, left + width]])
    level = np.log1p(counts[::-1])          # row 0 = the top of the plot
    top = float(level.max())
    idx = np.zeros(level.shape, np.uint8) if top <= 0 else np.round(255 * level / top).astype(
        np.uint8)
    return lut[idx]


class AnimationMixin:
    """``animation_source`` of :class:`~diffview.gui.panels.sde2d.Sde2DPanel`."""

    animation_hint = ("Nothing to animate in the 2-D panel yet: press Run (reverse, MCMC or "
                      "the Euler-Maruyama forward), or pick the exact forward marginal.")

    def animation_source(self):
        """A function (for the export worker) returning the frames of the last run, or of the
        exact forward melt, as (3, H, W) images in [-1, 1]; None when there is nothing."""
        import pyqtgraph as pg

        a, b = self._series()
        names = [a] if b is None else [a, b]
        if self.mode == "forward" and self.forward_method == "exact":
            x0, eps, sde = self._x0.copy(), self._eps.copy(), self._sde
            times = self._exact_times()

            def clouds(k):
                return {"cloud": sde.sample_marginal(x0, float(times[k]), eps)}
            n = len(times)
        elif self._recording is not None:
            rec = self._recording

            def clouds(k):
                return {name: rec.frames[name][k] for name in names}
            n = len(rec)
        else:
            return None
        keep = np.unique(np.linspace(0, n - 1, min(n, ANIM_FRAMES_MAX)).round().astype(int))
        r = self.plot_a.view_rect()
        rect = (r.left(), r.top(), r.width(), r.height())
        lut = np.asarray(pg.colormap.get("inferno").getLookupTable(nPts=256)[:, :3], np.uint8)

        def frames():
            for k in keep:
                xs = clouds(int(k))
                tiles = [cloud_image(xs[name], rect, ANIM_SIZE, lut) for name in names]
                gap = np.full((ANIM_SIZE, _GAP, 3), 255, np.uint8)
                row = tiles[0] if len(tiles) == 1 else np.concatenate([tiles[0], gap, tiles[1]],
                                                                      axis=1)
                yield np.moveaxis(row, -1, 0).astype(np.float32) / 127.5 - 1.0

        return frames
