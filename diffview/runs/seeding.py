"""The one seeding rule of every sampling run (app, ``diffview sample``, ``diffview.eval.fid``).

Image ``i`` of a run with seed ``s`` owns the generator

    default_rng(SeedSequence(s, spawn_key=(i,)))

and draws from it, in this order: its starting noise x_T (one array of the sample's shape),
then the noise of every sampler step that takes noise, in step order. Image ``i``'s samples
therefore depend on ``(s, i)`` and the spec only: not on the batch size, on how many images are
drawn in total, on the other images, or on where the run happens (up to float rounding of
batched inference). A run that starts part-way (from a given x_t) still draws x_T and the noise
of the steps it skips, so continuing a run from its own step k repeats its remaining steps
exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PerSampleNoise", "check_seed", "image_rng", "sample_generators", "start_noise"]


def check_seed(seed: object) -> int:
    """``seed`` as a non-negative int, or ValueError naming the problem."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, found {seed!r}")
    return int(seed)


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image ``index`` of a run with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(check_seed(seed), spawn_key=(int(index),)))


def sample_generators(seed: int, start: int, count: int) -> list[np.random.Generator]:
    """Generators of images ``start .. start + count - 1`` of a run with ``seed``."""
    return [image_rng(seed, i) for i in range(int(start), int(start) + int(count))]


def start_noise(seed: int, shape: tuple[int, ...], count: int, start: int = 0,
                dtype=np.float32) -> np.ndarray:
    """The starting noise x_T of images ``start .. start + count - 1``: (count, *shape).

    The first draw of each image's generator, so exactly the x_T a run with ``seed`` starts
    from (a display can show it before the run begins).
    """
    return PerSampleNoise.for_images(seed, count, start).standard_normal((count, *shape),
                                                                         dtype=dtype)


class PerSampleNoise:
    """An ``rng`` for the samplers that draws row ``i`` of every noise array from generator ``i``.

    It has the one method the samplers of :mod:`diffview.core.samplers` and
    :mod:`diffview.core.sde` call, ``standard_normal(size, dtype)``.

    Parameters
    ----------
    generators : sequence of numpy Generator
        One per image of the batch (:func:`sample_generators`).
    """

    def __init__(self, generators: Sequence[np.random.Generator]) -> None:
        self.generators = list(generators)

    @classmethod
    def for_images(cls, seed: int, count: int, start: int = 0) -> PerSampleNoise:
        """The noise of images ``start .. start + count - 1`` of a run with ``seed``."""
        return cls(sample_generators(seed, start, count))

    def standard_normal(self, size: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        """Standard normal array of shape ``size = (len(generators), ...)``."""
        size = tuple(size)
        if not size or size[0] != len(self.generators):
            raise ValueError(f"expected a shape (B, ...) with B = {len(self.generators)}, "
                             f"found {size}")
        out = np.empty(size, dtype=dtype)
        for row, g in zip(out, self.generators, strict=True):
            row[...] = g.standard_normal(size[1:], dtype=dtype)
        return out
