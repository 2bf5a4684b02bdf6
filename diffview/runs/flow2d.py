"""Headless flow-matching runs on 2-D points: sampling, flow beside diffusion, error against
the number of evaluations, a transported mesh and velocity arrows.

Every run follows :mod:`diffview.runs.base`: a frozen spec, frames that subclass
:class:`~diffview.runs.base.Progress`, a result dataclass, and a cancel token checked between
solver steps (a cancelled run returns what it has with ``cancelled=True``).

Fields. A run's velocity field is given as

- ``None``: the exact field of the spec's toy data set (:func:`diffview.core.flow.flow_velocity`),
- a :class:`~diffview.core.mixtures.GaussianMixture`: the exact field of that mixture,
- a velocity callable ``v(x (N, 2), t) -> (N, 2)``,
- an engine ``Denoiser`` whose ``info.prediction == "velocity"`` (a flow-matching network;
  its ``predict_eps`` returns the network's raw output, here the velocity).

Time follows :mod:`diffview.core.flow`: data at t = 0, noise at t = 1, sampling runs from 1
down to 0. The diffusion side is the VP SDE's probability-flow ODE
dx = [f - g^2/2 grad log p] dtau (:mod:`diffview.core.sde`) from tau = T down to ``t_end``,
integrated with the same solver and the same number of steps, so both spend the same number
of field evaluations (NFE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from diffview.core.flow import (
    SOLVERS,
    VelocityFn,
    flow_time_grid,
    flow_velocity_fn,
    ode_iter,
    steps_for_nfe,
    straightness,
)
from diffview.core.mixtures import GaussianMixture, mixture_score_fn, sliced_wasserstein
from diffview.core.sde import VPSDE, ScoreFn, score_from_eps
from diffview.core.toy2d import TOY_DATASETS, toy_mixture
from diffview.runs.base import (
    Cancelled,
    CancelToken,
    Progress,
    cancellable,
    check,
    run_to_end,
)

__all__ = [
    "ArrowFrame", "ArrowResult", "ArrowSpec", "CompareFrame", "CompareResult", "CompareSpec",
    "FlowFrame", "FlowSampleResult", "FlowSampleSpec", "MeshFrame", "MeshResult", "MeshSpec",
    "NfeFrame", "NfeSweepResult", "NfeSweepSpec", "PROCESSES", "mesh_lines", "model_velocity",
    "resolve_velocity", "run_flow_sample", "run_flow_vs_diffusion", "run_mesh_transport",
    "run_nfe_sweep", "run_velocity_arrows", "sample_flow_model",
]

PROCESSES = ("vp", "fm")
"""The two processes: the VP probability-flow ODE and the flow-matching ODE."""

MAX_POINTS = 200_000


# ---------------------------------------------------------------------------------------------
# fields
# ---------------------------------------------------------------------------------------------

def model_velocity(model, token: CancelToken | None = None) -> VelocityFn:
    """The velocity field of a flow-matching network (engine Denoiser, prediction velocity).

    Raises
    ------
    ValueError
        naming the problem when the model is not a 2-D velocity model.
    """
    info = model.info
    if info.prediction != "velocity":
        raise ValueError(f"the model predicts {info.prediction!r}, not a flow-matching "
                         "velocity; use it with the diffusion samplers")
    if info.kind != "points" or tuple(info.sample_shape) != (2,):
        raise ValueError(f"flow-matching runs need a 2-D points model, this one takes "
                         f"{info.kind} of shape {tuple(info.sample_shape)}")
    if info.time_kind != "continuous":
        raise ValueError("a flow-matching model must take continuous time in [0, 1]")
    predict = cancellable(model.predict_eps, token)

    def velocity(x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        out = predict(x, np.full(x.shape[0], float(t), np.float32))
        return np.asarray(out, dtype=np.float64)
    return velocity


def _mixture(dataset: str) -> GaussianMixture:
    if dataset not in TOY_DATASETS:
        raise ValueError(f"dataset must be one of {TOY_DATASETS} for an exact field, "
                         f"got {dataset!r}")
    return toy_mixture(dataset)


def resolve_velocity(velocity, dataset: str, token: CancelToken | None = None) -> VelocityFn:
    """Turn a run's ``velocity`` argument (see the module docstring) into a callable."""
    if velocity is None:
        return flow_velocity_fn(_mixture(dataset))
    if isinstance(velocity, GaussianMixture):
        return flow_velocity_fn(velocity)
    if hasattr(velocity, "predict_eps") and hasattr(velocity, "info"):
        return model_velocity(velocity, token)
    if callable(velocity):
        return velocity
    raise TypeError(f"velocity must be None, a GaussianMixture, a callable or a Denoiser, "
                    f"got {type(velocity).__name__}")


def _resolve_score(score, dataset: str, sde: VPSDE, token: CancelToken | None) -> ScoreFn:
    """The VP side's score: exact (None or a mixture), a ScoreFn, or an eps Denoiser."""
    if score is None:
        return mixture_score_fn(_mixture(dataset), sde)
    if isinstance(score, GaussianMixture):
        return mixture_score_fn(score, sde)
    if hasattr(score, "predict_eps") and hasattr(score, "info"):
        info = score.info
        if info.prediction != "eps" or info.time_kind != "continuous" or info.sde is None:
            raise ValueError("the diffusion side needs a continuous-time epsilon model "
                             f"(found prediction {info.prediction!r}, time {info.time_kind!r})")
        predict = cancellable(score.predict_eps, token)

        def eps_fn(x, t):
            return predict(np.asarray(x, np.float32), np.asarray(t, np.float32))
        return score_from_eps(eps_fn, info.make_sde(), sde)
    if callable(score):
        return score
    raise TypeError(f"score must be None, a GaussianMixture, a callable or a Denoiser, "
                    f"got {type(score).__name__}")


def _vp_velocity(sde: VPSDE, score: ScoreFn) -> VelocityFn:
    """dx/dtau = f(x, tau) - g(tau)^2 / 2 score(x, tau), the probability-flow ODE ([S] eq. 13)."""
    def velocity(x: np.ndarray, tau: float) -> np.ndarray:
        beta = float(sde.beta(tau))
        return -0.5 * beta * x - 0.5 * beta * np.asarray(score(x, float(tau)), np.float64)
    return velocity


def _vp_times(sde: VPSDE, n_steps: int, t_end: float) -> np.ndarray:
    return sde.time_grid(n_steps, t_end)[::-1].copy()


# ---------------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------------

def _check_common(dataset: str, n: int, seed: int, method: str) -> None:
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset must be a toy set name, got {dataset!r}")
    if isinstance(n, bool) or int(n) != n or not 1 <= n <= MAX_POINTS:
        raise ValueError(f"n must be an integer in 1..{MAX_POINTS}, got {n}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed}")
    if method not in SOLVERS:
        raise ValueError(f"method must be one of {tuple(SOLVERS)}, got {method!r}")


def _check_steps(n_steps: int) -> None:
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or not 1 <= n_steps <= 10_000:
        raise ValueError(f"n_steps must be an integer in 1..10000, got {n_steps}")


def _check_span(t_start: float, t_end: float) -> None:
    if not 0.0 <= t_end < t_start <= 1.0:
        raise ValueError(f"need 0 <= t_end < t_start <= 1, got t_start={t_start}, "
                         f"t_end={t_end}")


def _noise(n: int, seed: int) -> np.ndarray:
    """The starting noise of a run: N(0, I), (n, 2), from ``seed`` alone."""
    return np.random.default_rng(seed).standard_normal((n, 2))


def _reference(dataset: str, n: int, seed: int, reference) -> np.ndarray:
    """Data points to measure samples against: ``reference`` or a draw of the toy set."""
    if reference is not None:
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2 or ref.shape[1] != 2 or ref.shape[0] < 2:
            raise ValueError(f"reference must be an (M, 2) array with M >= 2, got {ref.shape}")
        return ref
    # a generator of its own (seed + 1), so the reference never shares draws with the noise
    return _mixture(dataset).sample(n, np.random.default_rng(seed + 1))


def _sw(points: np.ndarray, ref: np.ndarray, seed: int, n_projections: int) -> float:
    if not np.all(np.isfinite(points)):
        return float("inf")
    return sliced_wasserstein(points, ref, np.random.default_rng(seed + 2), n_projections, p=1)


def _straightness(path: np.ndarray) -> float:
    if path.shape[0] < 2:
        return float("nan")
    try:
        return straightness(path)
    except ValueError:
        return float("nan")


# ---------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FlowSampleSpec:
    """Flow-matching sampling of ``n`` points from N(0, I) at t_start down to t_end."""

    dataset: str = "moons"
    n: int = 2000
    seed: int = 0
    method: str = "rk4"
    n_steps: int = 20
    t_start: float = 1.0
    t_end: float = 0.0

    def __post_init__(self) -> None:
        _check_common(self.dataset, self.n, self.seed, self.method)
        _check_steps(self.n_steps)
        _check_span(self.t_start, self.t_end)

    @property
    def nfe(self) -> int:
        return self.n_steps * SOLVERS[self.method]


@dataclass(frozen=True, kw_only=True)
class FlowFrame(Progress):
    """After solver step ``step`` of ``total``: the points (N, 2) at ``time``; ``nfe`` so far."""

    time: float
    points: np.ndarray
    nfe: int


@dataclass(frozen=True)
class FlowSampleResult:
    """points (N, 2) at the last time; times (S+1,) and path (S+1, N, 2) from the start noise;
    straightness = mean path length / mean chord (:func:`diffview.core.flow.straightness`)."""

    points: np.ndarray
    times: np.ndarray
    path: np.ndarray
    nfe: int
    straightness: float
    cancelled: bool = False


def run_flow_sample(spec: FlowSampleSpec, velocity=None, token: CancelToken | None = None,
                    noise: np.ndarray | None = None):
    """Integrate the flow-matching ODE from noise to data, one frame per solver step.

    Parameters
    ----------
    spec : the run.
    velocity : the field (module docstring); None is the exact field of ``spec.dataset``.
    token : cancels between steps (and between chunks of a network call).
    noise : optional (n, 2) starting points instead of the seed's N(0, I) draw.
    """
    v = resolve_velocity(velocity, spec.dataset, token)
    x = _noise(spec.n, spec.seed) if noise is None else np.array(noise, dtype=np.float64)
    if x.shape != (spec.n, 2):
        raise ValueError(f"noise must have shape ({spec.n}, 2), got {x.shape}")
    times = flow_time_grid(spec.n_steps, spec.t_start, spec.t_end)
    per = SOLVERS[spec.method]
    path = [x]
    cancelled = False
    try:
        for k, (t, xk) in enumerate(ode_iter(spec.method, v, x, times), start=1):
            path.append(xk)
            yield FlowFrame(step=k, total=spec.n_steps, time=t, points=xk, nfe=k * per)
            if k < spec.n_steps:
                check(token)
    except Cancelled:
        cancelled = True
    arr = np.stack(path)
    return FlowSampleResult(arr[-1], times[:len(path)], arr, (len(path) - 1) * per,
                            _straightness(arr), cancelled)


def sample_flow_model(model, n: int, seed: int = 0, n_steps: int | None = None,
                      sampler: str | None = None, method: str = "rk4") -> np.ndarray:
    """Samples (n, 2) float32 of a flow-matching network (``diffview sample``'s branch for
    velocity models): :func:`run_flow_sample` with ``n_steps`` (default 20) of ``method``.

    ``sampler`` is what the user asked for: None or ``"ode"``; a diffusion sampler's name is
    refused with a message saying what this model is.
    """
    if sampler not in (None, "ode"):
        raise ValueError(f"{sampler} is a diffusion sampler; this is a 2-D flow-matching "
                         "(velocity) model, sampled by integrating its ODE (RK4, --steps, "
                         "default 20; see docs/flow-matching.md)")
    spec = FlowSampleSpec(dataset="moons", n=n, seed=seed, method=method,
                          n_steps=20 if n_steps is None else n_steps)
    result = run_to_end(run_flow_sample(spec, model_velocity(model)))
    return result.points.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# flow matching beside diffusion
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompareSpec:
    """The VP probability-flow ODE and the flow-matching ODE from the same starting noise."""

    dataset: str = "moons"
    n: int = 2000
    seed: int = 0
    method: str = "rk4"
    n_steps: int = 20
    beta_min: float = 0.1
    beta_max: float = 20.0
    vp_t_end: float = 1e-3
    n_projections: int = 256

    def __post_init__(self) -> None:
        _check_common(self.dataset, self.n, self.seed, self.method)
        _check_steps(self.n_steps)
        VPSDE(self.beta_min, self.beta_max)  # validates
        if not 0.0 <= self.vp_t_end < 1.0:
            raise ValueError(f"vp_t_end must be in [0, 1), got {self.vp_t_end}")
        if int(self.n_projections) != self.n_projections or self.n_projections < 1:
            raise ValueError(f"n_projections must be an integer >= 1, got {self.n_projections}")

    def sde(self) -> VPSDE:
        return VPSDE(self.beta_min, self.beta_max)


@dataclass(frozen=True, kw_only=True)
class CompareFrame(Progress):
    """After step ``step``: VP points (N, 2) at SDE time ``vp_time`` and flow-matching points
    (N, 2) at ``fm_time``; both have used ``nfe`` evaluations."""

    vp_time: float
    vp_points: np.ndarray
    fm_time: float
    fm_points: np.ndarray
    nfe: int


@dataclass(frozen=True)
class CompareResult:
    """Both runs: times (S+1,), paths (S+1, N, 2), straightness, and sliced Wasserstein-1 of
    the end points to ``reference`` (data points, (M, 2)); ``null_sw`` is that distance
    between the reference and a second draw of the data (the floor for n points; nan when the
    reference was given)."""

    vp_times: np.ndarray
    vp_path: np.ndarray
    fm_times: np.ndarray
    fm_path: np.ndarray
    nfe: int
    vp_straightness: float
    fm_straightness: float
    vp_sw: float
    fm_sw: float
    null_sw: float
    cancelled: bool = False


def run_flow_vs_diffusion(spec: CompareSpec, velocity=None, score=None,
                          token: CancelToken | None = None, reference=None):
    """Run the VP probability-flow ODE and the flow-matching ODE side by side.

    Both start from the same noise z ~ N(0, I) (the VP prior at T = 1 is N(0, s(1)^2 I) with
    s(1) = 0.99998) and take the same solver steps.

    Parameters
    ----------
    velocity : the flow-matching field (module docstring); None: exact.
    score : the VP side's score: None (exact, of ``spec.dataset``), a GaussianMixture, a
        ``score(x, tau)`` callable or a continuous-time epsilon Denoiser.
    reference : data points (M, 2) for the sliced Wasserstein; None draws ``spec.n`` of the
        toy set.
    """
    sde = spec.sde()
    v_fm = resolve_velocity(velocity, spec.dataset, token)
    v_vp = _vp_velocity(sde, _resolve_score(score, spec.dataset, sde, token))
    ref = _reference(spec.dataset, spec.n, spec.seed, reference)
    z = _noise(spec.n, spec.seed)
    vp_times = _vp_times(sde, spec.n_steps, spec.vp_t_end)
    fm_times = flow_time_grid(spec.n_steps)
    per = SOLVERS[spec.method]
    vp_path, fm_path = [z], [z]
    cancelled = False
    try:
        for k, ((tv, xv), (tf, xf)) in enumerate(
                zip(ode_iter(spec.method, v_vp, z, vp_times),
                    ode_iter(spec.method, v_fm, z, fm_times), strict=True), start=1):
            vp_path.append(xv)
            fm_path.append(xf)
            yield CompareFrame(step=k, total=spec.n_steps, vp_time=tv, vp_points=xv,
                               fm_time=tf, fm_points=xf, nfe=k * per)
            if k < spec.n_steps:
                check(token)
    except Cancelled:
        cancelled = True
    vp_arr, fm_arr = np.stack(vp_path), np.stack(fm_path)
    null = float("nan")
    if reference is None:
        other = _mixture(spec.dataset).sample(spec.n, np.random.default_rng(spec.seed + 3))
        null = _sw(other, ref, spec.seed, spec.n_projections)
    return CompareResult(vp_times[:len(vp_path)], vp_arr, fm_times[:len(fm_path)], fm_arr,
                         (len(fm_path) - 1) * per, _straightness(vp_arr),
                         _straightness(fm_arr), _sw(vp_arr[-1], ref, spec.seed,
                                                    spec.n_projections),
                         _sw(fm_arr[-1], ref, spec.seed, spec.n_projections), null, cancelled)


# ---------------------------------------------------------------------------------------------
# error against the number of evaluations
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NfeSweepSpec:
    """Sample quality (sliced Wasserstein-1 to the data) against NFE for both processes."""

    dataset: str = "moons"
    n: int = 2000
    seed: int = 0
    method: str = "heun"
    nfes: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    processes: tuple[str, ...] = PROCESSES
    beta_min: float = 0.1
    beta_max: float = 20.0
    vp_t_end: float = 1e-3
    n_projections: int = 256

    def __post_init__(self) -> None:
        _check_common(self.dataset, self.n, self.seed, self.method)
        object.__setattr__(self, "nfes", tuple(int(v) for v in self.nfes))
        object.__setattr__(self, "processes", tuple(self.processes))
        if not self.nfes:
            raise ValueError("nfes must list at least one number of evaluations")
        for nfe in self.nfes:
            steps_for_nfe(self.method, nfe)
        if not self.processes or any(p not in PROCESSES for p in self.processes):
            raise ValueError(f"processes must be a non-empty subset of {PROCESSES}, "
                             f"got {self.processes}")
        VPSDE(self.beta_min, self.beta_max)
        if not 0.0 <= self.vp_t_end < 1.0:
            raise ValueError(f"vp_t_end must be in [0, 1), got {self.vp_t_end}")


@dataclass(frozen=True, kw_only=True)
class NfeFrame(Progress):
    """One point of the curve: ``process`` at ``nfe`` evaluations reached ``sw``."""

    process: str
    nfe: int
    sw: float
    straightness: float


@dataclass(frozen=True)
class NfeSweepResult:
    """sw and straightness (P, M) for ``processes`` (P,) x ``nfes`` (M,) (nan where not run);
    ``null_sw`` the distance between two draws of the data (nan when a reference was given)."""

    processes: tuple[str, ...]
    nfes: np.ndarray
    sw: np.ndarray
    straightness: np.ndarray
    null_sw: float
    cancelled: bool = False


def run_nfe_sweep(spec: NfeSweepSpec, velocity=None, score=None,
                  token: CancelToken | None = None, reference=None):
    """For every process and NFE, sample from the same noise and measure the end points.

    ``velocity`` and ``score`` as in :func:`run_flow_vs_diffusion`. The solver's steps are
    ``nfe // evaluations per step`` (:func:`diffview.core.flow.steps_for_nfe`).
    """
    sde = VPSDE(spec.beta_min, spec.beta_max)
    fields: dict[str, Callable] = {}
    if "fm" in spec.processes:
        fields["fm"] = resolve_velocity(velocity, spec.dataset, token)
    if "vp" in spec.processes:
        fields["vp"] = _vp_velocity(sde, _resolve_score(score, spec.dataset, sde, token))
    ref = _reference(spec.dataset, spec.n, spec.seed, reference)
    z = _noise(spec.n, spec.seed)
    sw = np.full((len(spec.processes), len(spec.nfes)), np.nan)
    st = np.full_like(sw, np.nan)
    total = sw.size
    cancelled = False
    try:
        for i, proc in enumerate(spec.processes):
            for j, nfe in enumerate(spec.nfes):
                steps = steps_for_nfe(spec.method, nfe)
                times = (_vp_times(sde, steps, spec.vp_t_end) if proc == "vp"
                         else flow_time_grid(steps))
                path = [z]
                for _, x in ode_iter(spec.method, fields[proc], z, times):
                    check(token)
                    path.append(x)
                arr = np.stack(path)
                sw[i, j] = _sw(arr[-1], ref, spec.seed, spec.n_projections)
                st[i, j] = _straightness(arr)
                yield NfeFrame(step=i * len(spec.nfes) + j + 1, total=total, process=proc,
                               nfe=nfe, sw=float(sw[i, j]), straightness=float(st[i, j]))
    except Cancelled:
        cancelled = True
    null = float("nan")
    if reference is None:
        other = _mixture(spec.dataset).sample(spec.n, np.random.default_rng(spec.seed + 3))
        null = _sw(other, ref, spec.seed, spec.n_projections)
    return NfeSweepResult(spec.processes, np.array(spec.nfes), sw, st, null, cancelled)


# ---------------------------------------------------------------------------------------------
# a transported mesh
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MeshSpec:
    """A square grid of ``lines`` horizontal and ``lines`` vertical polylines on
    [-extent, extent]^2, ``points_per_line`` points each, carried by a flow."""

    dataset: str = "moons"
    process: str = "fm"
    lines: int = 13
    points_per_line: int = 121
    extent: float = 3.0
    method: str = "rk4"
    n_steps: int = 20
    beta_min: float = 0.1
    beta_max: float = 20.0
    vp_t_end: float = 1e-3

    def __post_init__(self) -> None:
        if self.process not in PROCESSES:
            raise ValueError(f"process must be one of {PROCESSES}, got {self.process!r}")
        if int(self.lines) != self.lines or not 2 <= self.lines <= 200:
            raise ValueError(f"lines must be an integer in 2..200, got {self.lines}")
        if int(self.points_per_line) != self.points_per_line or not (
                2 <= self.points_per_line <= 2000):
            raise ValueError(f"points_per_line must be an integer in 2..2000, "
                             f"got {self.points_per_line}")
        if not (np.isfinite(self.extent) and self.extent > 0):
            raise ValueError(f"extent must be a finite number > 0, got {self.extent}")
        _check_common(self.dataset, 1, 0, self.method)
        _check_steps(self.n_steps)
        VPSDE(self.beta_min, self.beta_max)


def mesh_lines(lines: int, points_per_line: int, extent: float) -> np.ndarray:
    """The undeformed grid: (2 * lines, points_per_line, 2), horizontal lines first."""
    ticks = np.linspace(-extent, extent, lines)
    s = np.linspace(-extent, extent, points_per_line)
    horiz = np.stack(np.broadcast_arrays(s[None, :], ticks[:, None]), axis=-1)
    vert = np.stack(np.broadcast_arrays(ticks[:, None], s[None, :]), axis=-1)
    return np.concatenate([horiz, vert], axis=0)


@dataclass(frozen=True, kw_only=True)
class MeshFrame(Progress):
    """The mesh after step ``step``: lines (L, P, 2) at ``time`` (t for fm, tau for vp)."""

    time: float
    lines: np.ndarray


@dataclass(frozen=True)
class MeshResult:
    """times (S+1,) and lines (S+1, L, P, 2), the grid at the start first."""

    times: np.ndarray
    lines: np.ndarray
    cancelled: bool = False


def run_mesh_transport(spec: MeshSpec, velocity=None, score=None,
                       token: CancelToken | None = None):
    """Carry a grid of lines in noise space to data space with the chosen process's ODE.

    Every vertex moves with the flow, so the frames show how the map bends space; with the
    exact fields both processes give the same final mesh (the same map, see
    :mod:`diffview.core.flow`) along different paths.
    """
    if spec.process == "fm":
        v = resolve_velocity(velocity, spec.dataset, token)
        times = flow_time_grid(spec.n_steps)
    else:
        sde = VPSDE(spec.beta_min, spec.beta_max)
        v = _vp_velocity(sde, _resolve_score(score, spec.dataset, sde, token))
        times = _vp_times(sde, spec.n_steps, spec.vp_t_end)
    grid = mesh_lines(spec.lines, spec.points_per_line, spec.extent)
    shape = grid.shape
    frames = [grid]
    cancelled = False
    try:
        for k, (t, x) in enumerate(ode_iter(spec.method, v, grid.reshape(-1, 2), times),
                                   start=1):
            lines = x.reshape(shape)
            frames.append(lines)
            yield MeshFrame(step=k, total=spec.n_steps, time=t, lines=lines)
            if k < spec.n_steps:
                check(token)
    except Cancelled:
        cancelled = True
    return MeshResult(times[:len(frames)], np.stack(frames), cancelled)


# ---------------------------------------------------------------------------------------------
# velocity arrows
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArrowSpec:
    """Velocity arrows on a ``grid`` x ``grid`` lattice over [-extent, extent]^2 at ``times``."""

    dataset: str = "moons"
    times: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25, 0.0)
    grid: int = 21
    extent: float = 3.5
    positions: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "times", tuple(float(t) for t in self.times))
        if not self.times or any(not 0.0 <= t <= 1.0 for t in self.times):
            raise ValueError(f"times must be a non-empty list in [0, 1], got {self.times}")
        if int(self.grid) != self.grid or not 2 <= self.grid <= 500:
            raise ValueError(f"grid must be an integer in 2..500, got {self.grid}")
        if not (np.isfinite(self.extent) and self.extent > 0):
            raise ValueError(f"extent must be a finite number > 0, got {self.extent}")

    def lattice(self) -> np.ndarray:
        """Arrow tails (grid * grid, 2), rows of constant y, x varying fastest."""
        if self.positions is not None:
            return np.asarray(self.positions, dtype=np.float64).reshape(-1, 2)
        s = np.linspace(-self.extent, self.extent, self.grid)
        gx, gy = np.meshgrid(s, s)
        return np.column_stack([gx.ravel(), gy.ravel()])


@dataclass(frozen=True, kw_only=True)
class ArrowFrame(Progress):
    """The field at ``time``: tails (G, 2) and velocities (G, 2) (dx/dt, t increasing; the
    sampler moves along -velocity as t decreases)."""

    time: float
    positions: np.ndarray
    velocity: np.ndarray


@dataclass(frozen=True)
class ArrowResult:
    """times (T,), positions (G, 2), velocities (T, G, 2)."""

    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    cancelled: bool = False


def run_velocity_arrows(spec: ArrowSpec, velocity=None, token: CancelToken | None = None):
    """Evaluate the flow-matching field on a lattice, one frame per time."""
    v = resolve_velocity(velocity, spec.dataset, token)
    pos = spec.lattice()
    out = []
    cancelled = False
    try:
        for k, t in enumerate(spec.times, start=1):
            check(token)
            vel = np.asarray(v(pos, t), dtype=np.float64)
            out.append(vel)
            yield ArrowFrame(step=k, total=len(spec.times), time=t, positions=pos, velocity=vel)
    except Cancelled:
        cancelled = True
    vels = np.stack(out) if out else np.empty((0, *pos.shape))
    return ArrowResult(np.array(spec.times[:len(out)]), pos, vels, cancelled)
