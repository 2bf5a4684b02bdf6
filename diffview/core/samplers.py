"""Reverse-process samplers of discrete diffusion: DDPM, DDIM and DPM-Solver++(2M).

Notation
--------
Timesteps are indices i in 0..T-1 (paper step t = i + 1, see :mod:`diffview.core.schedules`).
A sampler walks a descending table ``timesteps = [t_0 > t_1 > ... > t_{n-1}]``; step ``k`` goes
from t_k to t_{k+1}, and the last step goes from t_{n-1} to the clean image, where
alpha_bar = 1 ("alpha_bar_prev" of the last step is 1).  With ab = alpha_bar:

    x0_pred = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)                                  (Ho eq. 4)

DDPM, Ho et al. 2020, Algorithm 2 (all T steps):
    x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - ab_t) eps) + sigma_t z             (eq. 11)
    sigma_t^2 = beta_t ("beta")  or  beta~_t = (1 - ab_{t-1}) / (1 - ab_t) beta_t ("posterior");
    no noise on the last step.  With x_0 clipping the mean is the posterior mean mu~_t(x_t, x0_pred)
    (eq. 7), which equals eq. 11 when nothing is clipped.

DDIM, Song et al. 2021, eq. 12 (s = the next timestep, ab_s = 1 after the last one):
    x_s = sqrt(ab_s) x0_pred + sqrt(1 - ab_s - sigma^2) eps + sigma z,
    sigma(eta) = eta sqrt((1 - ab_s) / (1 - ab_t)) sqrt(1 - ab_t / ab_s)                 (eq. 16)
    With clipping, eps is recomputed from the clipped x0_pred so that the two stay consistent.

DPM-Solver++(2M), Lu et al. 2022, Algorithm 2 (data prediction, multistep):
    alpha_t = sqrt(ab_t), sigma_t = sqrt(1 - ab_t), lambda_t = log(alpha_t / sigma_t),
    h_k = lambda_{t_{k+1}} - lambda_{t_k},
    first order:  x_{k+1} = (sigma_{k+1}/sigma_k) x_k - alpha_{k+1} (e^{-h_k} - 1) x0_k
    second order: D_k = (1 + 1/(2 r_k)) x0_k - 1/(2 r_k) x0_{k-1},  r_k = h_{k-1} / h_k,
                  x_{k+1} = (sigma_{k+1}/sigma_k) x_k - alpha_{k+1} (e^{-h_k} - 1) D_k.
    The first step is first order (no history).  The last step goes to sigma = 0 where lambda is
    infinite: the first-order update is then exactly x0_k, so the final sample is the last x0
    prediction (as diffusers' ``lower_order_final``).  A second-order final step is undefined
    (r = 0).

Coefficients are computed once, in float64, and applied as Python floats so that a float32
sample stays float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from diffview.core.schedules import NoiseSchedule

Denoise = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""denoise(x (B, ...) float32, t (B,) int64) -> eps of x's shape."""

SAMPLERS = ("ddpm", "ddim", "dpm++2m")
SPACINGS = ("leading", "trailing", "linspace")
SAMPLER_LABELS = {"ddpm": "DDPM", "ddim": "DDIM", "dpm++2m": "DPM-Solver++ (2M)"}

CLIP_X0_DEFAULT = True
"""Whether image sampling clips x0_pred to the data range unless told otherwise: yes, in the app,
``diffview sample`` and ``diffview.eval.fid`` alike, as Ho et al.'s sampler does: it keeps an
under-trained model's samples in range. Its effect on FID depends on the model (docs/sampling.md
gives the figures). Point models are never clipped by default (their data has no fixed range)."""


# --------------------------------------------------------------------------------------------
# timesteps


def make_timesteps(T: int, n_steps: int, spacing: str = "leading") -> np.ndarray:  # noqa: N803
    """A descending table of ``n_steps`` timestep indices out of 0..T-1 (diffusers' spacings).

    - ``leading``:  arange(n) * (T // n), reversed          (T=1000, n=10: 900, 800, ..., 0)
    - ``trailing``: round(arange(T, 0, -T / n)) - 1        (T=1000, n=10: 999, 899, ..., 99)
    - ``linspace``: round(linspace(0, T - 1, n)), reversed  (T=1000, n=10: 999, 888, ..., 0)

    Duplicates (impossible for 1 <= n <= T with these rules, but cheap to guarantee) are removed.

    Returns
    -------
    int64 array, strictly descending, length <= n_steps.
    """
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) \
            or not 1 <= n_steps <= T:
        raise ValueError(f"n_steps must be an int in 1..{T}, got {n_steps!r}")
    T, n = int(T), int(n_steps)
    if spacing == "leading":
        ts = np.arange(n, dtype=np.int64) * (T // n)
    elif spacing == "trailing":
        # diffusers' round(arange(T, 0, -T/n)) - 1, but a float arange's length is
        # ceil(n * (1 +- rounding)): it can grow a spurious (n+1)-th value near 0 (which would
        # become index -1), so only the first n values are kept.
        ts = np.round(np.arange(T, 0, -T / n)[:n]).astype(np.int64) - 1
    elif spacing == "linspace":
        ts = np.round(np.linspace(0, T - 1, n)).astype(np.int64)
    else:
        raise ValueError(f"spacing must be one of {', '.join(SPACINGS)}, got {spacing!r}")
    return np.unique(ts)[::-1].copy()


# --------------------------------------------------------------------------------------------
# samplers


@dataclass(frozen=True)
class StepOutput:
    """Result of one reverse step: the new sample and the x_0 prediction made on the way."""

    prev: np.ndarray
    x0_pred: np.ndarray


def _clip_bound(clip_x0) -> float | None:
    """None/False: no clipping; True: [-1, 1]; a positive number c: [-c, c]."""
    if clip_x0 is None or clip_x0 is False:
        return None
    if clip_x0 is True:
        return 1.0
    c = float(clip_x0)
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"clip_x0 must be None, a bool or a positive number, got {clip_x0!r}")
    return c


class _Sampler:
    """Shared bookkeeping: the timestep table and per-position alpha_bar values.

    Class attributes declare each sampler's defaults once, for every face of the app:
    ``default_steps`` (None: all T steps), ``default_spacing`` and ``uses_eta`` (whether the
    DDIM noise scale eta means anything to it).
    """

    name = ""
    default_steps: int | None = None
    default_spacing = "leading"
    uses_eta = False

    def __init__(self, schedule: NoiseSchedule, timesteps: np.ndarray, clip_x0) -> None:
        if not isinstance(schedule, NoiseSchedule):
            raise ValueError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
        self.schedule = schedule
        self.timesteps = np.asarray(timesteps, dtype=np.int64)
        self.timesteps.setflags(write=False)
        self.clip_x0 = _clip_bound(clip_x0)
        ab = schedule.alpha_bars[self.timesteps]
        # alpha_bar of the step's target: the next table entry, or 1 (the clean image)
        self._ab = ab
        self._ab_prev = np.append(ab[1:], 1.0)

    @property
    def nfe(self) -> int:
        """Network evaluations per sample (one per step for every sampler here)."""
        return int(self.timesteps.size)

    def __len__(self) -> int:
        return int(self.timesteps.size)

    def reset(self) -> None:
        """Forget any state kept between steps (only multistep solvers keep some)."""

    def needs_noise(self, i: int) -> bool:
        """Whether step ``i`` consumes a noise array."""
        return False

    def _check_step(self, x: np.ndarray, i: int, eps: np.ndarray, noise) -> tuple:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) \
                or not 0 <= i < self.timesteps.size:
            raise ValueError(f"i must be a position in 0..{self.timesteps.size - 1}, got {i!r}")
        x = np.asarray(x)
        if x.dtype.kind != "f":
            raise ValueError(f"x must be a float array, got dtype {x.dtype}")
        eps = np.asarray(eps)
        if eps.shape != x.shape:
            raise ValueError(f"eps must have the shape of x {x.shape}, got {eps.shape}")
        if self.needs_noise(int(i)):
            if noise is None:
                raise ValueError(f"noise is required for step i={i} of {self.name}")
            noise = np.asarray(noise)
            if noise.shape != x.shape:
                raise ValueError(f"noise must have the shape of x {x.shape}, got {noise.shape}")
        return x, int(i), eps.astype(x.dtype, copy=False), noise

    def _x0(self, x: np.ndarray, eps: np.ndarray, ab: float) -> np.ndarray:
        """x0_pred = (x - sqrt(1 - ab) eps) / sqrt(ab), clipped when asked."""
        x0 = (x - math.sqrt(1.0 - ab) * eps) * (1.0 / math.sqrt(ab))
        if self.clip_x0 is not None:
            np.clip(x0, -self.clip_x0, self.clip_x0, out=x0)
        return x0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, steps={self.timesteps.size})"


class DDPMSampler(_Sampler):
    """Ancestral sampling of Ho et al. (Algorithm 2).

    Parameters
    ----------
    schedule : the schedule the model was trained with.
    variance : "beta" (sigma_t^2 = beta_t) or "posterior" (sigma_t^2 = beta~_t).
    clip_x0 : None (no clipping), True ([-1, 1]) or a bound c ([-c, c]) for x0_pred.
    n_steps, spacing : optional sub-sequence of timesteps (Nichol and Dhariwal's respacing): the
        betas of the shortened chain are 1 - ab_t / ab_s between consecutive table entries.
        Default: all T steps, the paper's sampler.
    """

    name = "ddpm"
    default_steps = None  # all T: the paper's sampler

    def __init__(self, schedule: NoiseSchedule, variance: str = "beta", clip_x0=None,
                 n_steps: int | None = None, spacing: str = "leading") -> None:
        if variance not in ("beta", "posterior"):
            raise ValueError(f"variance must be 'beta' or 'posterior', got {variance!r}")
        if not isinstance(schedule, NoiseSchedule):
            raise ValueError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
        full = n_steps is None or (not isinstance(n_steps, bool) and n_steps == schedule.T)
        if full:
            ts = np.arange(schedule.T, dtype=np.int64)[::-1]
        else:
            ts = make_timesteps(schedule.T, n_steps, spacing)
        super().__init__(schedule, ts, clip_x0)
        self.variance = variance
        if full:
            # the schedule's own values, so the full sampler is eq. 11 to the last bit
            beta = schedule.betas[ts]
        else:
            beta = 1.0 - self._ab / self._ab_prev
        alpha = 1.0 - beta
        self._beta, self._alpha = beta, alpha
        self._post_var = beta * (1.0 - self._ab_prev) / (1.0 - self._ab)
        self._coef_x0 = np.sqrt(self._ab_prev) * beta / (1.0 - self._ab)
        self._coef_xt = np.sqrt(alpha) * (1.0 - self._ab_prev) / (1.0 - self._ab)

    def needs_noise(self, i: int) -> bool:
        return i < self.timesteps.size - 1

    def step(self, x: np.ndarray, i: int, eps: np.ndarray,
             noise: np.ndarray | None = None) -> StepOutput:
        """One ancestral step from ``timesteps[i]``; ``noise`` z (x's shape) unless ``i`` is last.

        Parameters
        ----------
        x : (B, ...) current sample x_t.
        i : position in :attr:`timesteps`.
        eps : (B, ...) the network's noise prediction at (x, timesteps[i]).
        noise : (B, ...) standard normal z, required except on the last step (ignored there).
        """
        x, i, eps, noise = self._check_step(x, i, eps, noise)
        ab = float(self._ab[i])
        x0 = self._x0(x, eps, ab)
        if self.clip_x0 is None:
            beta, alpha = float(self._beta[i]), float(self._alpha[i])
            mean = (x - (beta / math.sqrt(1.0 - ab)) * eps) * (1.0 / math.sqrt(alpha))
        else:
            mean = x0 * float(self._coef_x0[i])
            mean += x * float(self._coef_xt[i])
        if self.needs_noise(i):
            var = float(self._beta[i] if self.variance == "beta" else self._post_var[i])
            mean += math.sqrt(var) * noise.astype(x.dtype, copy=False)
        return StepOutput(prev=mean, x0_pred=x0)


class DDIMSampler(_Sampler):
    """DDIM (Song et al. 2021, eq. 12); eta = 0 is deterministic, eta = 1 is DDPM-like.

    Parameters
    ----------
    schedule : the training schedule.
    n_steps : number of steps, 1..T.
    eta : in [0, 1], the noise scale of eq. 16.
    spacing : timestep spacing (see :func:`make_timesteps`).
    clip_x0 : None, True or a positive bound for x0_pred.
    """

    name = "ddim"
    default_steps = 50
    uses_eta = True

    def __init__(self, schedule: NoiseSchedule, n_steps: int, eta: float = 0.0,
                 spacing: str = "leading", clip_x0=None) -> None:
        eta = float(eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta!r}")
        if not isinstance(schedule, NoiseSchedule):
            raise ValueError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
        super().__init__(schedule, make_timesteps(schedule.T, n_steps, spacing), clip_x0)
        self.eta = eta
        self.spacing = spacing
        ab, ab_prev = self._ab, self._ab_prev
        self._sigma = eta * np.sqrt((1.0 - ab_prev) / (1.0 - ab)) * np.sqrt(1.0 - ab / ab_prev)
        # max(0, .) only guards rounding: 1 - ab_s - sigma^2 >= 0 holds exactly for eta <= 1
        self._dir = np.sqrt(np.maximum(1.0 - ab_prev - self._sigma ** 2, 0.0))

    def needs_noise(self, i: int) -> bool:
        return bool(self._sigma[i] > 0.0)

    def step(self, x: np.ndarray, i: int, eps: np.ndarray,
             noise: np.ndarray | None = None) -> StepOutput:
        """One DDIM step from ``timesteps[i]`` to the next table entry (or to the clean image).

        Parameters
        ----------
        x, eps : (B, ...) the sample and the predicted noise at ``timesteps[i]``.
        i : position in :attr:`timesteps`.
        noise : (B, ...) standard normal, required when eta > 0 (not on the last step).
        """
        x, i, eps, noise = self._check_step(x, i, eps, noise)
        ab = float(self._ab[i])
        x0 = self._x0(x, eps, ab)
        if self.clip_x0 is not None:
            # the direction term must point at the clipped x0, not the network's raw one
            eps = (x - math.sqrt(ab) * x0) * (1.0 / math.sqrt(1.0 - ab))
        prev = x0 * math.sqrt(float(self._ab_prev[i]))
        prev += float(self._dir[i]) * eps
        if self.needs_noise(i):
            prev += float(self._sigma[i]) * noise.astype(x.dtype, copy=False)
        return StepOutput(prev=prev, x0_pred=x0)


class DPMSolverPP2MSampler(_Sampler):
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2): second-order multistep, deterministic.

    Keeps the previous x0 prediction between steps: call :meth:`reset` before a new run
    (:func:`sample_iter` does).  A step whose position does not directly follow the previous
    one falls back to first order, so starting mid-table ("denoise from here") is safe.

    Parameters
    ----------
    schedule : the training schedule.
    n_steps : number of steps, 1..T.
    spacing : timestep spacing; "trailing" (default) starts at the noisiest timestep T-1.
    clip_x0 : None, True or a positive bound for x0_pred.
    """

    name = "dpm++2m"
    default_steps = 20
    default_spacing = "trailing"

    def __init__(self, schedule: NoiseSchedule, n_steps: int, spacing: str = "trailing",
                 clip_x0=None) -> None:
        if not isinstance(schedule, NoiseSchedule):
            raise ValueError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
        super().__init__(schedule, make_timesteps(schedule.T, n_steps, spacing), clip_x0)
        self.spacing = spacing
        self._alpha = np.sqrt(self._ab)
        self._sigma = np.sqrt(1.0 - self._ab)
        self._lambda = np.log(self._alpha) - np.log(self._sigma)
        self._prev: tuple[int, np.ndarray] | None = None

    def reset(self) -> None:
        self._prev = None

    def step(self, x: np.ndarray, i: int, eps: np.ndarray,
             noise: np.ndarray | None = None) -> StepOutput:
        """One solver step from ``timesteps[i]``; ``noise`` is ignored (the solver is an ODE one).

        Parameters
        ----------
        x, eps : (B, ...) the sample and the predicted noise at ``timesteps[i]``.
        i : position in :attr:`timesteps`.
        """
        x, i, eps, _ = self._check_step(x, i, eps, None)
        x0 = self._x0(x, eps, float(self._ab[i]))
        last = i == self.timesteps.size - 1
        if last:
            # sigma_next = 0, lambda_next = inf: the first-order update collapses to x0
            prev = x0.copy()
        else:
            a_next = math.sqrt(float(self._ab_prev[i]))
            s_next = math.sqrt(1.0 - float(self._ab_prev[i]))
            lam, lam_next = float(self._lambda[i]), math.log(a_next) - math.log(s_next)
            h = lam_next - lam
            d = x0
            if self._prev is not None and self._prev[0] == i - 1:
                h_prev = lam - float(self._lambda[i - 1])
                r = h_prev / h
                c = 1.0 / (2.0 * r)
                d = (1.0 + c) * x0 - c * self._prev[1]
            # e^{-h} - 1 computed as expm1 for accuracy when h is small (many steps)
            prev = x * (s_next / float(self._sigma[i]))
            prev -= (a_next * math.expm1(-h)) * d
        self._prev = (i, x0)
        return StepOutput(prev=prev, x0_pred=x0)


SAMPLER_CLASSES = {"ddpm": DDPMSampler, "ddim": DDIMSampler, "dpm++2m": DPMSolverPP2MSampler}


def sampler_class(name: str) -> type:
    """The sampler class of ``name`` (one of :data:`SAMPLERS`); ValueError for another name."""
    try:
        return SAMPLER_CLASSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"sampler name must be one of {', '.join(SAMPLERS)}, "
                         f"got {name!r}") from None


def default_steps(name: str, T: int) -> int:  # noqa: N803
    """The number of steps sampler ``name`` takes by default on a schedule of ``T`` steps."""
    steps = sampler_class(name).default_steps
    return int(T) if steps is None else min(int(steps), int(T))


def make_sampler(name: str, schedule: NoiseSchedule, n_steps: int | None = None,
                 eta: float = 0.0, spacing: str | None = None, variance: str = "beta",
                 clip_x0=None):
    """Build a sampler by name (one of :data:`SAMPLERS`).

    ``n_steps`` None means the sampler's ``default_steps`` (50 for DDIM, 20 for DPM-Solver++,
    all T for DDPM; a DDPM with fewer than T steps respaces the chain).  ``spacing`` None means
    the sampler's ``default_spacing`` ("leading" for DDPM/DDIM, "trailing" for DPM-Solver++).
    ``eta`` is used by DDIM only (``uses_eta``), ``variance`` by DDPM only.
    """
    cls = sampler_class(name)
    spacing = spacing or cls.default_spacing
    if name == "ddpm":
        return DDPMSampler(schedule, variance=variance, clip_x0=clip_x0, n_steps=n_steps,
                           spacing=spacing)
    steps = cls.default_steps if n_steps is None else n_steps
    if name == "ddim":
        return DDIMSampler(schedule, steps, eta=eta, spacing=spacing, clip_x0=clip_x0)
    return DPMSolverPP2MSampler(schedule, steps, spacing=spacing, clip_x0=clip_x0)


# --------------------------------------------------------------------------------------------
# driving a sampler


@dataclass
class Frame:
    """One step of a sampling run, as shown by the GUI.

    Attributes
    ----------
    index : position of the step just taken in the sampler's table (0-based).
    n_total : length of the table.
    t_index : the timestep the step started from (``timesteps[index]``).
    x : (B, ...) the sample after the step.
    x0_pred : (B, ...) the x_0 prediction made at ``t_index``.
    """

    index: int
    n_total: int
    t_index: int
    x: np.ndarray
    x0_pred: np.ndarray


def sample_iter(sampler, denoise: Denoise, x_T: np.ndarray, rng: np.random.Generator,  # noqa: N803
                start_index: int | None = None) -> Iterator[Frame]:
    """Run ``sampler`` from ``x_T``, yielding a :class:`Frame` after each step.

    Parameters
    ----------
    sampler : a DDPM, DDIM or DPM-Solver++ sampler (reset here before the first step).
    denoise : callable (x (B, ...) float32, t (B,) int64) -> eps (B, ...).
    x_T : (B, ...) the starting sample (noise, or a noised image for "denoise from here").
    rng : numpy Generator for the steps' noise, drawn as ``rng.standard_normal(x.shape,
        dtype=x.dtype)`` only for the steps that need it.
    start_index : None to run the whole table, or a timestep index in 0..T-1: steps whose
        timestep is greater are skipped, so ``x_T`` should be a sample at noise level
        ``start_index`` (e.g. ``q_sample(x0, schedule, start_index, noise)``).  When every
        table entry is greater than ``start_index`` only the last step runs.

    Yields
    ------
    Frame for each step taken; a caller may stop iterating at any time (cancellation).
    """
    x = np.asarray(x_T)
    if x.dtype.kind != "f":
        raise ValueError(f"x_T must be a float array, got dtype {x.dtype}")
    if x.ndim < 1:
        raise ValueError("x_T must have a batch axis: shape (B, ...)")
    x = x.astype(np.float32 if x.dtype != np.float64 else np.float64, copy=True)
    ts = sampler.timesteps
    T = sampler.schedule.T  # noqa: N806
    if start_index is None:
        first = 0
    else:
        if isinstance(start_index, bool) or not isinstance(start_index, (int, np.integer)) \
                or not 0 <= start_index <= T - 1:
            raise ValueError(f"start_index must be an int in 0..{T - 1}, got {start_index!r}")
        first = int(np.searchsorted(-ts, -start_index, side="left"))  # first ts <= start_index
        if first >= ts.size:
            first = ts.size - 1  # below every table entry: finish with the last step only
    sampler.reset()
    batch = x.shape[0]
    for i in range(first, ts.size):
        t = int(ts[i])
        eps = np.asarray(denoise(x, np.full(batch, t, dtype=np.int64)))
        if eps.shape != x.shape:
            raise ValueError(f"denoise returned shape {eps.shape}, expected {x.shape}")
        noise = rng.standard_normal(x.shape, dtype=x.dtype) if sampler.needs_noise(i) else None
        out = sampler.step(x, i, eps, noise)
        x = out.prev
        yield Frame(index=i, n_total=int(ts.size), t_index=t, x=x, x0_pred=out.x0_pred)


def sample(sampler, denoise: Denoise, x_T: np.ndarray,  # noqa: N803
           rng: np.random.Generator) -> np.ndarray:
    """Run :func:`sample_iter` to the end and return the final sample (B, ...)."""
    x = np.asarray(x_T)
    for frame in sample_iter(sampler, denoise, x_T, rng):
        x = frame.x
    return x
