"""Forward (noising) process of discrete diffusion, its posterior, cold-diffusion degradations.

Notation (Ho et al. 2020, "Denoising Diffusion Probabilistic Models")
--------------------------------------------------------------------
Paper steps are t = 1..T; arrays use the timestep *index* ``i = t - 1`` (see
:mod:`diffview.core.schedules`).  A *step count* ``step`` in 0..T counts how many noising steps
were applied, so ``step = 0`` is the clean image and ``step = t`` is x_t (index ``t - 1``).

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)                  (eq. 2)
    q(x_t | x_0)     = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)           (eq. 4)
        x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,  eps ~ N(0, I)
    q(x_{t-1} | x_t, x_0) = N(mu~_t(x_t, x_0), beta~_t I)                    (eqs. 6-7)
    x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)               (eq. 4 inverted)

Cold diffusion (Bansal et al. 2022, "Cold Diffusion: Inverting Arbitrary Image Transforms Without
Noise") replaces the Gaussian noise by a deterministic degradation D(x_0, t).  Here each
degradation is parametrised by its ``severity = step / T`` in [0, 1] (0 leaves the image alone):

    blur      Gaussian blur, standard deviation sigma = severity * max_sigma (pixels)
    mask      the first round(severity * H * W) pixels of a fixed random order set to ``fill``
    pixelate  block averages over b x b blocks, b = 1 + round(severity * (min(H, W) - 1))

Dtypes: float32 inputs give float32 outputs (float64 stays float64); coefficients are computed in
float64 and applied as Python floats, which under numpy's promotion rules keeps the array dtype.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence

import numpy as np

from diffview.core.schedules import NoiseSchedule

DEGRADATIONS = ("blur", "mask", "pixelate")

# Sampled Gaussian kernels are cut at this many standard deviations; the lost mass (< 1e-8) is
# restored by normalising the kernel so that a constant image stays exactly constant.
_TRUNCATE = 4.0
# Kernels up to this many taps are applied as shifted sums; wider ones as a dense matrix whose
# cost does not grow with sigma.
_MAX_TAPS = 33


# --------------------------------------------------------------------------------------------
# helpers


def _float_dtype(x: np.ndarray) -> np.dtype:
    """float64 stays float64; everything else computes in float32 (the model's dtype)."""
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


def _as_float(x: np.ndarray | Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr.astype(_float_dtype(arr), copy=False)


def _check_index(t_index: int | np.ndarray, T: int, name: str = "t_index"):  # noqa: N803
    """Validate a timestep index (int in 0..T-1, or a 1-D integer array of such)."""
    arr = np.asarray(t_index)
    if arr.dtype.kind not in "iu" or arr.ndim > 1:
        raise ValueError(f"{name} must be an int or a 1-D integer array in 0..{T - 1}, "
                         f"got {t_index!r}")
    if arr.size and (arr.min() < 0 or arr.max() > T - 1):
        raise ValueError(f"{name} must be in 0..{T - 1}, got {t_index!r}")
    return int(arr) if arr.ndim == 0 else arr.astype(np.int64)


def _coef(values: np.ndarray, t_index, ndim: int, dtype: np.dtype):
    """``values[t_index]`` as a Python float (scalar index) or a (B, 1, ..., 1) array in ``dtype``.

    A Python float keeps a float32 array float32 when multiplied; a float64 numpy scalar would
    promote it, which is why scalars are converted.
    """
    if isinstance(t_index, int):
        return float(values[t_index])
    return values[t_index].astype(dtype).reshape((-1,) + (1,) * (ndim - 1))


def _check_batch(t_index, x: np.ndarray, name: str = "t_index") -> None:
    if not isinstance(t_index, int):
        if x.ndim == 0 or t_index.shape[0] != x.shape[0]:
            raise ValueError(f"{name} of shape {t_index.shape} must have one entry per batch "
                             f"element (x has shape {x.shape})")


def _check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_b} must have the shape of {name_a} {a.shape}, got {b.shape}")


# --------------------------------------------------------------------------------------------
# q(x_t | x_0) and the Markov chain


def q_mean_std(schedule: NoiseSchedule, t_index: int | np.ndarray):
    """Mean coefficient and standard deviation of q(x_t | x_0) (eq. 4).

    Parameters
    ----------
    schedule : the noise schedule.
    t_index : int in 0..T-1, or an integer array of such indices.

    Returns
    -------
    (mean_coef, std) : sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t); floats for an int index,
        float64 arrays of ``t_index``'s shape otherwise.
    """
    t = _check_index(t_index, schedule.T)
    if isinstance(t, int):
        return float(schedule.sqrt_alpha_bars[t]), float(schedule.sqrt_one_minus_alpha_bars[t])
    return schedule.sqrt_alpha_bars[t].copy(), schedule.sqrt_one_minus_alpha_bars[t].copy()


def q_sample(x0: np.ndarray, schedule: NoiseSchedule, t_index: int | np.ndarray,
             noise: np.ndarray) -> np.ndarray:
    """Sample q(x_t | x_0) in closed form: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.

    Parameters
    ----------
    x0 : (B, ...) or any shape, the clean data.
    schedule : the noise schedule.
    t_index : int in 0..T-1 (the same step for every element), or a (B,) integer array with one
        index per batch element (broadcast over the remaining axes).
    noise : eps, the shape of ``x0``.

    Returns
    -------
    x_t : new array, the shape of ``x0``, float32 unless ``x0`` is float64.
    """
    x0 = _as_float(x0, "x0")
    noise = np.asarray(noise)
    _check_same_shape(x0, noise, "x0", "noise")
    t = _check_index(t_index, schedule.T)
    _check_batch(t, x0)
    a = _coef(schedule.sqrt_alpha_bars, t, x0.ndim, x0.dtype)
    s = _coef(schedule.sqrt_one_minus_alpha_bars, t, x0.ndim, x0.dtype)
    out = np.multiply(noise, s, dtype=x0.dtype)
    out += x0 * a
    return out


def q_sample_step(x0: np.ndarray, schedule: NoiseSchedule, step: int, noise: np.ndarray,
                  out: np.ndarray | None = None) -> np.ndarray:
    """x after ``step`` noising steps, ``step`` in 0..T; the forward panel's scrub bar.

    ``step = 0`` returns a copy of ``x0``; ``step = t`` equals ``q_sample(x0, schedule, t - 1,
    noise)``.  Kept cheap because it runs on every slider move: one multiply into ``out``, one
    fused add, no float64 temporaries.

    Parameters
    ----------
    x0 : array of any shape (e.g. (C, H, W) or (B, C, H, W)).
    schedule : the noise schedule.
    step : int in 0..T.
    noise : eps, the shape of ``x0``.
    out : optional preallocated array of ``x0``'s shape and float dtype to write into.

    Returns
    -------
    x_step : the shape of ``x0`` (``out`` when given).
    """
    x0 = _as_float(x0, "x0")
    noise = np.asarray(noise)
    _check_same_shape(x0, noise, "x0", "noise")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) \
            or not 0 <= step <= schedule.T:
        raise ValueError(f"step must be an int in 0..{schedule.T}, got {step!r}")
    if out is not None and (out.shape != x0.shape or out.dtype != x0.dtype):
        raise ValueError(f"out must have shape {x0.shape} and dtype {x0.dtype}, "
                         f"got {out.shape} {out.dtype}")
    if step == 0:
        if out is None:
            return x0.copy()
        np.copyto(out, x0)
        return out
    ab = float(schedule.alpha_bars[step - 1])
    out = np.multiply(noise, math.sqrt(1.0 - ab), out=out, dtype=x0.dtype, casting="same_kind")
    # the second product needs one temporary; an in-place add avoids a third array
    out += x0 * math.sqrt(ab)
    return out


def markov_chain(x0: np.ndarray, schedule: NoiseSchedule, rng: np.random.Generator,
                 n_steps: int | None = None) -> Iterator[np.ndarray]:
    """Run the forward chain one step at a time (eq. 2), yielding x_1, x_2, ..., x_{n_steps}.

    x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z_t with z_t = ``rng.standard_normal(x0.shape,
    dtype)`` drawn once per step in order (``dtype`` is float32 unless ``x0`` is float64), so the
    same noises passed to :func:`chain_to_step` reproduce the chain.

    Parameters
    ----------
    x0 : array of any shape.
    schedule : the noise schedule.
    rng : numpy Generator.
    n_steps : number of steps, 1..T (default T).

    Yields
    ------
    x_t : a new array of ``x0``'s shape for each t = 1..n_steps.
    """
    x = _as_float(x0, "x0")
    n = schedule.T if n_steps is None else n_steps
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= schedule.T:
        raise ValueError(f"n_steps must be an int in 1..{schedule.T}, got {n_steps!r}")
    for i in range(int(n)):
        z = rng.standard_normal(x.shape, dtype=x.dtype)
        x = _chain_step(x, z, float(schedule.betas[i]))
        yield x


def _chain_step(x: np.ndarray, z: np.ndarray, beta: float) -> np.ndarray:
    out = np.multiply(z, math.sqrt(beta), dtype=x.dtype, casting="same_kind")
    out += x * math.sqrt(1.0 - beta)
    return out


def chain_to_step(x0: np.ndarray, schedule: NoiseSchedule, step: int,
                  noises: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Deterministic Markov chain to ``step`` from stored noises z_1..z_step.

    Parameters
    ----------
    x0 : array of any shape.
    schedule : the noise schedule.
    step : int in 0..T; 0 returns a copy of ``x0``.
    noises : (>= step, *x0.shape) array or a sequence of at least ``step`` arrays of x0's shape;
        ``noises[k]`` is the z of paper step k + 1.

    Returns
    -------
    x_step : array of ``x0``'s shape.
    """
    x = _as_float(x0, "x0")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) \
            or not 0 <= step <= schedule.T:
        raise ValueError(f"step must be an int in 0..{schedule.T}, got {step!r}")
    if len(noises) < step:
        raise ValueError(f"noises must hold at least step={step} arrays, got {len(noises)}")
    if step == 0:
        return x.copy()
    for k in range(int(step)):
        z = np.asarray(noises[k])
        _check_same_shape(x, z, "x0", f"noises[{k}]")
        x = _chain_step(x, z, float(schedule.betas[k]))
    return x


# --------------------------------------------------------------------------------------------
# posterior and the eps <-> x0 conversions


def posterior_mean_variance(x0: np.ndarray, x_t: np.ndarray, schedule: NoiseSchedule,
                            t_index: int | np.ndarray):
    """Mean and variance of the posterior q(x_{t-1} | x_t, x_0) (eqs. 6-7 of Ho et al.).

    mu~_t = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0
            + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t,
    beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t.

    Parameters
    ----------
    x0, x_t : arrays of the same shape (B, ...).
    schedule : the noise schedule.
    t_index : int in 0..T-1 or a (B,) integer array.

    Returns
    -------
    mean : array of ``x_t``'s shape.
    variance : beta~_t; a float for an int index, else a float64 (B, 1, ..., 1) array.
    log_variance : log beta~_t, clipped at t_index = 0 (where beta~ = 0) to log beta~ of index 1
        as in Ho et al.'s code; same type as ``variance``.
    """
    x0 = _as_float(x0, "x0")
    x_t = np.asarray(x_t).astype(x0.dtype, copy=False)
    _check_same_shape(x0, x_t, "x0", "x_t")
    t = _check_index(t_index, schedule.T)
    _check_batch(t, x0)
    c0 = _coef(schedule.posterior_mean_coef_x0, t, x0.ndim, x0.dtype)
    ct = _coef(schedule.posterior_mean_coef_xt, t, x0.ndim, x0.dtype)
    mean = x0 * c0
    mean += x_t * ct
    var = _coef(schedule.posterior_variance, t, x0.ndim, np.dtype(np.float64))
    log_var = _coef(schedule.posterior_log_variance_clipped, t, x0.ndim, np.dtype(np.float64))
    return mean, var, log_var


def predict_x0_from_eps(x_t: np.ndarray, t_index: int | np.ndarray, eps: np.ndarray,
                        schedule: NoiseSchedule) -> np.ndarray:
    """x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t); shapes as :func:`q_sample`."""
    x_t = _as_float(x_t, "x_t")
    eps = np.asarray(eps)
    _check_same_shape(x_t, eps, "x_t", "eps")
    t = _check_index(t_index, schedule.T)
    _check_batch(t, x_t)
    s = _coef(schedule.sqrt_one_minus_alpha_bars, t, x_t.ndim, x_t.dtype)
    inv_a = 1.0 / _coef(schedule.sqrt_alpha_bars, t, x_t.ndim, np.dtype(np.float64))
    inv_a = inv_a if isinstance(inv_a, float) else inv_a.astype(x_t.dtype)
    out = np.multiply(eps, -s, dtype=x_t.dtype, casting="same_kind")
    out += x_t
    out *= inv_a
    return out


def predict_eps_from_x0(x_t: np.ndarray, t_index: int | np.ndarray, x0: np.ndarray,
                        schedule: NoiseSchedule) -> np.ndarray:
    """eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t); the inverse of the above."""
    x_t = _as_float(x_t, "x_t")
    x0 = np.asarray(x0)
    _check_same_shape(x_t, x0, "x_t", "x0")
    t = _check_index(t_index, schedule.T)
    _check_batch(t, x_t)
    a = _coef(schedule.sqrt_alpha_bars, t, x_t.ndim, x_t.dtype)
    inv_s = 1.0 / _coef(schedule.sqrt_one_minus_alpha_bars, t, x_t.ndim, np.dtype(np.float64))
    inv_s = inv_s if isinstance(inv_s, float) else inv_s.astype(x_t.dtype)
    out = np.multiply(x0, -a, dtype=x_t.dtype, casting="same_kind")
    out += x_t
    out *= inv_s
    return out


# --------------------------------------------------------------------------------------------
# cold diffusion


def _check_image(x0: np.ndarray) -> np.ndarray:
    x = _as_float(x0, "x0")
    if x.ndim < 2 or x.shape[-1] < 1 or x.shape[-2] < 1:
        raise ValueError(f"x0 must be an image array (..., H, W), got shape {x.shape}")
    return x


def _check_severity(severity: float) -> float:
    s = float(severity)
    if not 0.0 <= s <= 1.0:  # also rejects nan
        raise ValueError(f"severity must be in [0, 1], got {severity!r}")
    return s


def _reflect_index(j: np.ndarray, n: int) -> np.ndarray:
    """Map any integer position onto 0..n-1 by mirror reflection without repeating the edge
    (numpy's ``mode="reflect"``: ... c b | a b c d | c b ...), repeated as often as needed."""
    if n == 1:
        return np.zeros_like(j)
    period = 2 * (n - 1)
    j = np.mod(j, period)
    return np.where(j >= n, period - j, j)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised sampled Gaussian exp(-k^2 / 2 sigma^2), k = -r..r, r = ceil(4 sigma); (2r+1,)."""
    radius = max(1, math.ceil(_TRUNCATE * sigma))
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (k / sigma) ** 2)
    return w / w.sum()


@functools.lru_cache(maxsize=32)
def _blur_matrix(n: int, sigma: float, dtype: str) -> np.ndarray:
    """(n, n) matrix M with (M v)_i = sum_k w_k v[reflect(i + k)]: the reflected convolution."""
    w = gaussian_kernel(sigma)
    radius = (w.size - 1) // 2
    rows = np.repeat(np.arange(n), w.size)
    cols = _reflect_index(np.arange(n)[:, None] + np.arange(-radius, radius + 1)[None, :], n)
    m = np.zeros((n, n), dtype=np.float64)
    np.add.at(m, (rows, cols.ravel()), np.tile(w, n))
    m = m.astype(dtype)
    m.setflags(write=False)
    return m


def _blur_axis(x: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """Blur along ``axis`` (-1 or -2) with reflect padding."""
    n = x.shape[axis]
    w = gaussian_kernel(sigma)
    radius = (w.size - 1) // 2
    if w.size > _MAX_TAPS:
        m = _blur_matrix(n, sigma, x.dtype.str)
        return x @ m.T if axis == -1 else m @ x
    # few taps: a sum of shifted copies of the reflect-padded array
    pad = [(0, 0)] * x.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(x, pad, mode="reflect") if n > 1 else np.pad(x, pad, mode="edge")
    out = np.zeros_like(x)
    for k, wk in enumerate(w):
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(k, k + n)
        out += padded[tuple(sl)] * x.dtype.type(wk)
    return out


def blur_sigma(severity: float, shape: tuple[int, ...], max_sigma: float | None = None) -> float:
    """Blur standard deviation (pixels) at ``severity``: severity * max_sigma.

    The default ``max_sigma`` is min(H, W) / 4, wide enough that a fully blurred image is close to
    a flat field of its mean colour, the cold-diffusion analogue of pure noise.
    """
    s = _check_severity(severity)
    if max_sigma is None:
        max_sigma = min(shape[-2], shape[-1]) / 4.0
    if not (math.isfinite(max_sigma) and max_sigma > 0):
        raise ValueError(f"max_sigma must be a positive finite number, got {max_sigma!r}")
    return s * float(max_sigma)


def blur(x0: np.ndarray, severity: float, max_sigma: float | None = None) -> np.ndarray:
    """Gaussian blur of growing width (separable, reflect padding).

    Parameters
    ----------
    x0 : (..., H, W) float array; leading axes (batch, channels) are blurred independently.
    severity : in [0, 1]; sigma = severity * max_sigma (see :func:`blur_sigma`); 0 returns a copy.
    max_sigma : sigma at severity 1 in pixels (default min(H, W) / 4).

    Returns
    -------
    (..., H, W) array of ``x0``'s float dtype.
    """
    x = _check_image(x0)
    sigma = blur_sigma(severity, x.shape, max_sigma)
    # below ~0.05 px the kernel's side taps are < 1e-80: the image is unchanged anyway
    if sigma < 0.05:
        return x.copy()
    return _blur_axis(_blur_axis(x, sigma, -1), sigma, -2)


def mask_order(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A random order of the H*W pixel positions (a permutation, int64 (H*W,)) for :func:`mask`.

    ``shape`` is an image shape (..., H, W); only the last two axes matter, so every channel and
    batch element shares the mask.
    """
    if len(shape) < 2 or shape[-1] < 1 or shape[-2] < 1:
        raise ValueError(f"shape must be an image shape (..., H, W), got {shape!r}")
    return rng.permutation(int(shape[-2]) * int(shape[-1])).astype(np.int64)


def mask(x0: np.ndarray, severity: float, order: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Random pixel masking: the first round(severity * H * W) pixels of ``order`` set to ``fill``.

    Because the order is fixed, the masked set at a lower severity is a subset of the one at a
    higher severity: the degradation is monotone, as cold diffusion requires.

    Parameters
    ----------
    x0 : (..., H, W) float array.
    severity : in [0, 1].
    order : (H*W,) permutation from :func:`mask_order`.
    fill : value of masked pixels (0 is mid-grey in the model range [-1, 1]).

    Returns
    -------
    (..., H, W) new array.
    """
    x = _check_image(x0)
    s = _check_severity(severity)
    h, w = x.shape[-2:]
    order = np.asarray(order)
    if order.shape != (h * w,) or order.dtype.kind not in "iu":
        raise ValueError(f"order must be an integer permutation of shape ({h * w},), "
                         f"got {order.dtype} {order.shape}")
    n = int(round(s * h * w))
    out = x.copy()
    flat = out.reshape(x.shape[:-2] + (h * w,))  # a view: out is contiguous
    flat[..., order[:n]] = fill
    return out


def pixelate_block(severity: float, shape: tuple[int, ...]) -> int:
    """Block size at ``severity``: 1 + round(severity * (min(H, W) - 1)), so 1 (no change) to
    min(H, W) (one block across the short side)."""
    s = _check_severity(severity)
    return 1 + int(round(s * (min(shape[-2], shape[-1]) - 1)))


def pixelate(x0: np.ndarray, severity: float) -> np.ndarray:
    """Pixelation: each b x b block replaced by its mean; b grows with ``severity``.

    Blocks start at the top-left corner; blocks cut by the right or bottom edge average only the
    pixels they contain.

    Parameters
    ----------
    x0 : (..., H, W) float array.
    severity : in [0, 1]; block size from :func:`pixelate_block`.

    Returns
    -------
    (..., H, W) new array.
    """
    x = _check_image(x0)
    b = pixelate_block(severity, x.shape)
    if b == 1:
        return x.copy()
    h, w = x.shape[-2:]
    starts_h, starts_w = np.arange(0, h, b), np.arange(0, w, b)
    sums = np.add.reduceat(np.add.reduceat(x, starts_w, axis=-1), starts_h, axis=-2)
    counts = np.outer(np.diff(np.append(starts_h, h)), np.diff(np.append(starts_w, w)))
    means = sums / counts.astype(x.dtype)
    return np.repeat(np.repeat(means, b, axis=-2)[..., :h, :], b, axis=-1)[..., :w]


def degrade(kind: str, x0: np.ndarray, step: int, T: int,  # noqa: N803
            order: np.ndarray | None = None) -> np.ndarray:
    """Cold-diffusion degradation ``kind`` after ``step`` of ``T`` steps (severity = step / T).

    Parameters
    ----------
    kind : one of :data:`DEGRADATIONS` ("blur", "mask", "pixelate").
    x0 : (..., H, W) float array.
    step : int in 0..T.
    T : number of steps, >= 1.
    order : pixel order from :func:`mask_order`, required for "mask".
    """
    if kind not in DEGRADATIONS:
        raise ValueError(f"kind must be one of {', '.join(DEGRADATIONS)}, got {kind!r}")
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step <= T:
        raise ValueError(f"step must be an int in 0..{T}, got {step!r}")
    severity = step / T
    if kind == "blur":
        return blur(x0, severity)
    if kind == "pixelate":
        return pixelate(x0, severity)
    if order is None:
        raise ValueError("order is required for kind='mask' (build it with mask_order)")
    return mask(x0, severity, order)
