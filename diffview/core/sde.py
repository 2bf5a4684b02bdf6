"""Linear stochastic differential equations on point clouds, forward and reverse in time.

Notation (Song et al. 2021, "Score-Based Generative Modeling through Stochastic Differential
Equations", referred to as [S]; Anderson 1982, "Reverse-time diffusion equation models", [A])
---------------------------------------------------------------------------------------------
Points are rows of an ``(N, d)`` array; continuous time ``time`` runs over ``[0, T]``.

    forward SDE          dx = f(x, t) dt + g(t) dW                                   [S] eq. 5
    linear drift         f(x, t) = a(t) x                 (every SDE here is of this form)
    marginal kernel      x_t | x_0 ~ N(m(t) x_0, s(t)^2 I),  x_t = m(t) x_0 + s(t) eps
                         m(t) = exp(int_0^t a),  s(t)^2 = m(t)^2 int_0^t g(u)^2 / m(u)^2 du
    reverse-time SDE     dx = [f(x, t) - g(t)^2 grad log p_t(x)] dt + g(t) dW_bar
                                                               ([A] eq. 3.4, [S] eq. 6)
    probability flow     dx = [f(x, t) - g(t)^2 / 2 grad log p_t(x)] dt        ([S] eq. 13)
    Langevin corrector   x <- x + e grad log p_t(x) + sqrt(2 e) z,
                         e = 2 alpha (snr ||z|| / ||grad log p_t(x)||)^2               [S] Alg. 4/5

The four SDEs ([S] eqs. 9, 11 and appendix B; the Ornstein-Uhlenbeck process of physics):

    Brownian   dx = sigma dW                      m = 1,            s^2 = sigma^2 t
    VP         dx = -beta(t)/2 x dt + sqrt(beta(t)) dW,
               beta(t) = beta_min + t (beta_max - beta_min),
               B(t) = int_0^t beta = beta_min t + (beta_max - beta_min) t^2 / 2,
                                                  m = exp(-B(t)/2), s^2 = 1 - m^2
    VE         dx = sqrt(d sigma(t)^2 / dt) dW,   sigma(t) = sigma_min (sigma_max / sigma_min)^t
                                                  g = sigma(t) sqrt(2 ln(sigma_max / sigma_min)),
                                                  m = 1,  s^2 = sigma(t)^2 - sigma_min^2
    OU         dx = -gamma x dt + sigma dW        m = exp(-gamma t),
                                                  s^2 = sigma^2 / (2 gamma) (1 - exp(-2 gamma t))

Because every kernel is ``N(m x0, s^2 I)``, the marginal p_t depends on time only through the
noise-to-signal ratio ``r = s / m`` and the overall scale ``m``; :func:`score_from_eps` uses this
to let one network trained on the VP SDE serve all four.

Priors: ``prior_sample`` draws from ``N(0, s(T)^2 I)``, the exact marginal at ``T`` of a point
``x0 = 0``. For data of covariance ``C`` the true marginal is ``N(m(T) mu, m(T)^2 C + s(T)^2 I)``;
the prior is close to it when ``m(T)^2 ||C|| << s(T)^2`` (VP, VE, OU at their defaults; the
Brownian default ``T = 10`` leaves a variance ratio 1 + 1/10 for unit-variance data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

SDES = ("brownian", "vp", "ve", "ou")

ScoreFn = Callable[[np.ndarray, float], np.ndarray]
"""``score(x (N, d), time) -> (N, d)``, an estimate of grad_x log p_time(x)."""

EpsFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``eps(x (N, d), time (N,) float64) -> (N, d)``, a noise prediction at continuous time."""

_LOG_2PI = math.log(2.0 * math.pi)


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


class LinearSDE:
    """Base class of SDEs with affine drift ``f(x, t) = a(t) x`` and scalar diffusion ``g(t)``.

    Subclasses define :meth:`drift_coef`, :meth:`diffusion`, :meth:`mean_coef` and
    :meth:`marginal_std`; every time argument may be a float or an array (broadcast).
    """

    name: str = "linear"
    T: float = 1.0

    # -- coefficients -------------------------------------------------------------------------
    def drift_coef(self, time):
        """a(t) in f(x, t) = a(t) x."""
        raise NotImplementedError

    def diffusion(self, time):
        """g(t), the diffusion coefficient (float or array like ``time``)."""
        raise NotImplementedError

    def mean_coef(self, time):
        """m(t): the marginal mean is m(t) x0."""
        raise NotImplementedError

    def marginal_std(self, time):
        """s(t): the marginal standard deviation around m(t) x0."""
        raise NotImplementedError

    def drift(self, x: np.ndarray, time: float) -> np.ndarray:
        """f(x, t) = a(t) x for points ``x`` of shape (N, d)."""
        return self.drift_coef(time) * np.asarray(x, dtype=np.float64)

    def noise_to_signal(self, time):
        """r(t) = s(t) / m(t); the marginal's shape depends on time only through r."""
        return self.marginal_std(time) / self.mean_coef(time)

    def time_for_ratio(self, ratio, t_min: float = 0.0):
        """The time t in [t_min, T] with r(t) = ``ratio`` (vectorised bisection).

        r(t) increases strictly for all four SDEs; ratios outside [r(t_min), r(T)] map to the
        nearest end.  Subclasses with a closed-form inverse override this.
        """
        ratio = np.asarray(ratio, dtype=np.float64)
        lo = np.full(ratio.shape, float(t_min))
        hi = np.full(ratio.shape, float(self.T))
        # 60 halvings take any interval below 1e-18 of T: float64 resolution.
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = self.noise_to_signal(mid) < ratio
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        out = 0.5 * (lo + hi)
        return float(out) if out.ndim == 0 else out

    # -- the marginal at T --------------------------------------------------------------------
    def prior_std(self) -> float:
        """Standard deviation of the prior N(0, s(T)^2 I)."""
        return float(self.marginal_std(self.T))

    def prior_sample(self, shape, rng: np.random.Generator) -> np.ndarray:
        """Draw x_T ~ N(0, s(T)^2 I) with the given shape, e.g. (N, d)."""
        return self.prior_std() * rng.standard_normal(shape)

    def prior_logp(self, x: np.ndarray) -> np.ndarray:
        """log N(x; 0, s(T)^2 I) of points ``x`` (N, d) -> (N,)."""
        x = np.asarray(x, dtype=np.float64)
        var = self.prior_std() ** 2
        d = x.shape[-1]
        return -0.5 * np.sum(x * x, axis=-1) / var - 0.5 * d * (_LOG_2PI + math.log(var))

    def sample_marginal(self, x0: np.ndarray, time: float, noise: np.ndarray) -> np.ndarray:
        """Jump straight to time ``time``: x_t = m(t) x0 + s(t) noise (shapes of x0)."""
        x0 = np.asarray(x0, dtype=np.float64)
        return self.mean_coef(time) * x0 + self.marginal_std(time) * np.asarray(noise)

    def time_grid(self, n_steps: int, t_end: float = 0.0) -> np.ndarray:
        """Ascending times t_end = t_0 < ... < t_n = T used by the integrators (n_steps + 1,).

        Uniform in t by default; the reverse-time integrators walk it backwards.
        """
        return np.linspace(t_end, self.T, n_steps + 1)

    def to_dict(self) -> dict:
        """Parameters that rebuild this SDE with :func:`make_sde`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "name")
        return f"{type(self).__name__}({args})"


class BrownianSDE(LinearSDE):
    """Pure noise, dx = sigma dW: every point performs a Brownian motion (seed 003's SDE).

    The default ``T = 10`` gives s(T) = sqrt(10) ~ 3.2 sigma, three times the unit-ish spread of
    the toy data sets, so a cloud visibly melts into one wide Gaussian.  The time grid is uniform
    in s(t) = sigma sqrt(t), not in t: near t = 0 the marginal sharpens like sqrt(t), and uniform
    steps in t would be far too coarse there.
    """

    name = "brownian"

    def __init__(self, sigma: float = 1.0, T: float = 10.0) -> None:  # noqa: N803
        self.sigma = _positive("sigma", sigma)
        self.T = _positive("T", T)

    def drift_coef(self, time):
        return np.zeros_like(np.asarray(time, dtype=np.float64))[()]

    def diffusion(self, time):
        return np.full_like(np.asarray(time, dtype=np.float64), self.sigma)[()]

    def mean_coef(self, time):
        return np.ones_like(np.asarray(time, dtype=np.float64))[()]

    def marginal_std(self, time):
        return self.sigma * np.sqrt(np.asarray(time, dtype=np.float64))[()]

    def time_for_ratio(self, ratio, t_min: float = 0.0):
        t = (np.asarray(ratio, dtype=np.float64) / self.sigma) ** 2
        return np.clip(t, t_min, self.T)[()]

    def time_grid(self, n_steps: int, t_end: float = 0.0) -> np.ndarray:
        return np.linspace(math.sqrt(t_end), math.sqrt(self.T), n_steps + 1) ** 2

    def to_dict(self) -> dict:
        return {"name": self.name, "sigma": self.sigma, "T": self.T}


class VPSDE(LinearSDE):
    """Variance preserving SDE ([S] eq. 11), the continuous limit of DDPM.

    beta(t) = beta_min + t (beta_max - beta_min) keeps growing past t = 1 if ``T > 1``.
    """

    name = "vp"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0) -> None:  # noqa: N803
        self.beta_min = _positive("beta_min", beta_min)
        self.beta_max = _positive("beta_max", beta_max)
        if self.beta_max < self.beta_min:
            raise ValueError(f"beta_max must be >= beta_min={beta_min}, got {beta_max}")
        self.T = _positive("T", T)

    def beta(self, time):
        """beta(t) = beta_min + t (beta_max - beta_min)."""
        return self.beta_min + np.asarray(time, dtype=np.float64) * (self.beta_max - self.beta_min)

    def integrated_beta(self, time):
        """B(t) = int_0^t beta = beta_min t + (beta_max - beta_min) t^2 / 2."""
        t = np.asarray(time, dtype=np.float64)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def drift_coef(self, time):
        return (-0.5 * self.beta(time))[()]

    def diffusion(self, time):
        return np.sqrt(self.beta(time))[()]

    def mean_coef(self, time):
        return np.exp(-0.5 * self.integrated_beta(time))[()]

    def marginal_std(self, time):
        # 1 - m^2 = -expm1(-B): accurate for small t where m^2 is within rounding of 1.
        return np.sqrt(-np.expm1(-self.integrated_beta(time)))[()]

    def noise_to_signal(self, time):
        # r^2 = (1 - m^2) / m^2 = e^B - 1
        return np.sqrt(np.expm1(self.integrated_beta(time)))[()]

    def time_for_ratio(self, ratio, t_min: float = 0.0):
        # Invert e^{B(t)} - 1 = r^2: B = log1p(r^2), then the positive root of the quadratic
        # (db/2) t^2 + beta_min t - B = 0 written as 2B / (beta_min + sqrt(...)), which stays
        # accurate when beta_max = beta_min (db = 0) and for tiny B.
        big_b = np.log1p(np.asarray(ratio, dtype=np.float64) ** 2)
        db = self.beta_max - self.beta_min
        t = 2.0 * big_b / (self.beta_min + np.sqrt(self.beta_min**2 + 2.0 * db * big_b))
        return np.clip(t, t_min, self.T)[()]

    def to_dict(self) -> dict:
        return {"name": self.name, "beta_min": self.beta_min, "beta_max": self.beta_max,
                "T": self.T}


class VESDE(LinearSDE):
    """Variance exploding SDE ([S] eq. 9 and appendix C), the continuous limit of SMLD/NCSN.

    We use the kernel s(t)^2 = sigma(t)^2 - sigma_min^2, exact for the SDE started at t = 0, so
    that s(0) = 0 as for the other SDEs (Song et al.'s code approximates it by sigma(t)).
    """

    name = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0, T: float = 1.0) -> None:  # noqa: N803
        self.sigma_min = _positive("sigma_min", sigma_min)
        self.sigma_max = _positive("sigma_max", sigma_max)
        if self.sigma_max <= self.sigma_min:
            raise ValueError(f"sigma_max must be > sigma_min={sigma_min}, got {sigma_max}")
        self.T = _positive("T", T)
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def sigma(self, time):
        """sigma(t) = sigma_min (sigma_max / sigma_min)^t."""
        return self.sigma_min * np.exp(np.asarray(time, dtype=np.float64) * self._log_ratio)

    def drift_coef(self, time):
        return np.zeros_like(np.asarray(time, dtype=np.float64))[()]

    def diffusion(self, time):
        return (self.sigma(time) * math.sqrt(2.0 * self._log_ratio))[()]

    def mean_coef(self, time):
        return np.ones_like(np.asarray(time, dtype=np.float64))[()]

    def marginal_std(self, time):
        # sigma_min^2 (e^{2 t L} - 1), with expm1 for small t
        t = np.asarray(time, dtype=np.float64)
        return (self.sigma_min * np.sqrt(np.expm1(2.0 * t * self._log_ratio)))[()]

    def time_for_ratio(self, ratio, t_min: float = 0.0):
        r = np.asarray(ratio, dtype=np.float64)
        t = np.log1p((r / self.sigma_min) ** 2) / (2.0 * self._log_ratio)
        return np.clip(t, t_min, self.T)[()]

    def to_dict(self) -> dict:
        return {"name": self.name, "sigma_min": self.sigma_min, "sigma_max": self.sigma_max,
                "T": self.T}


class OUSDE(LinearSDE):
    """Ornstein-Uhlenbeck process dx = -gamma x dt + sigma dW (seed 001's Fokker-Planck example).

    Its stationary law is N(0, sigma^2 / (2 gamma)); the defaults give N(0, 1) and ``T = 5``
    leaves m(T) = e^{-5} ~ 0.007 of the data.  Near t = 0 it behaves like Brownian motion
    (s^2 ~ sigma^2 t), so its time grid is uniform in sqrt(t) like :class:`BrownianSDE`'s.
    """

    name = "ou"

    def __init__(self, gamma: float = 1.0, sigma: float = math.sqrt(2.0), T: float = 5.0) -> None:  # noqa: N803
        self.gamma = _positive("gamma", gamma)
        self.sigma = _positive("sigma", sigma)
        self.T = _positive("T", T)

    def stationary_std(self) -> float:
        """sigma / sqrt(2 gamma)."""
        return self.sigma / math.sqrt(2.0 * self.gamma)

    def drift_coef(self, time):
        return np.full_like(np.asarray(time, dtype=np.float64), -self.gamma)[()]

    def diffusion(self, time):
        return np.full_like(np.asarray(time, dtype=np.float64), self.sigma)[()]

    def mean_coef(self, time):
        return np.exp(-self.gamma * np.asarray(time, dtype=np.float64))[()]

    def marginal_std(self, time):
        t = np.asarray(time, dtype=np.float64)
        return (self.stationary_std() * np.sqrt(-np.expm1(-2.0 * self.gamma * t)))[()]

    def noise_to_signal(self, time):
        # r^2 = sigma^2/(2 gamma) (e^{2 gamma t} - 1)
        t = np.asarray(time, dtype=np.float64)
        return (self.stationary_std() * np.sqrt(np.expm1(2.0 * self.gamma * t)))[()]

    def time_for_ratio(self, ratio, t_min: float = 0.0):
        r = np.asarray(ratio, dtype=np.float64)
        t = np.log1p((r / self.stationary_std()) ** 2) / (2.0 * self.gamma)
        return np.clip(t, t_min, self.T)[()]

    def time_grid(self, n_steps: int, t_end: float = 0.0) -> np.ndarray:
        # Uniform in sqrt(t), as for Brownian motion: near t = 0 the OU process is one.
        return np.linspace(math.sqrt(t_end), math.sqrt(self.T), n_steps + 1) ** 2

    def to_dict(self) -> dict:
        return {"name": self.name, "gamma": self.gamma, "sigma": self.sigma, "T": self.T}


_CLASSES = {"brownian": BrownianSDE, "vp": VPSDE, "ve": VESDE, "ou": OUSDE}


def make_sde(name: str, **kw) -> LinearSDE:
    """Build an SDE by name (one of :data:`SDES`) with keyword parameters."""
    try:
        cls = _CLASSES[name]
    except KeyError:
        raise ValueError(f"name must be one of {SDES}, got {name!r}") from None
    return cls(**kw)


# ---------------------------------------------------------------------------------------------
# integrators
# ---------------------------------------------------------------------------------------------

def _check_steps(n_steps: int) -> int:
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps}")
    return int(n_steps)


def _check_t_end(sde: LinearSDE, t_end: float) -> float:
    t_end = float(t_end)
    if not 0.0 <= t_end < sde.T:
        raise ValueError(f"t_end must be in [0, T={sde.T}), got {t_end}")
    return t_end


def _noise_source(shape, n_steps: int, rng, noise, per_step: int = 1):
    """Yield standard normal arrays of ``shape``: from ``noise`` if given, else from ``rng``.

    ``noise`` must have shape (n_steps * per_step, *shape).
    """
    if noise is not None:
        noise = np.asarray(noise, dtype=np.float64)
        want = (n_steps * per_step, *shape)
        if noise.shape != want:
            raise ValueError(f"noise must have shape {want}, got {noise.shape}")
        yield from noise
        return
    if rng is None:
        raise ValueError("rng must be a numpy Generator when noise is not given")
    for _ in range(n_steps * per_step):
        yield rng.standard_normal(shape)


def euler_maruyama_iter(sde: LinearSDE, x0: np.ndarray, n_steps: int,
                        rng: np.random.Generator | None = None, *,
                        noise: np.ndarray | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Integrate the forward SDE from 0 to T by Euler-Maruyama.

    x_{k+1} = x_k + f(x_k, t_k) dt_k + g(t_k) sqrt(dt_k) z_k on ``sde.time_grid(n_steps)``.

    Parameters
    ----------
    x0 : (N, d) starting points.
    n_steps : number of steps.
    rng : source of z_k when ``noise`` is None.
    noise : optional (n_steps, N, d) standard normal draws, for reproducible runs.

    Yields
    ------
    (time, x) after every step; ``x`` is a new (N, d) array each time.
    """
    n_steps = _check_steps(n_steps)
    x = np.array(x0, dtype=np.float64)
    times = sde.time_grid(n_steps, 0.0)
    zs = _noise_source(x.shape, n_steps, rng, noise)
    for k in range(n_steps):
        t, dt = times[k], times[k + 1] - times[k]
        x = x + sde.drift(x, t) * dt + sde.diffusion(t) * math.sqrt(dt) * next(zs)
        yield float(times[k + 1]), x


def reverse_sde_iter(sde: LinearSDE, score: ScoreFn, x_T: np.ndarray, n_steps: int,  # noqa: N803
                     rng: np.random.Generator | None = None, t_end: float = 1e-3, *,
                     noise: np.ndarray | None = None,
                     denoise_last: bool = True) -> Iterator[tuple[float, np.ndarray]]:
    """Integrate Anderson's reverse-time SDE from T down to ``t_end`` (Euler-Maruyama).

    With dt = t_k - t_{k-1} > 0 (the "reverse diffusion" predictor of [S], Alg. 2 with Euler steps):

        x <- x - [f(x, t_k) - g(t_k)^2 score(x, t_k)] dt + g(t_k) sqrt(dt) z

    Parameters
    ----------
    score : ScoreFn, e.g. the exact mixture score or :func:`score_from_eps`.
    x_T : (N, d) starting points, usually ``sde.prior_sample``.
    n_steps : number of steps on ``sde.time_grid(n_steps, t_end)``.
    rng, noise : the z's, as in :func:`euler_maruyama_iter` (noise shape (n_steps, N, d)).
    denoise_last : drop the noise of the last step (as Song et al.'s samplers return the mean):
        the noise would otherwise leave the cloud blurred by g^2 dt at the end.

    Yields
    ------
    (time, x) after every step, time decreasing to ``t_end``.
    """
    n_steps = _check_steps(n_steps)
    t_end = _check_t_end(sde, t_end)
    x = np.array(x_T, dtype=np.float64)
    times = sde.time_grid(n_steps, t_end)[::-1]
    zs = _noise_source(x.shape, n_steps, rng, noise)
    for k in range(n_steps):
        t, dt = times[k], times[k] - times[k + 1]
        g = sde.diffusion(t)
        x = x - (sde.drift(x, t) - g * g * score(x, float(t))) * dt
        z = next(zs)
        if not (denoise_last and k == n_steps - 1):
            x = x + g * math.sqrt(dt) * z
        yield float(times[k + 1]), x


def probability_flow_iter(sde: LinearSDE, score: ScoreFn, x_T: np.ndarray, n_steps: int,  # noqa: N803
                          t_end: float = 1e-3, *,
                          method: str = "heun") -> Iterator[tuple[float, np.ndarray]]:
    """Integrate the probability-flow ODE dx = [f - g^2/2 score] dt from T down to ``t_end``.

    ``method="heun"`` (default, second order: an Euler predictor, then the trapezoidal average
    of the slopes at both ends, two score calls a step) or ``"euler"`` (one call a step).
    Deterministic: the same ``x_T`` always gives the same path.

    Yields
    ------
    (time, x) after every step, ``x`` of shape (N, d).
    """
    if method not in ("heun", "euler"):
        raise ValueError(f"method must be 'heun' or 'euler', got {method!r}")
    n_steps = _check_steps(n_steps)
    t_end = _check_t_end(sde, t_end)
    x = np.array(x_T, dtype=np.float64)
    times = sde.time_grid(n_steps, t_end)[::-1]

    def velocity(y, t):
        g = sde.diffusion(t)
        return sde.drift(y, t) - 0.5 * g * g * score(y, float(t))

    for k in range(n_steps):
        t, t_next = times[k], times[k + 1]
        h = t_next - t  # negative
        v = velocity(x, t)
        x_euler = x + h * v
        x = x_euler if method == "euler" else x + 0.5 * h * (v + velocity(x_euler, t_next))
        yield float(t_next), x


def pc_sampler_iter(sde: LinearSDE, score: ScoreFn, x_T: np.ndarray, n_steps: int,  # noqa: N803
                    rng: np.random.Generator | None = None, snr: float = 0.16,
                    n_corrector: int = 1, t_end: float = 1e-3, *,
                    noise: np.ndarray | None = None,
                    denoise_last: bool = True) -> Iterator[tuple[float, np.ndarray]]:
    """Predictor-corrector sampling ([S] Alg. 4/5): Langevin corrector, reverse-diffusion predictor.

    At each grid time t_k (from T down), as in Song et al.'s code: ``n_corrector`` Langevin steps
    at t_k with step e = 2 alpha (snr ||z|| / ||score||)^2, then one reverse-SDE step to t_{k+1}.
    ``alpha = (m(t_{k+1}) / m(t_k))^2`` generalises their alpha_i = 1 - beta_i (VP) and 1 (VE).
    The norms are per-point Euclidean norms averaged over the cloud, so e is one number per
    step (per-point norms of 2-vectors are too noisy).

    Parameters
    ----------
    snr : signal-to-noise ratio r of [S] (0.16 for their CIFAR-10 VE runs), > 0.
    n_corrector : Langevin steps per time step, >= 0 (0 gives the plain reverse SDE).
    noise : optional (n_steps * (n_corrector + 1), N, d) standard normal draws, consumed per
        step as the corrector's draws first, then the predictor's.

    Yields
    ------
    (time, x) after every predictor step.
    """
    n_steps = _check_steps(n_steps)
    t_end = _check_t_end(sde, t_end)
    snr = _positive("snr", snr)
    if int(n_corrector) != n_corrector or n_corrector < 0:
        raise ValueError(f"n_corrector must be an integer >= 0, got {n_corrector}")
    n_corrector = int(n_corrector)
    x = np.array(x_T, dtype=np.float64)
    times = sde.time_grid(n_steps, t_end)[::-1]
    zs = _noise_source(x.shape, n_steps, rng, noise, per_step=n_corrector + 1)
    for k in range(n_steps):
        t, t_next = float(times[k]), float(times[k + 1])
        alpha = float(sde.mean_coef(t_next) / sde.mean_coef(t)) ** 2
        for _ in range(n_corrector):
            grad = score(x, t)
            z = next(zs)
            grad_norm = np.mean(np.linalg.norm(grad, axis=-1))
            z_norm = np.mean(np.linalg.norm(z, axis=-1))
            step = 2.0 * alpha * (snr * z_norm / max(grad_norm, 1e-12)) ** 2
            x = x + step * grad + math.sqrt(2.0 * step) * z
        dt = t - t_next
        g = sde.diffusion(t)
        x = x - (sde.drift(x, t) - g * g * score(x, t)) * dt
        z = next(zs)
        if not (denoise_last and k == n_steps - 1):
            x = x + g * math.sqrt(dt) * z
        yield t_next, x


REVERSE_METHODS = ("sde", "ode", "pc")
"""The reverse samplers of :func:`reverse_iter`: reverse SDE, probability-flow ODE,
predictor-corrector."""


def reverse_iter(sde: LinearSDE, score: ScoreFn, x_T: np.ndarray, n_steps: int,  # noqa: N803
                 rng: np.random.Generator | None = None, method: str = "sde",
                 **kw) -> Iterator[tuple[float, np.ndarray]]:
    """The one dispatch over the reverse samplers: yields (time, x) after every step.

    ``method``: ``"sde"`` (:func:`reverse_sde_iter`), ``"ode"`` (:func:`probability_flow_iter`,
    which takes no ``rng``) or ``"pc"`` (:func:`pc_sampler_iter`); ``kw`` go to that function.
    """
    if method == "sde":
        return reverse_sde_iter(sde, score, x_T, n_steps, rng, **kw)
    if method == "ode":
        return probability_flow_iter(sde, score, x_T, n_steps, **kw)
    if method == "pc":
        return pc_sampler_iter(sde, score, x_T, n_steps, rng, **kw)
    raise ValueError(f"method must be one of {', '.join(REVERSE_METHODS)}, got {method!r}")


def sample_reverse(sde: LinearSDE, score: ScoreFn, x_T: np.ndarray, n_steps: int,  # noqa: N803
                   rng: np.random.Generator | None = None, method: str = "sde",
                   **kw) -> np.ndarray:
    """Run :func:`reverse_iter` to the end and return the final (N, d) points."""
    it = reverse_iter(sde, score, x_T, n_steps, rng, method, **kw)
    x = np.array(x_T, dtype=np.float64)
    for _, x_new in it:
        x = x_new
    return x


def score_from_eps(eps_fn: EpsFn, trained_sde: LinearSDE, target_sde: LinearSDE,
                   t_min: float = 1e-5) -> ScoreFn:
    """Turn an epsilon network trained on ``trained_sde`` into a score for ``target_sde``.

    Under the target, x = m x0 + s eps.  Pick the trained time t' with the same noise-to-signal
    ratio, s'/m' = s/m; then y = x m'/m = m' x0 + s' eps is distributed as the trained marginal at
    t', so p_target(x) = (m'/m)^d p_trained(x m'/m) and

        score_target(x, t) = (m'/m) * (-eps(x m'/m, t') / s').

    Parameters
    ----------
    eps_fn : ``eps(x (N, d), time (N,) float64) -> (N, d)``, trained on ``trained_sde``.
    trained_sde, target_sde : any two linear SDEs of this module (usually VP and another).
    t_min : the smallest trained time used; ratios below r(t_min) are clipped to it (the network
        never saw smaller times, and s' = 0 would divide by zero).

    Returns
    -------
    ScoreFn ``score(x (N, d), time float) -> (N, d)``.
    """
    t_min = _positive("t_min", t_min)
    if t_min >= trained_sde.T:
        raise ValueError(f"t_min must be < trained_sde.T={trained_sde.T}, got {t_min}")

    def score(x: np.ndarray, time: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        m, s = float(target_sde.mean_coef(time)), float(target_sde.marginal_std(time))
        t_prime = float(trained_sde.time_for_ratio(s / m, t_min=t_min))
        m_p = float(trained_sde.mean_coef(t_prime))
        s_p = float(trained_sde.marginal_std(t_prime))
        scale = m_p / m
        t_vec = np.full(x.shape[0], t_prime)
        return scale * (-np.asarray(eps_fn(x * scale, t_vec), dtype=np.float64) / s_p)

    return score
