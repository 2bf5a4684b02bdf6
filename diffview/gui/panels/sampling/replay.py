"""Replay of a sampling run: what the timeline shows at each step, pixel values along the
trajectory, and the frames of its animation. Qt-free.

A cancelled run replays like a finished one, up to the step where it stopped.
"""

from __future__ import annotations

import math

import numpy as np

from diffview.gui.imaging import mosaic
from diffview.runs.sampling import MOSAIC_MAX, SamplingResult, SamplingSpec
from diffview.runs.seeding import PerSampleNoise

__all__ = ["Replay", "select_tiles", "start_images"]


def start_images(spec: SamplingSpec, shape) -> np.ndarray:
    """The first :data:`MOSAIC_MAX` images a run of ``spec`` starts from, (m, *shape): the
    seeding rule's x_T, or the spec's given start."""
    m = min(int(spec.batch), MOSAIC_MAX)
    if spec.start is None:
        return PerSampleNoise.for_images(spec.seed, m, spec.first_image).standard_normal(
            (m, *shape), dtype=np.float32)
    return np.broadcast_to(spec.start.x, (int(spec.batch), *shape))[:m]


def select_tiles(x: np.ndarray, show: int) -> tuple[np.ndarray, int]:
    """The images of a (m, C, H, W) batch to draw and the mosaic's columns: image ``show``
    alone, or (``show`` = -1 or out of range) the first :data:`MOSAIC_MAX` in a near-square."""
    if 0 <= show < len(x):
        return x[show:show + 1], 1
    x = x[:MOSAIC_MAX]
    return x, max(1, math.ceil(math.sqrt(len(x))))


class Replay:
    """A sampling result seen through the timeline.

    Position ``k`` (0..n) is x after k steps and the x0 predicted from it (``k = n``: the final
    sample of a finished run, or the last state of a cancelled one).
    """

    def __init__(self, result: SamplingResult) -> None:
        self.result = result

    @property
    def n_steps(self) -> int:
        """Steps taken (the timeline's maximum)."""
        return int(self.result.xs.shape[0] - 1)

    @property
    def kept(self) -> int:
        """Images whose trajectories were kept (the first ones of the batch)."""
        return int(self.result.xs.shape[1])

    def at(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, x0_pred) at position ``k`` (clipped to 0..n), each (kept, C, H, W); with no
        trajectory kept, the final batch twice."""
        if self.kept == 0:
            return self.result.final, self.result.final
        k = int(np.clip(k, 0, self.n_steps))
        return self.result.xs[k], self.result.x0s[k]

    def label(self, k: int) -> str:
        """"step 3/20  (t index 850)", "step 20/20  (clean)" or, cancelled, "... (stopped)"."""
        n = self.n_steps
        k = int(np.clip(k, 0, n))
        if k < n:
            where = f"t index {int(self.result.t_indices[k])}"
        else:
            where = "stopped" if self.result.cancelled else "clean"
        return f"step {k}/{n}  ({where})"

    def pixel(self, index: int, row: int, col: int) -> np.ndarray | None:
        """Pixel (row, col) of image ``index`` over positions 0..n, channel mean, or None when
        that image's trajectory was not kept."""
        if not 0 <= index < self.kept:
            return None
        h, w = self.result.xs.shape[-2:]
        if not (0 <= row < h and 0 <= col < w):
            return None
        return self.result.xs[:, index, :, row, col].mean(axis=1)

    def animation(self):
        """A function returning the run's frames for export: per position, the x_t mosaic, a
        white gap and the x0 mosaic, each (C, H, W) float in [-1, 1]."""
        xs = self.result.xs[:, :MOSAIC_MAX]
        x0s = self.result.x0s[:, :MOSAIC_MAX]
        if xs.shape[1] == 0:
            return None

        def frames() -> list[np.ndarray]:
            cols = max(1, math.ceil(math.sqrt(xs.shape[1])))
            out = []
            for x, x0 in zip(xs, x0s, strict=True):
                a, b = mosaic(x, cols), mosaic(x0, cols)
                gap = np.full(a.shape[:2] + (max(2, a.shape[2] // 12),), 1.0, np.float32)
                out.append(np.concatenate([a, gap, b], axis=2))
            return out

        return frames
