"""Batched, reproducible sampling for ``python -m diffview.eval.fid`` (and older callers).

A thin face over :func:`diffview.runs.generate.generate`: the arguments become a
:class:`~diffview.runs.sampling.SamplingSpec`, so the samples are exactly those of the app and
of ``diffview sample`` for the same settings and seed (the seeding rule of
:mod:`diffview.runs.seeding`: image ``i`` of seed ``s`` draws everything from
``default_rng(SeedSequence(s, spawn_key=(i,)))``). No torch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from diffview.core.samplers import CLIP_X0_DEFAULT
from diffview.runs.sampling import CONTINUOUS_SAMPLERS
from diffview.runs.seeding import PerSampleNoise, sample_generators

__all__ = ["CONTINUOUS_SAMPLERS", "PerSampleNoise", "generate", "sample_generators"]

Progress = Callable[[int, int], None]
"""progress(done_steps, total_steps), called after every network evaluation of a batch."""


def generate(denoiser, n: int, sampler: str = "ddim", n_steps: int | None = None,
             eta: float = 0.0, spacing: str | None = None, batch: int = 64, seed: int = 0,
             progress: Progress | None = None, clip_x0=CLIP_X0_DEFAULT,
             classes: tuple[int, ...] | None = None, guidance: float = 1.0) -> np.ndarray:
    """Draw ``n`` samples.

    Parameters
    ----------
    denoiser : Denoiser
        Anything with ``info`` (a ModelInfo) and ``predict_eps(x, t)``.
    n : int
        Number of samples, at least 1.
    sampler : {"ddpm", "ddim", "dpm++2m"} or, for a continuous-time model, {"sde", "ode", "pc"}
    n_steps : int, optional
        Sampler steps (None: the sampler's default; all T steps for DDPM; 500, 100 and 250
        for sde, ode and pc).
    eta : float
        DDIM noise scale in [0, 1].
    spacing : {"leading", "trailing", "linspace"}, optional
        Timestep spacing (None: the sampler's default).
    batch : int
        Samples per network call.
    seed : int
    progress : callable, optional
        ``progress(done, total)`` in network evaluations summed over batches.
    clip_x0 : bool, float or None
        True (default): clip every x0 prediction of an image model to its data range; False or
        None: no clipping; a number c: clip to ``[-c, c]`` (discrete samplers only).

    Returns
    -------
    float32 ndarray, shape (n, *info.sample_shape)
        Final samples in the model's range (not clipped).

    Raises
    ------
    ValueError
        For bad arguments, or a sampler that does not fit the model's time kind.
    """
    from diffview.runs.generate import generate as run
    from diffview.runs.sampling import SamplingSpec

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, found {n!r}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, found {batch!r}")
    spec = SamplingSpec(sampler=sampler, n_steps=n_steps, eta=eta, spacing=spacing,
                        clip_x0=clip_x0, seed=seed, batch=int(n), classes=classes,
                        guidance=guidance)
    return run(denoiser, spec, chunk=int(batch), progress=progress)
