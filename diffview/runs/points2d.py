"""Headless 2-D point-cloud runs: the forward melt, the reverse samplers, Metropolis chains and
the overlays (density heat map, score arrows, learned-vs-exact error map).

Every run follows :mod:`diffview.runs.base`: a frozen spec, frames that subclass
:class:`~diffview.runs.base.Progress` (:class:`CloudFrame`), and a :class:`Recording` as the
result. A cancelled run returns the :class:`Recording` made so far with ``cancelled=True``, so
it can still be replayed and exported up to where it stopped.

Scores. A reverse run takes one score per *series* (``{"exact": ..., "learned": ...}``); each
is a ``ScoreFn`` ``score(x (N, 2), t) -> (N, 2)``, built by :func:`exact_score` (the exact
score of a Gaussian mixture pushed through the SDE, :func:`diffview.core.mixtures.mixture_score`)
or :func:`learned_score` (an engine ``Denoiser`` predicting epsilon, converted to the target
SDE by :func:`diffview.core.sde.score_from_eps`). The sde/ode/pc choice is
:func:`diffview.core.sde.reverse_iter`, the project's one dispatch over the reverse samplers.

Time runs from 0 (data) to the SDE's ``T`` (prior) as in :mod:`diffview.core.sde`
(Song et al. 2021, "Score-based generative modeling through SDEs", eqs. 5-6 and 13).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from diffview.core import sde as sde_mod
from diffview.core.mixtures import GaussianMixture, density_grid, mixture_score_fn
from diffview.runs.base import Cancelled, CancelToken, Progress, cancellable, check

__all__ = [
    "KINDS", "MAX_DRAWN_POINTS", "MAX_POINTS", "N_TRAILS", "RECORD_BUDGET_BYTES", "CloudFrame",
    "ForwardSpec", "McmcSpec", "OverlayResult", "OverlaySpec", "PlotOverlay", "PlotRequest",
    "Recording", "ReverseSpec", "compute_overlays", "density_image", "exact_score",
    "grid_points", "learned_score", "mixture_from_drawing", "quiver_lines", "record_stride",
    "run_flow_compare", "run_forward", "run_mcmc", "run_overlays", "run_reverse",
    "score_error_image", "thin_points",
]

ScoreFn = Callable[[np.ndarray, float], np.ndarray]

KINDS = ("forward", "reverse", "mcmc")
RECORD_BUDGET_BYTES = 160 * 2**20
"""float32 frames a run keeps for replay, over all its series."""
N_TRAILS = 8
"""Particles whose every step is kept (trails stay smooth when frames are subsampled)."""
MAX_POINTS = 200_000
"""The largest cloud a run accepts."""
MAX_DRAWN_POINTS = 10_000
"""The most painted points a drawing keeps (greedy thinning is quadratic in them)."""


# ---------------------------------------------------------------------------------------------
# specs, frames, result
# ---------------------------------------------------------------------------------------------

def _check_steps(n_steps: int) -> None:
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or not 1 <= n_steps <= 100_000:
        raise ValueError(f"n_steps must be a whole number in 1..100000, got {n_steps!r}")


def _check_cloud(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {x.shape}")
    if not 1 <= x.shape[0] <= MAX_POINTS:
        raise ValueError(f"{name} must have 1..{MAX_POINTS} points, got {x.shape[0]}")
    return x


@dataclass(frozen=True)
class ForwardSpec:
    """Euler-Maruyama simulation of the forward SDE ``sde`` from the data, ``n_steps`` steps,
    noise from ``default_rng(seed)``."""

    sde: str = "vp"
    n_steps: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        sde_mod.make_sde(self.sde)
        _check_steps(self.n_steps)


@dataclass(frozen=True)
class ReverseSpec:
    """A reverse run from prior samples: ``method`` "sde" (reverse-time SDE), "ode"
    (probability flow) or "pc" (predictor-corrector, Langevin ``snr``), down to ``t_end``.

    Every series uses its own ``default_rng(seed)``, so series differ by their score alone."""

    sde: str = "vp"
    method: str = "sde"
    n_steps: int = 200
    seed: int = 0
    snr: float = 0.16
    t_end: float = 1e-3

    def __post_init__(self) -> None:
        sde_mod.make_sde(self.sde)
        if self.method not in sde_mod.REVERSE_METHODS:
            raise ValueError(f"method must be one of {', '.join(sde_mod.REVERSE_METHODS)}, "
                             f"got {self.method!r}")
        _check_steps(self.n_steps)


@dataclass(frozen=True)
class McmcSpec:
    """Random-walk Metropolis chains with N(0, step_size^2 I) proposals, ``n_steps`` steps."""

    n_steps: int = 200
    step_size: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        _check_steps(self.n_steps)
        if not (math.isfinite(self.step_size) and self.step_size > 0):
            raise ValueError(f"step_size must be > 0, got {self.step_size!r}")


@dataclass(frozen=True, kw_only=True)
class CloudFrame(Progress):
    """The newest state of a running 2-D run.

    Attributes
    ----------
    time : float
        SDE time of the frame (the Metropolis step count for MCMC).
    points : mapping series name -> (N, 2) float64
        "cloud" (forward, MCMC) or "exact" / "learned" (reverse).
    trails : mapping series name -> (step + 1, n_trails, 2) float32
        Every step so far of a few particles.
    accept_rate : float or None
        MCMC only: the fraction of accepted proposals so far.
    """

    time: float
    points: Mapping[str, np.ndarray]
    trails: Mapping[str, np.ndarray]
    accept_rate: float | None = None


@dataclass
class Recording:
    """A run kept for replay (the result of every run here).

    Attributes
    ----------
    kind : "forward" | "reverse" | "mcmc"
    times : list of float, the time (MCMC: step) of each kept frame, in run order.
    steps : list of int, the step of each kept frame (0 = start): the trail rows up to frame
        ``i`` are ``trails[name][:steps[i] + 1]``.
    frames : dict series name -> list of (N, 2) float32, aligned with ``times``.
    trails : dict series name -> (n_done + 1, n_trails, 2) float32, every step of a few
        particles.
    trail_times : (n_done + 1,) times of the trail rows.
    accept_rate : MCMC only, the acceptance rate over the run (None otherwise).
    straightness : flow runs only, series -> mean path length over chord length (1: straight).
    cancelled : True when the run was stopped before its last step.
    """

    kind: str
    times: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    frames: dict = field(default_factory=dict)
    trails: dict = field(default_factory=dict)
    trail_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    accept_rate: float | None = None
    straightness: dict = field(default_factory=dict)
    cancelled: bool = False

    def __len__(self) -> int:
        return len(self.times)


def record_stride(n_points: int, n_steps: int, n_series: int = 1,
                  budget: int = RECORD_BUDGET_BYTES) -> int:
    """Keep every ``stride``-th step so the kept float32 frames fit in ``budget`` bytes."""
    per_frame = max(1, n_points * 2 * 4 * n_series)
    max_frames = max(2, budget // per_frame)
    return max(1, math.ceil((n_steps + 1) / max_frames))


def _trail_index(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, max(n - 1, 0), min(N_TRAILS, n)).astype(int))


class _Recorder:
    """Builds a :class:`Recording` step by step: frames every ``stride`` steps, trails always."""

    def __init__(self, kind: str, names: list[str], x_start: np.ndarray, t_start: float,
                 n_steps: int) -> None:
        self.rec = Recording(kind, frames={name: [] for name in names})
        self.names, self.n_steps = names, n_steps
        self.stride = record_stride(x_start.shape[0], n_steps, len(names))
        self.idx = _trail_index(x_start.shape[0])
        self.trails = {n: np.empty((n_steps + 1, self.idx.size, 2), np.float32) for n in names}
        self.trail_times = np.empty(n_steps + 1)
        self.done = 0
        self._keep(0, t_start, {name: x_start for name in names})

    def _keep(self, k: int, t: float, xs: Mapping[str, np.ndarray]) -> None:
        self.trail_times[k] = t
        for name in self.names:
            self.trails[name][k] = xs[name][self.idx]
        if k == 0 or k % self.stride == 0 or k == self.n_steps:
            self.rec.times.append(float(t))
            self.rec.steps.append(k)
            for name in self.names:
                self.rec.frames[name].append(np.asarray(xs[name], np.float32))

    def step(self, k: int, t: float, xs: Mapping[str, np.ndarray],
             accept_rate: float | None = None) -> CloudFrame:
        self._keep(k, t, xs)
        self.done = k
        return CloudFrame(step=k, total=self.n_steps, time=float(t), points=dict(xs),
                          trails={n: self.trails[n][:k + 1] for n in self.names},
                          accept_rate=accept_rate)

    def finish(self, cancelled: bool = False, last: Mapping[str, np.ndarray] | None = None,
               ) -> Recording:
        rec, k = self.rec, self.done
        if rec.steps[-1] != k and last is not None:   # a cancelled run ends on its last step
            rec.times.append(float(self.trail_times[k]))
            rec.steps.append(k)
            for name in self.names:
                rec.frames[name].append(np.asarray(last[name], np.float32))
        rec.trails = {n: self.trails[n][:k + 1] for n in self.names}
        rec.trail_times = self.trail_times[:k + 1]
        rec.cancelled = cancelled
        return rec


# ---------------------------------------------------------------------------------------------
# runs
# ---------------------------------------------------------------------------------------------

def run_forward(spec: ForwardSpec, x0: np.ndarray, token: CancelToken | None = None):
    """Integrate dx = f(x, t) dt + g(t) dW from ``x0`` (N, 2) by Euler-Maruyama
    (:func:`diffview.core.sde.euler_maruyama_iter`); yields :class:`CloudFrame`, returns the
    :class:`Recording` (kind "forward", series "cloud")."""
    x0 = _check_cloud("x0", x0)
    sde = sde_mod.make_sde(spec.sde)
    rec = _Recorder("forward", ["cloud"], x0, 0.0, spec.n_steps)
    x = x0
    it = sde_mod.euler_maruyama_iter(sde, x0, spec.n_steps, np.random.default_rng(spec.seed))
    try:
        for k, (t, x) in enumerate(it, start=1):
            check(token)
            yield rec.step(k, t, {"cloud": x})
    except Cancelled:
        return rec.finish(True, {"cloud": x})
    return rec.finish()


def run_reverse(spec: ReverseSpec, x_T: np.ndarray, scores: Mapping[str, ScoreFn],  # noqa: N803
                token: CancelToken | None = None):
    """Carry prior samples ``x_T`` (N, 2) back to data with one reverse sampler per score, in
    lockstep (:func:`diffview.core.sde.reverse_iter`); yields :class:`CloudFrame`, returns the
    :class:`Recording` (kind "reverse", one series per score)."""
    x_T = _check_cloud("x_T", x_T)  # noqa: N806
    if not scores:
        raise ValueError("a reverse run needs at least one score")
    sde = sde_mod.make_sde(spec.sde)
    names = list(scores)
    kw = {"t_end": spec.t_end} | ({"snr": spec.snr} if spec.method == "pc" else {})
    iters = [sde_mod.reverse_iter(sde, cancellable(scores[n], token, chunk=8192), x_T,
                                  spec.n_steps, np.random.default_rng(spec.seed), spec.method,
                                  **kw) for n in names]
    rec = _Recorder("reverse", names, x_T, float(sde.T), spec.n_steps)
    xs = {n: x_T for n in names}
    try:
        for k in range(1, spec.n_steps + 1):
            new = {}
            for name, it in zip(names, iters, strict=True):
                check(token)
                t, new[name] = next(it)
            xs = new
            yield rec.step(k, t, xs)
    except Cancelled:
        return rec.finish(True, xs)
    return rec.finish()


def run_mcmc(spec: McmcSpec, log_prob: Callable[[np.ndarray], np.ndarray], x0: np.ndarray,
             token: CancelToken | None = None):
    """Random-walk Metropolis chains on ``log_prob`` from ``x0`` (C, 2)
    (:func:`diffview.core.mcmc.metropolis_iter`); frame ``time`` is the step count."""
    from diffview.core import mcmc

    x0 = _check_cloud("x0", x0)
    rec = _Recorder("mcmc", ["cloud"], x0, 0.0, spec.n_steps)
    x, accepted = x0, 0.0
    it = mcmc.metropolis_iter(log_prob, x0, spec.n_steps, spec.step_size,
                              np.random.default_rng(spec.seed))
    try:
        for k, x, moved in it:
            check(token)
            accepted += float(np.mean(moved))
            rec.rec.accept_rate = accepted / k
            yield rec.step(k, float(k), {"cloud": x}, rec.rec.accept_rate)
    except Cancelled:
        return rec.finish(True, {"cloud": x})
    return rec.finish()


# ---------------------------------------------------------------------------------------------
# scores
# ---------------------------------------------------------------------------------------------

def exact_score(mixture: GaussianMixture, sde: sde_mod.LinearSDE) -> ScoreFn:
    """grad log p_t of ``mixture`` pushed through ``sde`` (exact: every marginal of a Gaussian
    mixture under a linear SDE is again a mixture)."""
    return mixture_score_fn(mixture, sde)


def learned_score(denoiser, target_sde: sde_mod.LinearSDE) -> ScoreFn:
    """Score of a continuous-time epsilon network for ``target_sde``
    (:func:`diffview.core.sde.score_from_eps`); the network's own SDE comes from its metadata
    (``info.sde``), VP with default parameters when it has none."""
    info = getattr(denoiser, "info", None)
    sde_dict = dict(getattr(info, "sde", None) or {"name": "vp"})
    trained = sde_mod.make_sde(sde_dict.pop("name"), **sde_dict)

    def eps(x, t):
        return denoiser.predict_eps(np.asarray(x, np.float32), np.asarray(t, np.float32))

    return sde_mod.score_from_eps(eps, trained, target_sde)


# ---------------------------------------------------------------------------------------------
# drawn distributions
# ---------------------------------------------------------------------------------------------

def thin_points(points: np.ndarray, min_dist: float, max_points: int = 400) -> np.ndarray:
    """Greedy thinning in drawing order: drop points closer than ``min_dist`` to a kept one;
    then at most ``max_points`` evenly spaced ones. (N, 2) -> (M, 2)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    kept = np.empty_like(pts)
    n = 0
    for p in pts:
        if n and np.min(np.sum((kept[:n] - p) ** 2, axis=1)) < min_dist**2:
            continue
        kept[n] = p
        n += 1
    out = kept[:n]
    if n > max_points:
        out = out[np.linspace(0, n - 1, max_points).astype(int)]
    return out


def mixture_from_drawing(points: np.ndarray, std: float) -> GaussianMixture:
    """Equal-weight isotropic Gaussians of standard deviation ``std`` on the drawn points
    (thinned to spacing ``std / 2``): a kernel density whose score is exact."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] > MAX_DRAWN_POINTS:
        raise ValueError(f"a drawing has at most {MAX_DRAWN_POINTS} points, got {pts.shape[0]}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("the drawing has points that are not finite")
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"the brush size must be > 0, got {std!r}")
    centres = thin_points(pts, 0.5 * std)
    if centres.shape[0] < 1:
        raise ValueError("draw at least one point first")
    k = centres.shape[0]
    covs = np.broadcast_to(std * std * np.eye(2), (k, 2, 2))
    return GaussianMixture(np.ones(k), centres, covs)


# ---------------------------------------------------------------------------------------------
# overlays
# ---------------------------------------------------------------------------------------------

def grid_points(rect: tuple[float, float, float, float], n: int):
    """Cell centres of an n x n grid over rect = (left, bottom, width, height):
    xs (n,), ys (n,), points (n * n, 2) row-major with y outer."""
    left, bottom, width, height = rect
    xs = left + (np.arange(n) + 0.5) * (width / n)
    ys = bottom + (np.arange(n) + 0.5) * (height / n)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.column_stack([gx.ravel(), gy.ravel()])


def quiver_lines(xs: np.ndarray, ys: np.ndarray, vectors: np.ndarray,
                 head: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Arrow segments at the ``meshgrid(xs, ys)`` points for one ``connect="pairs"`` curve.

    ``vectors`` (ny * nx, 2), row-major with y outer. The longest arrow spans 0.9 grid
    spacings; lengths are proportional to |vector| up to its 95th percentile and clipped above
    (near narrow modes the score is huge and would shrink every other arrow to nothing).
    Returns x, y of shape (6 M,): shaft and two head strokes per arrow.
    """
    gx, gy = np.meshgrid(xs, ys)
    px, py = gx.ravel(), gy.ravel()
    v = np.asarray(vectors, dtype=np.float64).reshape(-1, 2)
    spacing = min(abs(xs[1] - xs[0]) if xs.size > 1 else 1.0,
                  abs(ys[1] - ys[0]) if ys.size > 1 else 1.0)
    norm = np.hypot(v[:, 0], v[:, 1])
    finite = np.isfinite(norm)
    ref = np.percentile(norm[finite], 95) if finite.any() else 1.0
    ref = ref if ref > 0 else 1.0
    length = 0.9 * spacing * np.minimum(np.where(finite, norm, 0.0) / ref, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ux = np.nan_to_num(np.where(norm > 0, v[:, 0] / norm, 0.0))
        uy = np.nan_to_num(np.where(norm > 0, v[:, 1] / norm, 0.0))
    tx, ty = px + ux * length, py + uy * length
    hl = head * length
    c, s = math.cos(math.radians(155)), math.sin(math.radians(155))   # +-25 degrees back
    h1x, h1y = tx + hl * (c * ux - s * uy), ty + hl * (s * ux + c * uy)
    h2x, h2y = tx + hl * (c * ux + s * uy), ty + hl * (-s * ux + c * uy)
    x = np.column_stack([px, tx, tx, h1x, tx, h2x]).ravel()
    y = np.column_stack([py, ty, ty, h1y, ty, h2y]).ravel()
    return x, y


def density_image(mixture: GaussianMixture, sde: sde_mod.LinearSDE,
                  rect: tuple[float, float, float, float], t: float, n: int):
    """p_t on an n x n grid over ``rect``: xs (n,), ys (n,), density (n, n), row = y."""
    xs, ys, _ = grid_points(rect, n)
    mix = mixture if t <= 0.0 else mixture.marginal(sde, t)
    return xs, ys, density_grid(mix, xs, ys)


def score_error_image(learned: ScoreFn, exact: ScoreFn,
                      rect: tuple[float, float, float, float], t: float, n: int):
    """|learned - exact| score on an n x n grid over ``rect`` at ``max(t, 1e-3)`` (the score
    of narrow components is singular at 0): xs (n,), ys (n,), error (n, n)."""
    xs, ys, pts = grid_points(rect, n)
    t = max(float(t), 1e-3)
    diff = learned(pts, t) - exact(pts, t)
    return xs, ys, np.hypot(diff[:, 0], diff[:, 1]).reshape(n, n)


@dataclass(frozen=True)
class PlotRequest:
    """What one plot's overlays need: ``heat`` "" | "density" | "error", ``arrows`` None or a
    score name."""

    heat: str = ""
    arrows: str | None = None


@dataclass(frozen=True)
class OverlaySpec:
    """Overlays of the plots (by key, "a" / "b") over ``rect`` = (left, bottom, width, height)
    at time ``t``, on grids of ``density_n``, ``error_n`` and ``arrow_n`` per side."""

    rect: tuple[float, float, float, float]
    t: float
    plots: Mapping[str, PlotRequest]
    density_n: int = 96
    error_n: int = 64
    arrow_n: int = 21
    seq: int = 0

    def score_names(self) -> set[str]:
        """The scores the overlays need."""
        names = {p.arrows for p in self.plots.values() if p.arrows}
        if any(p.heat == "error" for p in self.plots.values()):
            names |= {"exact", "learned"}
        return names

    def wanted(self) -> bool:
        return any(p.heat or p.arrows for p in self.plots.values())


@dataclass(frozen=True)
class PlotOverlay:
    """One plot's overlays: ``heat_kind`` "" | "density" | "error", ``heat`` (n, n) or None,
    ``arrows`` (x (6M,), y (6M,)) or None."""

    heat_kind: str = ""
    heat: np.ndarray | None = None
    arrows: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class OverlayResult:
    """The overlays of an :class:`OverlaySpec` (``rect``, ``t`` and ``seq`` copied)."""

    rect: tuple[float, float, float, float]
    t: float
    plots: Mapping[str, PlotOverlay]
    seq: int = 0


def compute_overlays(spec: OverlaySpec, mixture: GaussianMixture, sde: sde_mod.LinearSDE,
                     scores: Mapping[str, ScoreFn]) -> OverlayResult:
    """Heat maps and arrows of ``spec``: the density is that of ``mixture``'s marginal at
    ``spec.t`` under ``sde``; ``scores`` has every name of :meth:`OverlaySpec.score_names`."""
    t_score = max(spec.t, 1e-3)
    cache: dict = {}

    def heat(kind: str):
        if kind not in cache:
            if kind == "density":
                cache[kind] = density_image(mixture, sde, spec.rect, spec.t, spec.density_n)[2]
            else:
                cache[kind] = score_error_image(scores["learned"], scores["exact"], spec.rect,
                                                spec.t, spec.error_n)[2]
        return cache[kind]

    plots = {}
    for which, req in spec.plots.items():
        arrows = None
        if req.arrows:
            key = ("arrows", req.arrows)
            if key not in cache:
                xs, ys, pts = grid_points(spec.rect, spec.arrow_n)
                cache[key] = quiver_lines(xs, ys, scores[req.arrows](pts, t_score))
            arrows = cache[key]
        plots[which] = PlotOverlay(req.heat, heat(req.heat) if req.heat else None, arrows)
    return OverlayResult(spec.rect, spec.t, plots, spec.seq)


def run_overlays(spec: OverlaySpec, mixture: GaussianMixture, sde: sde_mod.LinearSDE,
                 scores: Mapping[str, ScoreFn], token: CancelToken | None = None):
    """:func:`compute_overlays` as a run (no frames; for a worker)."""
    check(token)
    return compute_overlays(spec, mixture, sde, scores)
    yield  # noqa: B901 - a run without frames


def run_flow_compare(spec, token: CancelToken | None = None):
    """The VP probability-flow ODE beside flow matching from the same noise
    (:func:`diffview.runs.flow2d.run_flow_vs_diffusion`, exact fields, ``spec`` a
    :class:`~diffview.runs.flow2d.CompareSpec`) as :class:`CloudFrame` s of series "vp" and
    "fm" (frame ``time``: the VP SDE time; the flow's t runs alike from 1 to 0) and a
    :class:`Recording` of kind "flow" with both paths' straightness."""
    from diffview.runs.flow2d import run_flow_vs_diffusion

    run = run_flow_vs_diffusion(spec, token=token)
    idx = _trail_index(spec.n)
    vp, fm = [], []
    while True:
        try:
            f = next(run)
        except StopIteration as stop:
            res = stop.value
            break
        vp.append(f.vp_points[idx])
        fm.append(f.fm_points[idx])
        yield CloudFrame(step=f.step, total=f.total, time=float(f.vp_time),
                         points={"vp": f.vp_points, "fm": f.fm_points},
                         trails={"vp": np.asarray(vp, np.float32),
                                 "fm": np.asarray(fm, np.float32)})
    stride = record_stride(spec.n, len(res.vp_times) - 1, 2)
    keep = sorted(set(range(0, len(res.vp_times), stride)) | {len(res.vp_times) - 1})
    return Recording(
        "flow", times=[float(res.vp_times[k]) for k in keep], steps=keep,
        frames={"vp": [res.vp_path[k].astype(np.float32) for k in keep],
                "fm": [res.fm_path[k].astype(np.float32) for k in keep]},
        trails={"vp": res.vp_path[:, idx].astype(np.float32),
                "fm": res.fm_path[:, idx].astype(np.float32)},
        trail_times=np.asarray(res.vp_times),
        straightness={"vp": res.vp_straightness, "fm": res.fm_straightness},
        cancelled=res.cancelled)
