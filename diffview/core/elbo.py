"""The variational bound of DDPM term by term, in nats and bits per dimension.

Notation (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", [H]; Kingma and Gao 2023,
"Understanding Diffusion Objectives as the ELBO with Simple Data Augmentation", [KG])
----------------------------------------------------------------------------------------------
Paper steps are t = 1..T, arrays use the timestep index ``k = t - 1`` (see
:mod:`diffview.core.schedules`). Images live in [-1, 1] and come from 8-bit data: pixel value
``n`` in 0..255 sits at ``x = 2 n / 255 - 1``. ``D`` is the number of dimensions of one image.

    L      = L_T + sum_{t=2}^T L_{t-1} + L_0                                     [H] eq. 5
    L_T    = KL(q(x_T | x_0) || N(0, I))                                     (the prior term)
    L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)),  t = 2..T
    L_0    = -log p(x_0 | x_1)                                                  (the decoder)
    p(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I)
    mu_theta = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t)   eq. 11
    sigma_t^2 = beta~_t ("small") or beta_t ("large")                          [H] sec. 3.2

As in Ho et al.'s code, the first step (the decoder, t = 1) uses sigma_1^2 = beta~_2 for both
choices, because beta~_1 = 0. The decoder is a Gaussian of that variance discretised to the 256
bins of width 2/255 centred on the pixel values, the outermost bins open to -inf and +inf
([H] eq. 13).

Term index: ``terms[k]`` is L_k, so ``terms[0]`` = L_0 (decoder), ``terms[k]`` for k = 1..T-1 is
the KL of paper step t = k + 1 (network index k) and ``terms[T]`` = L_T (prior).

The link to training ([H] eqs. 8-12): with x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,

    L_{t-1} = w_t ||eps - eps_theta||^2 + C_t,
    w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t)),
    C_t = D/2 (log(sigma_t^2 / beta~_t) + beta~_t / sigma_t^2 - 1)  (0 for "small"),

and L_simple drops w_t. For "small", w_t = (SNR_{t-1} / SNR_t - 1) / 2.

Bits per dimension: nats / (D ln 2). Because the decoder gives probabilities of the 256 bins,
the bound is directly in bits/dim of the 8-bit data (no offset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from diffview.core.forward import _check_index, posterior_mean_variance
from diffview.core.schedules import NoiseSchedule

VARIANCES = ("small", "large")
N_BINS = 256
BIN_HALF_WIDTH = 1.0 / 255.0
_LN2 = math.log(2.0)
_SQRT_HALF = math.sqrt(0.5)
_LOG_PI_HALF = 0.5 * math.log(math.pi)
# erfc underflows near 27; beyond this an asymptotic series is used (error < 1e-11)
_ERFC_SERIES_FROM = 20.0

_erfc = np.frompyfunc(math.erfc, 1, 1)
_erf = np.frompyfunc(math.erf, 1, 1)


# --------------------------------------------------------------------------------------------
# checks


def check_variance(variance: str) -> str:
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {', '.join(VARIANCES)}, got {variance!r}")
    return variance


def _dims(x: np.ndarray) -> int:
    return int(np.prod(x.shape[1:])) if x.ndim > 1 else 1


def _flat_sum(x: np.ndarray) -> np.ndarray:
    """Sum over every axis but the first: (B, ...) -> (B,)."""
    return x.reshape(x.shape[0], -1).sum(axis=1)


def _per_row(values: np.ndarray, t, ndim: int):
    """values[t] as a float (int t) or a (B, 1, ..., 1) float64 array."""
    if isinstance(t, int):
        return float(values[t])
    return values[t].reshape((-1,) + (1,) * (ndim - 1))


def nats_to_bpd(nats, n_dims: int):
    """Convert nats per image to bits per dimension: nats / (D ln 2)."""
    return np.asarray(nats, dtype=np.float64) / (n_dims * _LN2)


# --------------------------------------------------------------------------------------------
# the reverse process p(x_{t-1} | x_t)


def model_log_variance(schedule: NoiseSchedule, variance: str = "small") -> np.ndarray:
    """log sigma_t^2 of p(x_{t-1} | x_t) for every index, shape (T,).

    Index 0 (the decoder) is log beta~_2 for both choices (beta~_1 = 0), as in Ho et al.'s code;
    index k >= 1 is log beta~_{k+1} ("small") or log beta_{k+1} ("large").
    """
    check_variance(variance)
    if schedule.T < 2:
        raise ValueError("the bound needs a schedule with T >= 2")
    if variance == "small":
        return np.array(schedule.posterior_log_variance_clipped)
    return np.log(np.concatenate([schedule.posterior_variance[1:2], schedule.betas[1:]]))


def p_mean_from_eps(x_t: np.ndarray, t_index, eps: np.ndarray,
                    schedule: NoiseSchedule) -> np.ndarray:
    """mu_theta(x_t, t) = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t), [H] eq. 11.

    Parameters
    ----------
    x_t, eps : (B, ...) arrays.
    t_index : int or (B,) integer array in 0..T-1.

    Returns
    -------
    (B, ...) float64.
    """
    x_t = np.asarray(x_t, dtype=np.float64)
    eps = np.asarray(eps, dtype=np.float64)
    if x_t.shape != eps.shape:
        raise ValueError(f"eps must have the shape of x_t {x_t.shape}, got {eps.shape}")
    t = _check_index(t_index, schedule.T)
    coef = _per_row(schedule.betas / schedule.sqrt_one_minus_alpha_bars, t, x_t.ndim)
    inv_sqrt_alpha = _per_row(1.0 / np.sqrt(schedule.alphas), t, x_t.ndim)
    return (x_t - coef * eps) * inv_sqrt_alpha


def gaussian_kl(mean1, log_var1, mean2, log_var2) -> np.ndarray:
    """KL(N(mean1, e^log_var1) || N(mean2, e^log_var2)) summed over all but the first axis.

    Variances broadcast against the means (scalars or (B, 1, ..., 1) arrays); returns (B,).
    """
    mean1 = np.asarray(mean1, dtype=np.float64)
    diff = mean1 - np.asarray(mean2, dtype=np.float64)
    lv1 = np.asarray(log_var1, dtype=np.float64)
    lv2 = np.asarray(log_var2, dtype=np.float64)
    elem = 0.5 * (lv2 - lv1 + np.exp(lv1 - lv2) - 1.0 + diff * diff * np.exp(-lv2))
    return _flat_sum(np.broadcast_to(elem, np.broadcast_shapes(elem.shape, mean1.shape)))


# --------------------------------------------------------------------------------------------
# the terms


def prior_kl(x0: np.ndarray, schedule: NoiseSchedule) -> np.ndarray:
    """L_T = KL(q(x_T | x_0) || N(0, I)) in nats per image, shape (B,).

    = 1/2 sum_i (alpha_bar_T x0_i^2 + (1 - alpha_bar_T) - 1 - log(1 - alpha_bar_T)).
    """
    x0 = np.asarray(x0, dtype=np.float64)
    ab = float(schedule.alpha_bars[-1])
    elem = 0.5 * (ab * x0 * x0 - ab - math.log1p(-ab))
    return _flat_sum(elem)


def kl_term(x0: np.ndarray, x_t: np.ndarray, t_index, eps_pred: np.ndarray,
            schedule: NoiseSchedule, variance: str = "small") -> np.ndarray:
    """L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) in nats per image, shape (B,).

    Parameters
    ----------
    x0, x_t, eps_pred : (B, ...) arrays; ``eps_pred`` is eps_theta(x_t, t).
    t_index : int or (B,) integer array in 1..T-1 (paper step t = index + 1 >= 2).
    variance : "small" (beta~_t) or "large" (beta_t).
    """
    t = _check_index(t_index, schedule.T)
    if np.any(np.asarray(t) < 1):
        raise ValueError("kl_term needs t_index >= 1; index 0 is the decoder (decoder_nll)")
    x0 = np.asarray(x0, dtype=np.float64)
    x_t = np.asarray(x_t, dtype=np.float64)
    mean_q, _, log_var_q = posterior_mean_variance(x0, x_t, schedule, t)
    mean_p = p_mean_from_eps(x_t, t, eps_pred, schedule)
    log_var_p = _per_row(model_log_variance(schedule, variance), t, x_t.ndim)
    return gaussian_kl(mean_q, log_var_q, mean_p, log_var_p)


def decoder_nll(x0: np.ndarray, x_1: np.ndarray, eps_pred: np.ndarray,
                schedule: NoiseSchedule) -> np.ndarray:
    """L_0 = -log p(x_0 | x_1) with the discretised Gaussian decoder ([H] eq. 13), nats (B,).

    The decoder's mean is mu_theta(x_1, 1) and its variance beta~_2 (for both variance choices).

    Parameters
    ----------
    x0 : (B, ...) images on the 8-bit grid in [-1, 1].
    x_1 : (B, ...) the sample at index 0; ``eps_pred`` = eps_theta(x_1, index 0).
    """
    mean = p_mean_from_eps(x_1, 0, eps_pred, schedule)
    log_scale = 0.5 * float(model_log_variance(schedule, "small")[0])
    return -_flat_sum(discretized_gaussian_log_likelihood(x0, mean, log_scale))


def elbo_terms(x0: np.ndarray, x_t: np.ndarray, t_index, eps_pred: np.ndarray,
               schedule: NoiseSchedule, variance: str = "small") -> np.ndarray:
    """L_k for each row at its own index ``k = t_index`` (0: decoder, >= 1: KL), nats (B,)."""
    t = _check_index(t_index, schedule.T)
    x0 = np.asarray(x0, dtype=np.float64)
    if isinstance(t, int):
        if t == 0:
            return decoder_nll(x0, x_t, eps_pred, schedule)
        return kl_term(x0, x_t, t, eps_pred, schedule, variance)
    out = np.empty(x0.shape[0])
    first = t == 0
    if np.any(first):
        out[first] = decoder_nll(x0[first], np.asarray(x_t)[first], np.asarray(eps_pred)[first],
                                 schedule)
    if np.any(~first):
        rest = ~first
        out[rest] = kl_term(x0[rest], np.asarray(x_t)[rest], t[rest],
                            np.asarray(eps_pred)[rest], schedule, variance)
    return out


def eps_weights(schedule: NoiseSchedule, variance: str = "small"):
    """The weights of the identity L_{t-1} = w_t ||eps - eps_theta||^2 + C_t ([H] eq. 12).

    Returns
    -------
    w : (T,) float64, w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t)); index 0 (the
        decoder, not a KL) is NaN.
    c : (T,) float64, C_t per dimension = 1/2 (log(sigma_t^2 / beta~_t) + beta~_t / sigma_t^2 - 1)
        (multiply by D for an image); index 0 is NaN.
    """
    log_var = model_log_variance(schedule, variance)
    var = np.exp(log_var)
    w = schedule.betas ** 2 / (2.0 * var * schedule.alphas * (1.0 - schedule.alpha_bars))
    post = schedule.posterior_variance
    with np.errstate(divide="ignore"):
        c = 0.5 * (log_var - np.log(post) + post / var - 1.0)
    w[0] = np.nan
    c[0] = np.nan
    return w, c


# --------------------------------------------------------------------------------------------
# the discretised Gaussian, in log space


def log_erfc(x) -> np.ndarray:
    """log erfc(x) for any real x without underflow, float64 of x's shape.

    math.erfc (correctly rounded to ~1 ulp) up to x = 20, then the asymptotic series
    erfc(x) = exp(-x^2) / (x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6) + 105/(16x^8)),
    whose first omitted term is below 3e-12 there.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape)
    big = x > _ERFC_SERIES_FROM
    small = ~big
    with np.errstate(divide="ignore"):
        out[small] = np.log(_erfc(x[small]).astype(np.float64))
    xb = x[big]
    if xb.size:
        r = 1.0 / (xb * xb)
        series = 1.0 + r * (-0.5 + r * (0.75 + r * (-1.875 + r * 6.5625)))
        out[big] = -xb * xb - np.log(xb) - _LOG_PI_HALF + np.log(series)
    return out


def log_normal_sf(z) -> np.ndarray:
    """log Q(z) = log P(Z > z) = log(erfc(z / sqrt 2) / 2) for Z ~ N(0, 1); inf maps to -inf."""
    z = np.asarray(z, dtype=np.float64)
    out = np.full(z.shape, -np.inf)
    fin = z < np.inf
    out[fin] = log_erfc(z[fin] * _SQRT_HALF) - _LN2
    out[z == -np.inf] = 0.0
    return out


def _log1mexp(a: np.ndarray) -> np.ndarray:
    """log(1 - exp(a)) for a <= 0 (Maechler's two branches)."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(a > -_LN2, np.log(-np.expm1(a)), np.log1p(-np.exp(a)))


def log_normal_interval(lo, hi) -> np.ndarray:
    """log P(lo < Z < hi) for Z ~ N(0, 1), elementwise, accurate in both tails.

    Both edges above 0: log Q(lo) + log(1 - Q(hi)/Q(lo)); both below: the mirror image; an
    interval around 0: (erf(hi/sqrt 2) - erf(lo/sqrt 2)) / 2, a sum of two positive numbers.
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    lo, hi = np.broadcast_arrays(lo, hi)
    out = np.empty(lo.shape)
    upper = lo >= 0.0
    lower = hi <= 0.0
    mid = ~(upper | lower)
    if np.any(upper):
        a, b = log_normal_sf(lo[upper]), log_normal_sf(hi[upper])
        out[upper] = a + _log1mexp(b - a)
    if np.any(lower):
        a, b = log_normal_sf(-hi[lower]), log_normal_sf(-lo[lower])
        out[lower] = a + _log1mexp(b - a)
    if np.any(mid):
        e_hi = np.where(np.isinf(hi[mid]), 1.0, _erf(hi[mid] * _SQRT_HALF).astype(np.float64))
        e_lo = np.where(np.isinf(lo[mid]), -1.0, _erf(lo[mid] * _SQRT_HALF).astype(np.float64))
        out[mid] = np.log(0.5 * (e_hi - e_lo))
    return out


def discretized_gaussian_log_likelihood(x0: np.ndarray, mean, log_scale) -> np.ndarray:
    """log P(bin of x0) under N(mean, e^{2 log_scale}) discretised to 256 bins, elementwise.

    Bin n covers [x_n - 1/255, x_n + 1/255] around x_n = 2 n / 255 - 1; the lowest bin extends
    to -inf and the highest to +inf ([H] eq. 13).

    Parameters
    ----------
    x0 : (...) values on the 8-bit grid in [-1, 1].
    mean, log_scale : broadcastable to x0.

    Returns
    -------
    float64 array of x0's shape (log probabilities, <= 0).
    """
    x0 = np.asarray(x0, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    inv_scale = np.exp(-np.asarray(log_scale, dtype=np.float64))
    # edges from the pixel value, so that neighbouring bins share bit-identical edges and the
    # probabilities telescope to 1 even for a tiny scale
    n = np.clip(np.rint((x0 + 1.0) * 127.5), 0, N_BINS - 1)
    lo_edge = (2.0 * n - 1.0) / 255.0 - 1.0
    hi_edge = (2.0 * n + 1.0) / 255.0 - 1.0
    lo = np.where(n == 0, -np.inf, (lo_edge - mean) * inv_scale)
    hi = np.where(n == N_BINS - 1, np.inf, (hi_edge - mean) * inv_scale)
    return log_normal_interval(lo, hi)


def bin_log_probs(mean, log_scale) -> np.ndarray:
    """Log probabilities of all 256 bins of the discretised Gaussian, shape (..., 256).

    ``mean`` and ``log_scale`` broadcast; exp of the last axis sums to 1.
    """
    mean = np.asarray(mean, dtype=np.float64)
    log_scale = np.asarray(log_scale, dtype=np.float64)
    mean, log_scale = np.broadcast_arrays(mean, log_scale)
    centres = 2.0 * np.arange(N_BINS) / (N_BINS - 1) - 1.0
    return discretized_gaussian_log_likelihood(centres, mean[..., None], log_scale[..., None])


# --------------------------------------------------------------------------------------------
# strata for the fast estimator


def geometric_strata(T: int, n_strata: int) -> np.ndarray:  # noqa: N803
    """Boundaries of strata over the KL indices 1..T-1, shape (K + 1,), int64.

    Stratum j holds indices ``edges[j] <= k < edges[j + 1]``. The edges are geometric in k
    (rounded, duplicates merged), so the small-t terms, which carry most of the bound and
    change fastest, sit in strata of one index each and are computed exactly, while the flat
    large-t tail is sampled.
    """
    if T < 2:
        raise ValueError("the bound needs T >= 2")
    if isinstance(n_strata, bool) or not isinstance(n_strata, (int, np.integer)) or n_strata < 1:
        raise ValueError(f"n_strata must be a positive int, got {n_strata!r}")
    edges = np.unique(np.round(np.geomspace(1, T, int(n_strata) + 1)).astype(np.int64))
    edges[0], edges[-1] = 1, T
    return np.unique(edges)


def stratified_indices(edges: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform index from each stratum of ``edges`` (:func:`geometric_strata`), (K,)."""
    lo, hi = edges[:-1], edges[1:]
    return lo + np.floor(rng.random(lo.size) * (hi - lo)).astype(np.int64)


# --------------------------------------------------------------------------------------------
# rate and distortion; how other objectives weight the noise levels


@dataclass(frozen=True)
class RateDistortion:
    """Progressive coding ([H] sec. 4.3, fig. 5) from the mean terms of a bound.

    Attributes (all (T,), index k = paper step t = k + 1, i.e. x_t known):
    rate_bpd : bits/dim received once x_t is known, L_T + sum_{s > t} L_{s-1} (terms k >= t).
    remaining_bpd : bits/dim still to send, L_0 + ... + L_{t-1} (terms k < t).
    rmse : root mean squared error of the x_0 predicted from x_t, on the 0..255 scale.
    """

    rate_bpd: np.ndarray
    remaining_bpd: np.ndarray
    rmse: np.ndarray


def rate_distortion(terms_bpd: np.ndarray, x0_mse: np.ndarray) -> RateDistortion:
    """Rate and distortion for each t.

    Parameters
    ----------
    terms_bpd : (T + 1,) mean L_0 .. L_T in bits/dim (``terms_bpd[k]`` = L_k).
    x0_mse : (T,) mean squared error per pixel of x0_pred(x_t) in model units ([-1, 1]) at
        index k; converted to 0..255 by the factor 127.5.
    """
    terms = np.asarray(terms_bpd, dtype=np.float64)
    mse = np.asarray(x0_mse, dtype=np.float64)
    if terms.ndim != 1 or mse.shape != (terms.size - 1,):
        raise ValueError(f"terms_bpd must be (T + 1,) and x0_mse (T,), got {terms.shape} and "
                         f"{mse.shape}")
    # received at step t: terms k = t .. T; reversed cumulative sum, index k -> sum_{j >= k+1}
    tail = np.cumsum(terms[::-1])[::-1]          # tail[k] = sum_{j >= k}
    rate = tail[1:]                              # k = t - 1 -> sum_{j >= t}
    remaining = terms.sum() - rate
    return RateDistortion(rate_bpd=rate, remaining_bpd=remaining,
                          rmse=127.5 * np.sqrt(np.maximum(mse, 0.0)))


OBJECTIVES = ("elbo", "l_simple", "x0", "v", "flow_matching")


@dataclass(frozen=True)
class LossWeights:
    """Weight w(lambda) each objective puts on log-SNR lambda relative to the ELBO ([KG] sec. 4).

    Every objective is written as 1/2 int w(lambda) ||eps - eps_theta||^2 d lambda; the ELBO has
    w = 1.

    Attributes
    ----------
    log_snr : (T,) lambda_t = log SNR_t of the schedule (decreasing in t).
    weights : dict objective -> (T,) raw w(lambda_t) ([KG] table 1 with t ~ U(0, 1)):
        elbo 1; l_simple (eps-prediction MSE, Ho's L_simple) 2 p(lambda); x0 (x_0-prediction
        MSE) 2 p(lambda) e^{-lambda}; v (v-prediction MSE) 2 p(lambda) (1 + e^{-lambda});
        flow_matching (rectified-flow velocity MSE with its own uniform t) e^{-lambda/2}.
        p(lambda) = -dt/d lambda is the density of lambda under the schedule's uniform t.
    normalised : dict objective -> (T,) each w scaled to integrate to 1 over lambda.
    """

    log_snr: np.ndarray
    weights: dict
    normalised: dict


def loss_weights(schedule: NoiseSchedule) -> LossWeights:
    """The loss-weighting explorer's curves for ``schedule`` ([KG] eq. 6, table 1).

    p(lambda_t) is 1 / (T |d lambda / dk|) with the derivative by central differences over the
    index k, so t = (k + 1) / T is uniform on (0, 1].
    """
    lam = np.log(schedule.snr)
    slope = np.abs(np.gradient(lam))
    density = 1.0 / (schedule.T * slope)
    e = np.exp(-lam)
    weights = {
        "elbo": np.ones_like(lam),
        "l_simple": 2.0 * density,
        "x0": 2.0 * density * e,
        "v": 2.0 * density * (1.0 + e),
        "flow_matching": np.exp(-0.5 * lam),
    }
    # trapezoid over lambda (descending in k: integrate in increasing lambda)
    order = np.argsort(lam)
    normalised = {}
    for name, w in weights.items():
        ws, ls = w[order], lam[order]
        area = float(np.sum(0.5 * (ws[1:] + ws[:-1]) * np.diff(ls)))
        normalised[name] = w / area
    return LossWeights(log_snr=lam, weights=weights, normalised=normalised)
