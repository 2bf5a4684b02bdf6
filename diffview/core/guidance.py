"""Classifier-free guidance as a combinator around any denoise callable.

Ho and Salimans 2022, "Classifier-Free Diffusion Guidance" ([HS]), eq. 6, written with this
project's scale ``w``::

    eps_w(x, t, c) = eps(x, t, null) + w * (eps(x, t, c) - eps(x, t, null))
                   = (1 - w) * eps_u + w * eps_c

The convention for ``w``:

- ``w = 1`` is the plain conditional model, ``w = 0`` the unconditional one, ``w > 1``
  guides (sharpens towards the class) and ``0 < w < 1`` interpolates.
- [HS] write ``eps_c + w' (eps_c - eps_u)``: their ``w'`` is this ``w`` minus 1 (their
  ``w' = 0`` is plain conditional sampling).
- diffusers' ``guidance_scale`` is this ``w`` (``noise_uncond + scale * (noise_text -
  noise_uncond)``).

In score terms (eps = -s(t) grad log p_t) the guided score is
``s_u + w (s_c - s_u) = grad log [p_t(x | c)^w p_t(x)^(1 - w)]`` at every single t, but the
product of diffused densities is not the diffusion of the product ([HS] fig. 2; see
:mod:`diffview.core.guided2d`), so guided samples are not samples of ``p_0(x|c)^w p_0(x)^(1-w)``.

Cost: the conditional and unconditional rows go through the network in one call of 2B rows
(``x`` and ``t`` repeated, the labels then the null labels), which is faster than two calls of
B rows on a CPU (docs/guidance.md: the measured figures). At ``w = 1`` and ``w = 0`` only one
set of rows is evaluated.

numpy only (the core layer).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["class_schedule", "combine", "guided", "hs_to_w", "w_to_hs"]

LabelledEps = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def combine(eps_c: np.ndarray, eps_u: np.ndarray, w: float) -> np.ndarray:
    """The guided epsilon ``(1 - w) eps_u + w eps_c`` ([HS] eq. 6 with ``w`` = theirs + 1).

    Written this way it is exact at the ends: ``eps_c`` at ``w = 1`` and ``eps_u`` at
    ``w = 0`` bit for bit (a term times 0 adds nothing), for any finite inputs.

    Parameters
    ----------
    eps_c, eps_u : ndarray, same shape (B, ...)
        Conditional and unconditional predictions.
    w : float
        Guidance scale (1: conditional).

    Returns
    -------
    ndarray, shape of ``eps_c``, the dtype numpy's promotion gives (float32 stays float32).
    """
    w = float(w)
    dtype = np.result_type(eps_c, eps_u)
    return (eps_u * dtype.type(1.0 - w) + eps_c * dtype.type(w)).astype(dtype, copy=False)


def guided(predict: LabelledEps, labels: np.ndarray, null_class: int, w: float
           ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Wrap ``predict(x, t, labels)`` into a guided ``denoise(x, t)`` for any sampler.

    Parameters
    ----------
    predict : callable ``(x (B, ...), t (B,) or scalar, labels (B,) int64) -> eps (B, ...)``
        A class-conditional denoiser.
    labels : int64 (B,)
        The class of each row (the batch the sampler passes must have B rows).
    null_class : int
        The label of the unconditional model.
    w : float
        Guidance scale, see the module docstring.

    Returns
    -------
    callable ``denoise(x, t) -> eps``: ``predict(x, t, labels)`` at ``w = 1``,
    ``predict(x, t, null)`` at ``w = 0``, otherwise one call on ``2B`` rows (conditional rows
    first) combined by :func:`combine`.
    """
    labels = np.asarray(labels, np.int64).reshape(-1)
    null = np.full_like(labels, int(null_class))
    w = float(w)
    if not np.isfinite(w):
        raise ValueError(f"the guidance scale must be a finite number, found {w}")
    if w == 1.0:
        return lambda x, t: predict(x, t, labels)
    if w == 0.0:
        return lambda x, t: predict(x, t, null)
    both = np.concatenate([labels, null])

    def denoise(x: np.ndarray, t) -> np.ndarray:
        n = x.shape[0]
        if n != labels.size:
            raise ValueError(f"the guided denoiser was built for {labels.size} rows, got {n}")
        t2 = np.asarray(t)
        t2 = np.concatenate([t2, t2]) if t2.ndim else t2
        eps = predict(np.concatenate([x, x]), t2, both)
        return combine(eps[:n], eps[n:], w)

    return denoise


def w_to_hs(w: float) -> float:
    """This project's (and diffusers') scale ``w`` as Ho and Salimans' ``w`` (``w - 1``)."""
    return float(w) - 1.0


def hs_to_w(w_hs: float) -> float:
    """Ho and Salimans' guidance weight as this project's ``w`` (``w_hs + 1``)."""
    return float(w_hs) + 1.0


def class_schedule(text: str, n: int, num_classes: int, seed: int = 0) -> tuple[int, ...]:
    """The class label of each of ``n`` images from a ``--classes`` value.

    - ``"balanced"``: equal counts of every class, in class order (``n`` must be a multiple of
      ``num_classes``): 0, 0, ..., 1, 1, ..., the rows of a class grid.
    - ``"random"``: uniform labels from ``default_rng([seed, 1])`` (a stream of its own, so the
      images' noise is that of the same seed without labels).
    - ``"K"`` or ``"K1,K2,..."``: one class for all, or the listed classes in equal blocks
      (their count must divide ``n``).

    Raises
    ------
    ValueError
        one line naming the problem (an unknown word, a label out of range, counts that do not
        divide ``n``).
    """
    text = str(text).strip().lower()
    if num_classes < 1:
        raise ValueError("--classes needs a class-conditional model; this one is unconditional")
    if text == "balanced":
        if n % num_classes:
            raise ValueError(f"--classes balanced needs a number of images that is a multiple "
                             f"of the {num_classes} classes, found {n}")
        return tuple(int(k) for k in np.repeat(np.arange(num_classes), n // num_classes))
    if text == "random":
        rng = np.random.default_rng([int(seed), 1])
        return tuple(int(k) for k in rng.integers(0, num_classes, n))
    try:
        listed = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--classes must be balanced, random or class numbers K[,K...], "
                         f"found {text!r}") from None
    bad = [k for k in listed if not 0 <= k < num_classes]
    if bad:
        raise ValueError(f"class {bad[0]} is out of range 0..{num_classes - 1}")
    if n % len(listed):
        raise ValueError(f"{len(listed)} classes do not divide {n} images into equal blocks")
    return tuple(int(k) for k in np.repeat(listed, n // len(listed)))
