"""How likely a model finds images: the DDPM bound term by term, and the probability-flow ODE.

Two runs over 8-bit images (:mod:`diffview.core.elbo`, :mod:`diffview.core.likelihood`):

- :func:`run_elbo`: Ho et al.'s variational bound in bits/dim with every term L_0 .. L_T. The
  ``full`` estimator computes all T network terms of every image with one x_t draw each (Ho et
  al.'s ``calc_bpd_loop``); ``fast`` draws one index per stratum of :func:`geometric_strata`
  per pass and refines pass after pass until its standard error reaches ``target_stderr``.
- :func:`run_ode_nll`: the exact log-likelihood of the probability-flow ODE of the same model,
  with uniform dequantisation and a finite-difference Hutchinson divergence.

Reproducibility: image ``i`` of a run with seed ``s`` draws every random number (x_t noise,
strata, dequantisation, probes) from ``default_rng(SeedSequence(s, spawn_key=(i,)))``, the
seeding rule of the sampling runs, so a result depends on ``(s, i)`` and the spec, not on the
batch size or the number of images (up to float rounding of batched inference).

Standard errors are those of the mean over images of the per-image estimates, std / sqrt(n):
they include the image-to-image spread and the randomness of the estimator.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from diffview.core import elbo as E
from diffview.core import likelihood as LK
from diffview.core.forward import predict_x0_from_eps, q_sample
from diffview.runs.base import Cancelled, CancelToken, Progress, cancellable, check

__all__ = ["ESTIMATORS", "ElboFrame", "ElboResult", "ElboSpec", "OdeFrame", "OdeResult",
           "OdeSpec", "prepare_images", "rate_distortion_of", "run_elbo", "run_ode_nll"]

ESTIMATORS = ("full", "fast")


def _image_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index),)))


def _positive_int(name: str, value: Any, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _mean_stderr(values: np.ndarray) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan
    mean = float(v.mean())
    return mean, (float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan)


def _nan_list(a) -> list:
    """An array as a JSON-ready list with NaN written as None."""
    return [None if not math.isfinite(float(v)) else float(v) for v in np.ravel(a)]


def prepare_images(images: np.ndarray, info) -> np.ndarray:
    """8-bit images as float64 model input (N, *info.sample_shape) in [-1, 1].

    ``images`` is uint8 ``(N, H, W)`` / ``(N, H, W, C)`` or floats already in the model's shape
    and range on the 8-bit grid; anything else is a ValueError that says what is wrong.
    """
    from diffview.core.data import to_model_range

    if info.kind != "image":
        raise ValueError(f"likelihoods in bits/dim need an image model, this one is {info.kind}")
    if tuple(info.value_range) != (-1.0, 1.0):
        raise ValueError(f"the bound assumes images in [-1, 1], the model's range is "
                         f"{tuple(info.value_range)}")
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        arr = to_model_range(arr)
    x = np.asarray(arr, dtype=np.float64)
    want = tuple(info.sample_shape)
    if x.ndim != len(want) + 1 or x.shape[1:] != want or x.shape[0] < 1:
        raise ValueError(f"images must have shape (N, {', '.join(map(str, want))}) with N >= 1, "
                         f"got {x.shape}")
    levels = (x + 1.0) * 127.5
    if not np.all(np.isfinite(x)) or np.abs(levels - np.rint(levels)).max() > 1e-3 \
            or levels.min() < -1e-3 or levels.max() > 255 + 1e-3:
        raise ValueError("images must be 8-bit data: values 2 n / 255 - 1 for n in 0..255")
    return (np.rint(levels) / 127.5 - 1.0).astype(np.float64)


def _check_model(model) -> None:
    info = model.info
    if getattr(info, "prediction", "eps") != "eps":
        raise ValueError(f"the likelihood needs an epsilon model, this one predicts "
                         f"{info.prediction}")


# ============================================================================ the bound


@dataclass(frozen=True)
class ElboSpec:
    """Everything that defines a bound run.

    Attributes
    ----------
    variance : "small" (sigma_t^2 = beta~_t) or "large" (beta_t).
    estimator : "full" (all T terms, one x_t draw each) or "fast" (stratified t).
    batch : images per network call (the fast estimator sends batch x strata rows per pass).
    seed : the run's seed (image i uses its own generator, see the module notes).
    n_strata : strata of the fast estimator over the KL indices 1..T-1.
    max_passes : the fast estimator's passes over the images, at most.
    target_stderr : the fast estimator stops after the pass that brings the standard error of
        bits/dim to this or below (None: run all ``max_passes``).
    frame_every : the full estimator yields a frame every this many timesteps of a batch.
    """

    variance: str = "small"
    estimator: str = "full"
    batch: int = 64
    seed: int = 0
    n_strata: int = 32
    max_passes: int = 8
    target_stderr: float | None = None
    frame_every: int = 25

    def __post_init__(self) -> None:
        E.check_variance(self.variance)
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, "
                             f"got {self.estimator!r}")
        _positive_int("batch", self.batch)
        _positive_int("seed", self.seed, 0)
        _positive_int("n_strata", self.n_strata)
        _positive_int("max_passes", self.max_passes)
        _positive_int("frame_every", self.frame_every)
        if self.target_stderr is not None and not (math.isfinite(self.target_stderr)
                                                   and self.target_stderr > 0):
            raise ValueError(f"target_stderr must be a positive number, got {self.target_stderr}")


@dataclass(frozen=True, kw_only=True)
class ElboFrame(Progress):
    """The bound so far. ``step``/``total`` count images x network terms.

    Arrays are copies (safe to keep). Index k of a (T + 1,) array is L_k: 0 the decoder,
    1..T-1 the KL of paper step k + 1, T the prior.

    Attributes
    ----------
    term_mean_bpd, term_stderr_bpd : (T + 1,) mean and standard error of each L_k over the
        draws so far, bits/dim; NaN where there is none (stderr: fewer than two).
    term_count : (T + 1,) int, draws of each term so far.
    bits_per_dim, stderr : the mean over the images done so far (NaN before the first).
    image_bpd : (N,) per-image bound so far (NaN: not yet).
    n_done : images with an estimate.
    passes : passes finished (fast) or 1 while the full pass runs.
    eps_mse, x0_mse : (T,) mean squared error per dimension of eps_theta and of the predicted
        x_0 (model units) at each index, NaN where none.
    elapsed_s : seconds since the run started.
    """

    term_mean_bpd: np.ndarray
    term_stderr_bpd: np.ndarray
    term_count: np.ndarray
    bits_per_dim: float
    stderr: float
    image_bpd: np.ndarray
    n_done: int
    passes: int
    eps_mse: np.ndarray
    x0_mse: np.ndarray
    elapsed_s: float


@dataclass(frozen=True)
class ElboResult:
    """The bound of N images.

    Attributes
    ----------
    bits_per_dim, stderr : mean over images of the per-image bound, its standard error.
    n : images estimated (fewer than asked when cancelled).
    variance, estimator : from the spec.
    prior_bpd, decoder_bpd : mean L_T and L_0 in bits/dim.
    terms_bpd, terms_stderr_bpd : (T + 1,) mean L_k (``terms_bpd[0]`` = L_0, ``[T]`` = L_T); for
        the fast estimator each index of a stratum holds its stratum's mean, so the terms still
        sum to ``bits_per_dim``.
    image_bpd : (n,) per-image bound.
    eps_mse, x0_mse : (T,) as in :class:`ElboFrame`.
    passes, network_evals, seconds, cancelled.
    """

    bits_per_dim: float
    stderr: float
    n: int
    variance: str
    estimator: str
    prior_bpd: float
    decoder_bpd: float
    terms_bpd: np.ndarray
    terms_stderr_bpd: np.ndarray
    image_bpd: np.ndarray
    eps_mse: np.ndarray
    x0_mse: np.ndarray
    passes: int
    network_evals: int
    seconds: float
    cancelled: bool = False
    method: str = field(default="elbo")

    def to_json(self) -> dict:
        """A JSON-ready dict (NaN as null); the keys of ``diffview nll --json``."""
        return {
            "method": self.method, "bits_per_dim": self.bits_per_dim, "stderr": self.stderr,
            "n": self.n, "variance": self.variance, "estimator": self.estimator,
            "prior_bpd": self.prior_bpd, "decoder_bpd": self.decoder_bpd,
            "terms_bpd": _nan_list(self.terms_bpd),
            "terms_stderr_bpd": _nan_list(self.terms_stderr_bpd),
            "image_bpd": _nan_list(self.image_bpd), "passes": self.passes,
            "network_evals": self.network_evals, "seconds": self.seconds,
            "cancelled": self.cancelled,
        }


class _Terms:
    """Running sums of each term (bits/dim) and of the per-index errors."""

    def __init__(self, T: int) -> None:  # noqa: N803
        self.s = np.zeros(T + 1)
        self.ss = np.zeros(T + 1)
        self.n = np.zeros(T + 1, dtype=np.int64)
        self.eps_se = np.zeros(T)
        self.x0_se = np.zeros(T)
        self.err_n = np.zeros(T, dtype=np.int64)

    def add(self, k: np.ndarray, bpd: np.ndarray) -> None:
        np.add.at(self.s, k, bpd)
        np.add.at(self.ss, k, bpd * bpd)
        np.add.at(self.n, k, 1)

    def add_errors(self, k: np.ndarray, eps_se: np.ndarray, x0_se: np.ndarray) -> None:
        np.add.at(self.eps_se, k, eps_se)
        np.add.at(self.x0_se, k, x0_se)
        np.add.at(self.err_n, k, 1)

    def stats(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(self.n > 0, self.s / np.maximum(self.n, 1), np.nan)
            var = (self.ss - self.n * mean * mean) / np.maximum(self.n - 1, 1)
            se = np.where(self.n > 1, np.sqrt(np.maximum(var, 0.0) / np.maximum(self.n, 1)),
                          np.nan)
            eps = np.where(self.err_n > 0, self.eps_se / np.maximum(self.err_n, 1), np.nan)
            x0 = np.where(self.err_n > 0, self.x0_se / np.maximum(self.err_n, 1), np.nan)
        return mean, se, eps, x0


def _terms_at(x0, k, rngs, predict, schedule, variance):
    """One x_t draw per row at index k (int or (B,)); returns (L_k nats (B,), eps se, x0 se)."""
    noise = np.stack([g.standard_normal(x0.shape[1:]) for g in rngs])
    x_t = q_sample(x0, schedule, k, noise)
    t_in = np.full(x0.shape[0], k, dtype=np.int64) if isinstance(k, int) else k
    eps_pred = np.asarray(predict(x_t.astype(np.float32), t_in), dtype=np.float64)
    nats = E.elbo_terms(x0, x_t, k, eps_pred, schedule, variance)
    d = x0[0].size
    eps_se = np.sum((noise - eps_pred).reshape(len(x0), -1) ** 2, axis=1) / d
    x0_pred = np.clip(predict_x0_from_eps(x_t, k, eps_pred, schedule), -1.0, 1.0)
    x0_se = np.sum((x0_pred - x0).reshape(len(x0), -1) ** 2, axis=1) / d
    return nats, eps_se, x0_se


def run_elbo(spec: ElboSpec, model, images: np.ndarray, token: CancelToken | None = None):
    """The bound of ``images`` under ``model`` (a run: yields :class:`ElboFrame`).

    Parameters
    ----------
    spec : ElboSpec
    model : a Denoiser of an index-time epsilon image model.
    images : uint8 (N, H, W[, C]) or floats (N, *sample_shape) on the 8-bit grid in [-1, 1].
    token : CancelToken; a cancelled run returns what it has with ``cancelled=True``.

    Returns
    -------
    ElboResult
    """
    _check_model(model)
    info = model.info
    if info.time_kind != "index":
        raise ValueError("the DDPM bound needs a model of timestep indices (a discrete "
                         "schedule); use the ODE likelihood for a continuous-time model")
    x_all = prepare_images(images, info)
    schedule = info.make_schedule()
    predict = cancellable(model.predict_eps, token, chunk=max(spec.batch, 1))
    if spec.estimator == "full":
        gen = _run_full(spec, schedule, predict, x_all, token)
    else:
        gen = _run_fast(spec, schedule, predict, x_all, token)
    return (yield from gen)


def _frame(acc: _Terms, image_bpd, step, total, passes, t0) -> ElboFrame:
    mean, se, eps, x0 = acc.stats()
    bpd, err = _mean_stderr(image_bpd)
    return ElboFrame(step=int(step), total=int(total), term_mean_bpd=mean, term_stderr_bpd=se,
                     term_count=acc.n.copy(), bits_per_dim=bpd, stderr=err,
                     image_bpd=image_bpd.copy(), n_done=int(np.isfinite(image_bpd).sum()),
                     passes=passes, eps_mse=eps, x0_mse=x0, elapsed_s=time.perf_counter() - t0)


def _result(spec, acc: _Terms, image_bpd, terms, terms_se, passes, evals, t0, cancelled):
    done = image_bpd[np.isfinite(image_bpd)]
    bpd, err = _mean_stderr(done)
    _, _, eps, x0 = acc.stats()
    return ElboResult(bits_per_dim=bpd, stderr=err, n=int(done.size), variance=spec.variance,
                      estimator=spec.estimator, prior_bpd=float(terms[-1]),
                      decoder_bpd=float(terms[0]), terms_bpd=terms, terms_stderr_bpd=terms_se,
                      image_bpd=done, eps_mse=eps, x0_mse=x0, passes=passes,
                      network_evals=int(evals), seconds=time.perf_counter() - t0,
                      cancelled=cancelled)


def _run_full(spec, schedule, predict, x_all, token):
    T = schedule.T  # noqa: N806
    n = x_all.shape[0]
    dims = x_all[0].size
    acc = _Terms(T)
    image_bpd = np.full(n, np.nan)
    t0 = time.perf_counter()
    done = 0
    cancelled = False
    try:
        for start in range(0, n, spec.batch):
            x0 = x_all[start:start + spec.batch]
            b = x0.shape[0]
            rows = np.arange(b)
            rngs = [_image_rng(spec.seed, i) for i in range(start, start + b)]
            total_nats = E.prior_kl(x0, schedule)
            acc.add(np.full(b, T), E.nats_to_bpd(total_nats, dims))
            for k in range(T - 1, -1, -1):  # Ho et al.'s calc_bpd_loop order
                check(token)
                nats, eps_se, x0_se = _terms_at(x0, k, rngs, predict, schedule, spec.variance)
                total_nats = total_nats + nats
                acc.add(np.full(b, k), E.nats_to_bpd(nats, dims))
                acc.add_errors(np.full(b, k), eps_se, x0_se)
                done += b
                if k % spec.frame_every == 0 and k:
                    yield _frame(acc, image_bpd, done, n * T, 1, t0)
            image_bpd[start + rows] = E.nats_to_bpd(total_nats, dims)
            yield _frame(acc, image_bpd, done, n * T, 1, t0)
    except Cancelled:
        cancelled = True
    mean, se, _, _ = acc.stats()
    return _result(spec, acc, image_bpd, mean, se, 1, done, t0, cancelled)


def _run_fast(spec, schedule, predict, x_all, token):
    T = schedule.T  # noqa: N806
    n = x_all.shape[0]
    dims = x_all[0].size
    edges = E.geometric_strata(T, spec.n_strata)
    sizes = np.diff(edges).astype(np.float64)
    k_strata = sizes.size
    stratum_of = np.repeat(np.arange(k_strata), np.diff(edges))  # index k - 1 -> stratum
    acc = _Terms(T)
    strat_sum = np.zeros(k_strata)
    strat_n = np.zeros(k_strata, dtype=np.int64)
    sums = np.zeros(n)            # per image: sum over its passes of the pass estimate
    counts = np.zeros(n, dtype=np.int64)
    rngs = [_image_rng(spec.seed, i) for i in range(n)]
    per_pass = k_strata + 1
    total = spec.max_passes * n * per_pass
    t0 = time.perf_counter()
    done = 0
    passes = 0
    cancelled = False
    prior_bpd = E.nats_to_bpd(E.prior_kl(x_all, schedule), dims)

    def image_bpd():
        with np.errstate(invalid="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    try:
        for _ in range(spec.max_passes):
            for start in range(0, n, spec.batch):
                check(token)
                sel = slice(start, min(start + spec.batch, n))
                x0 = x_all[sel]
                b = x0.shape[0]
                g = rngs[sel]
                ks = np.stack([np.concatenate([[0], E.stratified_indices(edges, r)]) for r in g])
                # rows: image-major, (b * per_pass, ...)
                x_rep = np.repeat(x0, per_pass, axis=0)
                k_flat = ks.reshape(-1)
                row_rngs = [r for r in g for _ in range(per_pass)]
                nats, eps_se, x0_se = _terms_at(x_rep, k_flat, row_rngs, predict, schedule,
                                                spec.variance)
                bpd = E.nats_to_bpd(nats, dims).reshape(b, per_pass)
                acc.add(k_flat, bpd.reshape(-1))
                acc.add_errors(k_flat, eps_se, x0_se)
                acc.add(np.full(b, T), prior_bpd[sel])
                strat_sum += bpd[:, 1:].sum(axis=0)
                strat_n += b
                est = prior_bpd[sel] + bpd[:, 0] + bpd[:, 1:] @ sizes
                sums[sel] += est
                counts[sel] += 1
                done += b * per_pass
                yield _frame(acc, image_bpd(), done, total, passes, t0)
            passes += 1
            _, err = _mean_stderr(image_bpd())
            if spec.target_stderr is not None and math.isfinite(err) \
                    and err <= spec.target_stderr:
                break
    except Cancelled:
        cancelled = True
    mean, se, _, _ = acc.stats()
    terms = mean.copy()
    terms_se = se.copy()
    with np.errstate(invalid="ignore"):
        strat_mean = np.where(strat_n > 0, strat_sum / np.maximum(strat_n, 1), np.nan)
    terms[1:T] = strat_mean[stratum_of]
    # within a stratum the draws mix different indices: no per-index standard error
    wide = sizes[stratum_of] > 1
    terms_se[1:T][wide] = np.nan
    return _result(spec, acc, image_bpd(), terms, terms_se, passes, done, t0, cancelled)


def rate_distortion_of(result: ElboResult) -> E.RateDistortion:
    """Rate (bits/dim received at each t) against distortion (RMSE of x0_pred on 0..255)."""
    return E.rate_distortion(result.terms_bpd, result.x0_mse)


# ============================================================================ the ODE


@dataclass(frozen=True)
class OdeSpec:
    """Everything that defines an ODE likelihood run.

    Attributes
    ----------
    n_steps : Heun steps from the data to the prior (merged to the available levels).
    n_probes : Rademacher probes per drift evaluation.
    fd_rel : finite-difference step relative to the noise level s.
    central : central differences (one more network call per probe).
    batch : images per ODE (each evaluation sends (1 + probes) x batch rows).
    seed : the run's seed.
    """

    n_steps: int = 100
    n_probes: int = 1
    fd_rel: float = 0.01
    central: bool = False
    batch: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        _positive_int("n_steps", self.n_steps)
        _positive_int("n_probes", self.n_probes)
        _positive_int("batch", self.batch)
        _positive_int("seed", self.seed, 0)
        if not (math.isfinite(self.fd_rel) and 0 < self.fd_rel <= 1):
            raise ValueError(f"fd_rel must be in (0, 1], got {self.fd_rel}")


@dataclass(frozen=True, kw_only=True)
class OdeFrame(Progress):
    """Progress of the ODE likelihood: ``step`` of ``total`` ODE steps over all batches.

    Attributes
    ----------
    image_bpd : (N,) per-image bits/dim so far (NaN: not yet).
    bits_per_dim, stderr : over the images done.
    n_done : images done.
    level : the level B reached by the current batch.
    elapsed_s : seconds since the start.
    """

    image_bpd: np.ndarray
    bits_per_dim: float
    stderr: float
    n_done: int
    level: float
    elapsed_s: float


@dataclass(frozen=True)
class OdeResult:
    """ODE likelihood of N dequantised images, bits/dim of the 8-bit data.

    Attributes
    ----------
    bits_per_dim, stderr, n, image_bpd : as for :class:`ElboResult`.
    prior_bpd : mean -log p_T(x_T) / (D ln 2) (the prior part, before the offset).
    divergence_bpd : mean -int div f / (D ln 2).
    n_steps : ODE steps actually taken; network_evals : image-evaluations of the network.
    levels : (n_steps + 1,) levels B of the grid.
    """

    bits_per_dim: float
    stderr: float
    n: int
    image_bpd: np.ndarray
    prior_bpd: float
    divergence_bpd: float
    n_steps: int
    network_evals: int
    levels: np.ndarray
    seconds: float
    cancelled: bool = False
    method: str = field(default="ode")

    def to_json(self) -> dict:
        return {"method": self.method, "bits_per_dim": self.bits_per_dim,
                "stderr": self.stderr, "n": self.n, "prior_bpd": self.prior_bpd,
                "divergence_bpd": self.divergence_bpd, "n_steps": self.n_steps,
                "image_bpd": _nan_list(self.image_bpd), "network_evals": self.network_evals,
                "seconds": self.seconds, "cancelled": self.cancelled}


def model_levels(model, n_steps: int):
    """The ODE grid of a model: (levels (N + 1,), network times (N + 1,)).

    An index-time model uses its schedule's levels B_k = -log alpha_bar_k at trained indices k
    (:func:`diffview.core.likelihood.ode_grid`); a continuous VP model uses times uniform in
    sigma^{1/7} between 1e-5 and T of its SDE, with B = int beta.
    """
    info = model.info
    if info.time_kind == "index":
        schedule = info.make_schedule()
        all_levels = LK.schedule_levels(schedule)
        idx = LK.ode_grid(all_levels, n_steps)
        return all_levels[idx], idx.astype(np.int64)
    sde = info.make_sde()
    if getattr(sde, "name", "") != "vp":
        raise ValueError(f"the ODE likelihood supports VP models, this one is {sde.name}")
    times = np.linspace(1e-5, sde.T, 20001)
    lv = np.asarray(sde.integrated_beta(times), dtype=np.float64)
    idx = LK.ode_grid(lv, n_steps)
    return lv[idx], times[idx]


def run_ode_nll(spec: OdeSpec, model, images: np.ndarray, token: CancelToken | None = None):
    """Bits/dim of ``images`` from the probability-flow ODE (a run: yields :class:`OdeFrame`).

    log p(x) = log N(x_T; 0, I) + int div f dB, x = dequantised image (uniform in its bin).

    Returns
    -------
    OdeResult
    """
    _check_model(model)
    x_all = prepare_images(images, model.info)
    levels, labels = model_levels(model, spec.n_steps)
    predict = cancellable(model.predict_eps, token, chunk=spec.batch * (1 + spec.n_probes))
    n = x_all.shape[0]
    dims = x_all[0].size
    n_steps = levels.size - 1
    calls_per_eval = 1 + spec.n_probes * (2 if spec.central else 1)
    image_bpd = np.full(n, np.nan)
    prior_bits = np.full(n, np.nan)
    div_bits = np.full(n, np.nan)
    t0 = time.perf_counter()
    evals = 0
    cancelled = False
    done_steps = 0
    try:
        for start in range(0, n, spec.batch):
            sel = slice(start, min(start + spec.batch, n))
            b = x_all[sel].shape[0]
            rngs = [_image_rng(spec.seed, i) for i in range(start, start + b)]
            x0 = np.stack([LK.dequantise(x, g) for x, g in zip(x_all[sel], rngs, strict=True)])
            probe_rng = _RowRngs(rngs)

            def eps_at(x, j, b=b):
                t = np.full(x.shape[0], labels[j])
                return predict(x.astype(np.float32), t)

            step = None
            for step in LK.probability_flow_iter(x0, eps_at, levels, rng=probe_rng,
                                                 n_probes=spec.n_probes, fd_rel=spec.fd_rel,
                                                 central=spec.central,
                                                 input_dtype=np.float32):
                check(token)
                done_steps += 1
                evals += 2 * b * calls_per_eval  # two drift evaluations per Heun step
                yield OdeFrame(step=done_steps, total=n_steps * -(-n // spec.batch),
                               image_bpd=image_bpd.copy(), bits_per_dim=_mean_stderr(
                                   image_bpd)[0], stderr=_mean_stderr(image_bpd)[1],
                               n_done=int(np.isfinite(image_bpd).sum()), level=step.level,
                               elapsed_s=time.perf_counter() - t0)
            log_prior = LK.standard_normal_logp(step.x)
            log_p = log_prior + step.div_integral
            image_bpd[sel] = LK.dequantised_bpd(log_p, dims)
            prior_bits[sel] = -log_prior / (dims * math.log(2.0))
            div_bits[sel] = -step.div_integral / (dims * math.log(2.0))
            yield OdeFrame(step=done_steps, total=n_steps * -(-n // spec.batch),
                           image_bpd=image_bpd.copy(), bits_per_dim=_mean_stderr(image_bpd)[0],
                           stderr=_mean_stderr(image_bpd)[1],
                           n_done=int(np.isfinite(image_bpd).sum()), level=float(levels[-1]),
                           elapsed_s=time.perf_counter() - t0)
    except Cancelled:
        cancelled = True
    keep = np.isfinite(image_bpd)
    bpd, err = _mean_stderr(image_bpd)
    return OdeResult(bits_per_dim=bpd, stderr=err, n=int(keep.sum()), image_bpd=image_bpd[keep],
                     prior_bpd=float(np.mean(prior_bits[keep])) if keep.any() else math.nan,
                     divergence_bpd=float(np.mean(div_bits[keep])) if keep.any() else math.nan,
                     n_steps=n_steps, network_evals=int(evals), levels=levels,
                     seconds=time.perf_counter() - t0, cancelled=cancelled)


class _RowRngs:
    """An ``rng`` whose ``random(shape)`` draws row i of axis 1 from generator i, so that the
    probes of image i come from image i's generator (shape (P, B, ...))."""

    def __init__(self, generators) -> None:
        self.generators = list(generators)

    def random(self, shape):
        p, b = shape[0], shape[1]
        rows = [g.random((p,) + tuple(shape[2:])) for g in self.generators]
        if len(rows) != b:
            raise ValueError(f"expected {len(rows)} rows, got shape {shape}")
        return np.stack(rows, axis=1)
