"""Nearest training images: "is the model copying its training set?" Qt-free.

Pixel-space L2 between every sample and every training image, in float32 blocks (one matrix
product per block, ||a||² − 2ab + ||b||²); the distances of the images found are recomputed
exactly in float64. :func:`run_nearest` is the search as a run (progress per block, cancellable
between blocks) for ``context.jobs``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np

from diffview.gui.panels.grid.state import NearestResult
from diffview.runs.base import CancelToken, Progress, check, run_to_end

__all__ = ["NN_CHUNK", "nearest_iter", "nearest_neighbours", "run_nearest"]

NN_CHUNK = 4096  # training images per distance block (bounds the worker's memory)


def nearest_iter(samples: np.ndarray, train: np.ndarray, token: CancelToken | None = None
                 ) -> Generator[Progress, None, tuple[np.ndarray, np.ndarray]]:
    """:func:`nearest_neighbours` block by block, yielding a Progress after each block."""
    a = np.ascontiguousarray(samples.reshape(len(samples), -1), dtype=np.float32)
    a2 = np.einsum("ij,ij->i", a, a)
    best = np.full(len(a), np.inf, np.float32)
    arg = np.zeros(len(a), np.int64)
    blocks = max(1, -(-len(train) // NN_CHUNK))
    for k, start in enumerate(range(0, len(train), NN_CHUNK), start=1):
        check(token)
        b = np.asarray(train[start:start + NN_CHUNK], np.float32).reshape(-1, a.shape[1])
        d2 = (a2[:, None] - 2.0 * (a @ b.T)) + np.einsum("ij,ij->i", b, b)[None, :]
        j = d2.argmin(axis=1)
        v = d2[np.arange(len(a)), j]
        better = v < best
        best[better] = v[better]
        arg[better] = j[better] + start
        yield Progress(step=k, total=blocks)
    diff = samples.reshape(len(samples), -1).astype(np.float64) \
        - train[arg].reshape(len(arg), -1).astype(np.float64)
    return arg, np.sqrt((diff * diff).sum(axis=1))


def nearest_neighbours(samples: np.ndarray, train: np.ndarray,
                       token: CancelToken | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index and L2 distance of the nearest ``train`` image for each sample.

    Parameters
    ----------
    samples : (B, C, H, W) float
    train : (N, C, H, W) float, same C, H, W
    token : CancelToken, optional; checked between blocks

    Returns
    -------
    (index (B,) int64, distance (B,) float64)
    """
    return run_to_end(nearest_iter(samples, train, token))


def run_nearest(samples: np.ndarray, training_images: Callable[[], tuple[np.ndarray, str]],
                token: CancelToken | None = None
                ) -> Generator[Progress, None, NearestResult]:
    """The search as a run: ``training_images()`` (called here, on the worker) gives the set
    (N, C, H, W) in the model range and its name; ValueError when its images' shape differs
    from the samples'."""
    train, source = training_images()
    if train.shape[1:] != samples.shape[1:]:
        raise ValueError(f"The data set's images are {train.shape[1:]}, the samples "
                         f"{samples.shape[1:]}: load a matching data folder.")
    idx, dist = yield from nearest_iter(samples, train, token)
    return NearestResult(idx, dist, train[idx], source)
