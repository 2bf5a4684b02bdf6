"""Animations of the 2-D panel for File > Export animation, and its info texts.

Each exported frame is the cloud(s) as a density image (a 2-D histogram, log-scaled, coloured),
one per shown series side by side: pure numpy, so the export worker renders the frames
without touching the GUI thread, and 50k points cost one ``histogram2d`` per frame.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from diffview.gui.panels.sde2d.scene import CloudScene
from diffview.gui.panels.sde2d.state import DATASET_LABELS, DRAWING

__all__ = ["ANIMATION_HINT", "ANIM_FRAMES_MAX", "ANIM_SIZE", "cloud_animation", "cloud_image",
           "inferno_lut", "info_text", "time_text"]

ANIMATION_HINT = ("Nothing to animate in the 2-D panel yet: press Run (reverse, MCMC or the "
                  "Euler-Maruyama forward), or pick the exact forward marginal.")
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
    idx = (np.zeros(level.shape, np.uint8) if top <= 0
           else np.round(255 * level / top).astype(np.uint8))
    return lut[idx]


def inferno_lut() -> np.ndarray:
    """The colour table of the exported frames, (256, 3) uint8."""
    import pyqtgraph as pg

    return np.asarray(pg.colormap.get("inferno").getLookupTable(nPts=256)[:, :3], np.uint8)


def cloud_animation(scene: CloudScene, rect: tuple[float, float, float, float],
                    lut: np.ndarray | None = None) -> Callable | None:
    """Frames of the scene's last run (or of the exact forward melt) as (3, H, W) images in
    [-1, 1], for the export worker; None when there is nothing to animate. The arrays are
    copied, so later changes of the scene do not reach the worker."""
    a, b = scene.series()
    names = [a] if b is None else [a, b]
    if not scene.state.needs_run:
        x0, eps, sde, times = scene.x0.copy(), scene.eps.copy(), scene.sde, scene.exact_times()

        def clouds(k):
            return {"cloud": sde.sample_marginal(x0, float(times[k]), eps)}
        n = len(times)
    elif scene.recording is not None:
        frames = {name: list(scene.recording.frames[name]) for name in names}

        def clouds(k):
            return {name: frames[name][k] for name in names}
        n = len(scene.recording)
    else:
        return None
    keep = np.unique(np.linspace(0, n - 1, min(n, ANIM_FRAMES_MAX)).round().astype(int))
    lut = inferno_lut() if lut is None else lut

    def render():
        for k in keep:
            xs = clouds(int(k))
            tiles = [cloud_image(xs[name], rect, ANIM_SIZE, lut) for name in names]
            gap = np.full((ANIM_SIZE, _GAP, 3), 255, np.uint8)
            row = tiles[0] if len(tiles) == 1 else np.concatenate([tiles[0], gap, tiles[1]],
                                                                  axis=1)
            yield np.moveaxis(row, -1, 0).astype(np.float32) / 127.5 - 1.0

    return render


def time_text(scene: CloudScene, t: float) -> str:
    if scene.state.mode == "mcmc":
        return f"Metropolis step {int(t)}"
    sde = scene.sde
    return (f"t = {t:.3g} / {sde.T:g}   m(t) = {float(sde.mean_coef(t)):.3f}   "
            f"s(t) = {float(sde.marginal_std(t)):.3f}")


def info_text(scene: CloudScene, x: np.ndarray | None, live: bool,
              accept_rate: float | None) -> str:
    """The info lines under Run: data set, cloud moments, formula, what to press."""
    s = scene.state
    rec = scene.recording
    lines = [f"{DATASET_LABELS[s.dataset]}, {x.shape[0] if x is not None else 0:,} points"]
    if x is not None and x.shape[0]:
        # column by column: numpy's axis-0 reductions of an (N, 2) array are ~10x slower
        cols = (x[:, 0], x[:, 1])
        mu = [float(c.mean()) for c in cols]
        sd = [float(c.std()) for c in cols]
        lines.append(f"cloud mean ({mu[0]:+.2f}, {mu[1]:+.2f}), std ({sd[0]:.2f}, {sd[1]:.2f})")
    mix = scene.drawn_mixture
    if s.dataset == DRAWING and mix is not None:
        lines.append(f"p₀ = kernel density of {mix.n_components} Gaussians "
                     f"(σ = {float(np.sqrt(mix.covs[0, 0, 0])):.2g}): the exact score is "
                     "exact for this mixture.")
    if s.mode == "forward" and s.process != "flow":
        lines.append("x_t = m(t) x₀ + s(t) ε, ε ~ N(0, I)" if s.forward == "exact"
                     else "Euler-Maruyama: x += f dt + g √dt z")
    if s.process == "flow":
        lines.append("Same noise z: left the VP PF-ODE, right x_t = (1 − t) x₀ + t ε flow "
                     "matching, Heun steps, exact fields.")
        if rec is not None and rec.straightness:
            lines.append(f"straightness (path / chord): VP {rec.straightness['vp']:.3f}, "
                         f"FM {rec.straightness['fm']:.3f}")
    if accept_rate is not None:
        lines.append(f"acceptance rate {accept_rate:.2f}")
    rec = scene.recording
    if rec is not None and rec.cancelled:
        lines.append(f"Cancelled at step {rec.steps[-1]}: replay shows the run so far.")
    if s.needs_run and rec is None and not live:
        lines.append("Press Run to simulate the paths." if s.mode == "forward"
                     else "Press Run to start.")
    return "\n".join(lines)
