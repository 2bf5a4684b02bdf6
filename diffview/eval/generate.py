"""Batched, reproducible sampling from a :class:`~diffview.engine.protocol.Denoiser`.

Used by ``diffview sample`` and ``python -m diffview.eval.fid``. No torch: the network runs
through whatever denoiser is passed in (onnxruntime for :class:`~diffview.engine.OnnxDenoiser`).

Reproducibility: sample ``i`` of a run with seed ``s`` draws its starting noise and every
step's noise from its own generator, ``default_rng(SeedSequence(s, spawn_key=(i,)))``. The
result therefore depends on the seed and the sample's index only, not on the batch size nor
on how many samples are drawn in total (up to float rounding of batched inference).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["CONTINUOUS_SAMPLERS", "PerSampleNoise", "generate", "sample_generators"]

CONTINUOUS_SAMPLERS = ("sde", "ode", "pc")
"""Samplers for continuous-time (SDE) models: reverse SDE (Euler-Maruyama), probability-flow
ODE (Heun) and predictor-corrector."""
_CONTINUOUS_DEFAULT_STEPS = {"sde": 500, "ode": 100, "pc": 250}

Progress = Callable[[int, int], None]
"""progress(done_steps, total_steps), called after every network evaluation of a batch."""


def sample_generators(seed: int, start: int, count: int) -> list[np.random.Generator]:
    """Generators of samples ``start .. start + count - 1`` of a run with ``seed``."""
    return [np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))
            for i in range(start, start + count)]


class PerSampleNoise:
    """An ``rng`` for :func:`~diffview.core.samplers.sample_iter` that draws row ``i`` of every
    noise array from generator ``i``.

    Parameters
    ----------
    generators : sequence of numpy Generator
        One per sample of the batch.
    """

    def __init__(self, generators: Sequence[np.random.Generator]) -> None:
        self.generators = list(generators)

    def standard_normal(self, size: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        """Standard normal array of shape ``size`` = ``(len(generators), ...)``."""
        size = tuple(size)
        if not size or size[0] != len(self.generators):
            raise ValueError(f"expected a shape (B, ...) with B = {len(self.generators)}, "
                             f"found {size}")
        return np.stack([g.standard_normal(size[1:], dtype=dtype) for g in self.generators])


def generate(denoiser, n: int, sampler: str = "ddim", n_steps: int | None = None,
             eta: float = 0.0, spacing: str | None = None, batch: int = 64, seed: int = 0,
             progress: Progress | None = None, clip_x0: float | None = None) -> np.ndarray:
    """Draw ``n`` samples with a discrete-time sampler.

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
    clip_x0 : float, optional
        Clip every x0 prediction to ``[-clip_x0, clip_x0]`` (discrete samplers only; None:
        no clipping).

    Returns
    -------
    float32 ndarray, shape (n, *info.sample_shape)
        Final samples in the model's range (not clipped).

    Raises
    ------
    ValueError
        For bad arguments, or a sampler that does not fit the model's time kind.
    """
    from diffview.core.samplers import SAMPLERS, make_sampler, sample_iter
    from diffview.core.schedules import make_schedule

    info = denoiser.info
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, found {n!r}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, found {batch!r}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], found {eta}")
    if info.time_kind == "continuous":
        if clip_x0 is not None:
            raise ValueError("clip_x0 applies to the ddpm/ddim/dpm++2m samplers only")
        if sampler not in CONTINUOUS_SAMPLERS:
            raise ValueError(f"this model takes continuous SDE time: use a sampler of "
                             f"{', '.join(CONTINUOUS_SAMPLERS)}, not {sampler!r}")
        return _generate_continuous(denoiser, n, sampler, n_steps, batch, seed, progress)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)} for a model of "
                         f"timestep indices, found {sampler!r}")
    schedule = make_schedule(info.schedule, T=info.T)
    samp = make_sampler(sampler, schedule, n_steps=n_steps, eta=eta, spacing=spacing,
                        clip_x0=clip_x0)
    n_batches = -(-n // batch)
    total = n_batches * len(samp.timesteps)
    out = np.empty((n, *info.sample_shape), np.float32)
    done = 0
    for b in range(n_batches):
        start = b * batch
        count = min(batch, n - start)
        noise = PerSampleNoise(sample_generators(seed, start, count))
        x = noise.standard_normal((count, *info.sample_shape), dtype=np.float32)
        for frame in sample_iter(samp, denoiser.predict_eps, x, noise):
            x = frame.x
            done += 1
            if progress is not None:
                progress(done, total)
        out[start:start + count] = x
    return out


def _generate_continuous(denoiser, n: int, sampler: str, n_steps: int | None, batch: int,
                         seed: int, progress: Progress | None) -> np.ndarray:
    """Reverse SDE, probability-flow ODE or predictor-corrector for a continuous-time model.

    The corrector's step size of ``pc`` uses norms averaged over the batch, so only ``sde`` and
    ``ode`` results are independent of the batch size.
    """
    from diffview.core.sde import (
        make_sde,
        pc_sampler_iter,
        probability_flow_iter,
        reverse_sde_iter,
        score_from_eps,
    )

    info = denoiser.info
    params = dict(info.sde or {"name": "vp"})
    sde = make_sde(params.pop("name"), **params)
    steps = _CONTINUOUS_DEFAULT_STEPS[sampler] if n_steps is None else int(n_steps)
    if steps < 1:
        raise ValueError(f"n_steps must be at least 1, found {steps}")

    def eps(x: np.ndarray, time: np.ndarray) -> np.ndarray:
        return denoiser.predict_eps(x.astype(np.float32), np.asarray(time, np.float32))

    score = score_from_eps(eps, sde, sde)
    n_batches = -(-n // batch)
    total, done = n_batches * steps, 0
    out = np.empty((n, *info.sample_shape), np.float32)
    for b in range(n_batches):
        start = b * batch
        count = min(batch, n - start)
        noise = PerSampleNoise(sample_generators(seed, start, count))
        x = sde.prior_std() * noise.standard_normal((count, *info.sample_shape))
        if sampler == "sde":
            frames = reverse_sde_iter(sde, score, x, steps, noise)
        elif sampler == "ode":
            frames = probability_flow_iter(sde, score, x, steps)
        else:
            frames = pc_sampler_iter(sde, score, x, steps, noise)
        for _, frame_x in frames:
            x = frame_x
            done += 1
            if progress is not None:
                progress(done, total)
        out[start:start + count] = x
    return out
