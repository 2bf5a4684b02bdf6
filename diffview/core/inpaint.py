"""Inpainting with any discrete-time sampler: the replacement method and RePaint resampling.

Given a clean image x_0, a mask m (1 where x_0 is known) and a sampler whose step maps x at
timestep t to x at the next table entry s (or to the clean image after the last entry):

- **Replacement** (Song et al. 2021, app. I.2; the "replacement" baseline of Lugmayr et al.
  2022): after every reverse step the known region is overwritten with a fresh sample of the
  forward marginal q(x_s | x_0) = N(sqrt(ab_s) x_0, (1 - ab_s) I) (Ho et al. 2020, eq. 4):
  ``x_s = m * (sqrt(ab_s) x_0 + sqrt(1 - ab_s) z) + (1 - m) * step(x_t)``.
- **RePaint** (Lugmayr et al. 2022, Alg. 1, jump length 1): each step is taken U times; between
  takes the combined x_s is diffused back to t by the forward transition
  q(x_t | x_s) = N(sqrt(ab_t / ab_s) x_s, (1 - ab_t / ab_s) I), so the unknown region is
  resampled in harmony with the known one.

Either way the known pixels of every yielded x follow q(x_s | x_0) exactly; the last step
returns x_0 itself there. RePaint re-runs a step, so it needs a sampler without memory between
steps (DDPM, DDIM); replacement works with every sampler of :mod:`diffview.core.samplers`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from diffview.core.samplers import Frame

__all__ = ["INPAINT_METHODS", "inpaint_iter"]

INPAINT_METHODS = ("replace", "repaint")


def _alpha_bar(sampler, i: int) -> tuple[float, float]:
    """alpha_bar at the step's start t = timesteps[i] and at its target (1 after the last)."""
    ab = sampler.schedule.alpha_bars
    ts = sampler.timesteps
    a_t = float(ab[int(ts[i])])
    a_s = float(ab[int(ts[i + 1])]) if i + 1 < ts.size else 1.0
    return a_t, a_s


def inpaint_iter(sampler, denoise, x_T: np.ndarray, rng, x0_known: np.ndarray,  # noqa: N803
                 mask: np.ndarray, method: str = "replace", resample: int = 1
                 ) -> Iterator[Frame]:
    """Run ``sampler`` from ``x_T`` keeping the region ``mask`` of ``x0_known``.

    Parameters
    ----------
    sampler : a sampler of :mod:`diffview.core.samplers`.
    denoise : callable (x (B, ...) float32, t (B,) int64) -> eps (B, ...).
    x_T : ndarray, (B, ...) starting noise (its known region is replaced before the first step).
    rng : numpy Generator or :class:`~diffview.runs.seeding.PerSampleNoise`; per step it draws,
        in order, the sampler's noise (when it needs one) and the known region's noise, and for
        RePaint also the jump-back noise before every further take.
    x0_known : ndarray, (B, ...) or (...), the image whose known region is kept.
    mask : ndarray broadcastable to x, 1 (or True) where x0 is known, 0 where it is generated.
    method : "replace" or "repaint".
    resample : int >= 1, U: takes of each step (RePaint; replacement uses 1).

    Yields
    ------
    Frame after every step (``x`` after the last take, ``x0_pred`` of the last take).
    """
    if method not in INPAINT_METHODS:
        raise ValueError(f"method must be one of {', '.join(INPAINT_METHODS)}, found {method!r}")
    if isinstance(resample, bool) or not isinstance(resample, (int, np.integer)) or resample < 1:
        raise ValueError(f"resample must be an integer >= 1, found {resample!r}")
    if method == "repaint" and getattr(sampler, "name", "") not in ("ddpm", "ddim"):
        raise ValueError("RePaint resampling re-takes steps: use the ddpm or ddim sampler, "
                         f"not {getattr(sampler, 'name', sampler)!r}")
    x = np.array(x_T, dtype=np.float32)
    x0 = np.broadcast_to(np.asarray(x0_known, np.float32), x.shape)
    m = np.broadcast_to(np.asarray(mask, np.float32), x.shape)
    if not np.all((m == 0) | (m == 1)):
        raise ValueError("mask must hold only 0 and 1 (or False and True)")
    takes = int(resample) if method == "repaint" else 1
    ts = sampler.timesteps
    batch = x.shape[0]
    sampler.reset()
    a_T, _ = _alpha_bar(sampler, 0)  # noqa: N806
    z = rng.standard_normal(x.shape, dtype=np.float32)
    x = m * (np.sqrt(a_T) * x0 + np.sqrt(1.0 - a_T) * z) + (1.0 - m) * x
    for i in range(ts.size):
        t = int(ts[i])
        a_t, a_s = _alpha_bar(sampler, i)
        for u in range(takes):
            if u > 0:  # jump back s -> t with the forward transition q(x_t | x_s)
                z = rng.standard_normal(x.shape, dtype=np.float32)
                ratio = a_t / a_s
                x = (np.sqrt(ratio) * x + np.sqrt(1.0 - ratio) * z).astype(np.float32)
            eps = np.asarray(denoise(x, np.full(batch, t, dtype=np.int64)))
            noise = rng.standard_normal(x.shape, dtype=np.float32) \
                if sampler.needs_noise(i) else None
            out = sampler.step(x, i, eps, noise)
            if a_s < 1.0:
                z = rng.standard_normal(x.shape, dtype=np.float32)
                known = np.sqrt(a_s) * x0 + np.sqrt(1.0 - a_s) * z
            else:
                known = x0
            x = (m * known + (1.0 - m) * out.prev).astype(np.float32)
        yield Frame(index=i, n_total=int(ts.size), t_index=t, x=x, x0_pred=out.x0_pred)
