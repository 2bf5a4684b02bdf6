"""Numerical helpers of the 2-D SDE panel: background jobs, drawn distributions, overlay geometry.

No Qt here: the jobs are plain generators that :class:`diffview.gui.workers.JobRunner` runs on
its thread.  They yield small live frames (the newest cloud) and *return* a :class:`Recording`
of the whole run, subsampled to a memory budget, which the panel's time slider replays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from diffview.core import sde as sde_mod
from diffview.core.mixtures import GaussianMixture

__all__ = [
    "Recording", "forward_em_job", "reverse_job", "mcmc_job", "mixture_from_drawing",
    "thin_points", "quiver_lines", "learned_score_fn", "record_stride", "RECORD_BUDGET_BYTES",
    "N_TRAILS", "grid_points", "compute_overlays",
]

RECORD_BUDGET_BYTES = 160 * 2**20   # float32 frames kept for replay, over all series
N_TRAILS = 8                        # particles whose full path is kept and drawn


@dataclass
class Recording:
    """A run kept for replay.

    Attributes
    ----------
    kind : "forward" | "reverse" | "mcmc"
    times : list of float, the time (or MCMC step) of each kept frame, in run order.
    steps : list of int, the integrator step of each kept frame (0 = start): the trail rows
        up to a frame are ``trails[name][:steps[i] + 1]``.
    frames : dict series name -> list of (N, 2) float32 arrays, aligned with ``times``;
        series are ``"exact"`` and/or ``"learned"`` (reverse), ``"cloud"`` (forward, MCMC).
    trails : dict series name -> (n_steps + 1, N_TRAILS, 2) float32, every step of a few
        particles (not subsampled, so trails stay smooth).
    trail_times : (n_steps + 1,) times of the trail rows.
    info : free-form numbers shown to the user (acceptance rate, ...).
    """

    kind: str
    times: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    frames: dict = field(default_factory=dict)
    trails: dict = field(default_factory=dict)
    trail_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.times)


def record_stride(n_points: int, n_steps: int, n_series: int = 1,
                  budget: int = RECORD_BUDGET_BYTES) -> int:
    """Keep every ``stride``-th step so the kept float32 frames fit in ``budget`` bytes."""
    per_frame = max(1, n_points * 2 * 4 * n_series)
    max_frames = max(2, budget // per_frame)
    return max(1, math.ceil((n_steps + 1) / max_frames))


def _trail_index(n: int) -> np.ndarray:
    """Which particles get trails: spread evenly over the cloud."""
    return np.unique(np.linspace(0, max(n - 1, 0), min(N_TRAILS, n)).astype(int))


def forward_em_job(sde, x0: np.ndarray, n_steps: int, seed: int):
    """Job: integrate the forward SDE from x0 by Euler-Maruyama (core.sde.euler_maruyama_iter)."""
    x0 = np.asarray(x0, dtype=np.float64)

    def job(token):
        rng = np.random.default_rng(seed)
        stride = record_stride(x0.shape[0], n_steps)
        idx = _trail_index(x0.shape[0])
        rec = Recording("forward", frames={"cloud": []})
        trails = np.empty((n_steps + 1, idx.size, 2), np.float32)
        trail_times = np.empty(n_steps + 1)
        rec.times.append(0.0)
        rec.steps.append(0)
        rec.frames["cloud"].append(x0.astype(np.float32))
        trails[0], trail_times[0] = x0[idx], 0.0
        for k, (t, x) in enumerate(sde_mod.euler_maruyama_iter(sde, x0, n_steps, rng), start=1):
            if token.cancelled:
                return None
            trails[k], trail_times[k] = x[idx], t
            if k % stride == 0 or k == n_steps:
                rec.times.append(float(t))
                rec.steps.append(k)
                rec.frames["cloud"].append(x.astype(np.float32))
            yield {"k": k, "n": n_steps, "time": float(t), "xs": {"cloud": x},
                   "trails": {"cloud": trails[:k + 1]}}
        rec.trails = {"cloud": trails}
        rec.trail_times = trail_times
        return rec

    return job


def reverse_job(sde, scores: dict, x_T: np.ndarray, method: str, n_steps: int,  # noqa: N803
                seed: int, snr: float = 0.16, t_end: float = 1e-3):
    """Job: carry prior samples back to data with one reverse sampler per score, in lockstep.

    Parameters
    ----------
    scores : dict name -> ScoreFn, e.g. ``{"exact": ..., "learned": ...}``.  Every series uses
        the same x_T and the same noise (its own Generator seeded alike), so differences
        between them come from the score alone.
    method : "sde" (reverse_sde_iter), "ode" (probability_flow_iter), "pc" (pc_sampler_iter).
    """
    x_T = np.asarray(x_T, dtype=np.float64)  # noqa: N806
    names = list(scores)

    def make_iter(score):
        rng = np.random.default_rng(seed)
        if method == "sde":
            return sde_mod.reverse_sde_iter(sde, score, x_T, n_steps, rng, t_end=t_end)
        if method == "ode":
            return sde_mod.probability_flow_iter(sde, score, x_T, n_steps, t_end=t_end)
        if method == "pc":
            return sde_mod.pc_sampler_iter(sde, score, x_T, n_steps, rng, snr=snr, t_end=t_end)
        raise ValueError(f"unknown reverse method {method!r}")

    def job(token):
        stride = record_stride(x_T.shape[0], n_steps, len(names))
        idx = _trail_index(x_T.shape[0])
        rec = Recording("reverse", frames={name: [] for name in names})
        trails = {name: np.empty((n_steps + 1, idx.size, 2), np.float32) for name in names}
        trail_times = np.empty(n_steps + 1)
        rec.times.append(float(sde.T))
        rec.steps.append(0)
        trail_times[0] = sde.T
        for name in names:
            rec.frames[name].append(x_T.astype(np.float32))
            trails[name][0] = x_T[idx]
        iters = [make_iter(scores[name]) for name in names]
        for k in range(1, n_steps + 1):
            xs = {}
            for name, it in zip(names, iters, strict=True):
                if token.cancelled:
                    return None
                t, x = next(it)
                xs[name] = x
                trails[name][k] = x[idx]
            trail_times[k] = t
            if k % stride == 0 or k == n_steps:
                rec.times.append(float(t))
                rec.steps.append(k)
                for name in names:
                    rec.frames[name].append(xs[name].astype(np.float32))
            yield {"k": k, "n": n_steps, "time": float(t), "xs": xs,
                   "trails": {name: trails[name][:k + 1] for name in names}}
        rec.trails = trails
        rec.trail_times = trail_times
        return rec

    return job


def mcmc_job(log_prob, x0: np.ndarray, n_steps: int, step_size: float, seed: int,
             chunk: int = 5):
    """Job: Metropolis chains (core.mcmc.metropolis) from ``x0`` (n_chains, 2), ``chunk`` steps
    per frame; the frame ``time`` is the step count."""
    from diffview.core import mcmc

    x0 = np.asarray(x0, dtype=np.float64)

    def job(token):
        rng = np.random.default_rng(seed)
        stride = record_stride(x0.shape[0], n_steps)
        idx = _trail_index(x0.shape[0])
        rec = Recording("mcmc", frames={"cloud": []})
        trails = np.empty((n_steps + 1, idx.size, 2), np.float32)
        trails[0] = x0[idx]
        rec.times.append(0.0)
        rec.steps.append(0)
        rec.frames["cloud"].append(x0.astype(np.float32))
        x = x0
        done, accepted = 0, 0.0
        while done < n_steps:
            if token.cancelled:
                return None
            m = min(chunk, n_steps - done)
            res = mcmc.metropolis(log_prob, x, m, step_size, rng)
            chain = np.asarray(res.chain)
            if chain.shape[0] == x.shape[0] and chain.ndim == 3 and chain.shape[1] == m + 1:
                chain = np.swapaxes(chain, 0, 1)   # (n_chains, steps, d) layout
            steps = chain[-m:]                     # (m, n_chains, 2): drop the start state
            accepted += float(np.mean(res.accept_rate)) * m
            for j in range(m):
                trails[done + 1 + j] = steps[j][idx]
                if (done + 1 + j) % stride == 0 or done + 1 + j == n_steps:
                    rec.times.append(float(done + 1 + j))
                    rec.steps.append(done + 1 + j)
                    rec.frames["cloud"].append(steps[j].astype(np.float32))
            x = steps[-1]
            done += m
            rec.info["accept_rate"] = accepted / done
            yield {"k": done, "n": n_steps, "time": float(done), "xs": {"cloud": x},
                   "trails": {"cloud": trails[:done + 1]},
                   "accept_rate": rec.info["accept_rate"]}
        rec.trails = {"cloud": trails}
        rec.trail_times = np.arange(n_steps + 1, dtype=np.float64)
        return rec

    return job


# ---- drawn distributions ----------------------------------------------------------------------

def thin_points(points: np.ndarray, min_dist: float, max_points: int = 400) -> np.ndarray:
    """Greedy thinning in drawing order: drop points closer than ``min_dist`` to a kept one."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    kept: list[np.ndarray] = []
    for p in pts:
        if kept and np.min(np.sum((np.asarray(kept) - p) ** 2, axis=1)) < min_dist**2:
            continue
        kept.append(p)
    out = np.asarray(kept).reshape(-1, 2)
    if out.shape[0] > max_points:
        out = out[np.linspace(0, out.shape[0] - 1, max_points).astype(int)]
    return out


def mixture_from_drawing(points: np.ndarray, std: float) -> GaussianMixture:
    """A mixture of equal-weight isotropic Gaussians of standard deviation ``std`` centred on
    the drawn points (thinned to spacing ``std / 2``), so the exact score exists for it."""
    centres = thin_points(points, 0.5 * std)
    if centres.shape[0] < 1:
        raise ValueError("draw at least one point first")
    k = centres.shape[0]
    covs = np.broadcast_to(std * std * np.eye(2), (k, 2, 2))
    return GaussianMixture(np.ones(k), centres, covs)


# ---- overlays ---------------------------------------------------------------------------------

def quiver_lines(xs: np.ndarray, ys: np.ndarray, vectors: np.ndarray,
                 head: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Arrow segments for one ``connect="pairs"`` curve.

    Parameters
    ----------
    xs, ys : (nx,), (ny,) grid coordinates; the arrows start at the ``meshgrid`` points.
    vectors : (ny * nx, 2) vectors at the grid points (row-major, y outer).
    head : arrow-head length as a fraction of the arrow.

    The longest arrow spans 0.9 grid spacings: length is proportional to |vector| up to the
    95th percentile and clipped above it (near narrow modes the score is huge and would
    otherwise shrink every other arrow to nothing).

    Returns
    -------
    x, y : (6 M,) coordinates, three segments (shaft, two head strokes) per arrow.
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
        ux = np.where(norm > 0, v[:, 0] / norm, 0.0)
        uy = np.where(norm > 0, v[:, 1] / norm, 0.0)
    ux, uy = np.nan_to_num(ux), np.nan_to_num(uy)
    tx, ty = px + ux * length, py + uy * length
    hl = head * length
    # head strokes at +-25 degrees back from the tip
    c, s = math.cos(math.radians(155)), math.sin(math.radians(155))
    h1x, h1y = tx + hl * (c * ux - s * uy), ty + hl * (s * ux + c * uy)
    h2x, h2y = tx + hl * (c * ux + s * uy), ty + hl * (-s * ux + c * uy)
    x = np.column_stack([px, tx, tx, h1x, tx, h2x]).ravel()
    y = np.column_stack([py, ty, ty, h1y, ty, h2y]).ravel()
    return x, y


def learned_score_fn(denoiser, target_sde):
    """ScoreFn of a continuous-time epsilon network for ``target_sde`` (core.sde.score_from_eps).

    The network's own SDE comes from its metadata (``info.sde``), VP with default parameters
    when it has none.
    """
    info = getattr(denoiser, "info", None)
    sde_dict = dict(getattr(info, "sde", None) or {"name": "vp"})
    trained = sde_mod.make_sde(sde_dict.pop("name"), **sde_dict)

    def eps(x, t):
        return denoiser.predict_eps(np.asarray(x, np.float32), np.asarray(t, np.float32))

    return sde_mod.score_from_eps(eps, trained, target_sde)


def grid_points(rect: tuple[float, float, float, float], n: int):
    """Cell centres of an n x n grid over rect = (left, top, width, height):
    xs (n,), ys (n,), points (n * n, 2) row-major with y outer."""
    left, top, width, height = rect
    xs = left + (np.arange(n) + 0.5) * (width / n)
    ys = top + (np.arange(n) + 0.5) * (height / n)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.column_stack([gx.ravel(), gy.ravel()])


def compute_overlays(request: dict, mixture, sde, scores: dict) -> dict:
    """Heat maps and arrows for the plots described by ``request`` (pure numpy; any thread).

    Parameters
    ----------
    request : {"rect": (left, top, width, height), "time": float, "density_n": int,
        "error_n": int, "arrow_n": int, "plots": {which: {"heat": "" | "density" | "error",
        "arrows": None | score name}}}
    mixture : p_0; the density is that of its marginal at ``time`` under ``sde``.
    scores : name -> ScoreFn ("exact", and "learned" when the error map or learned arrows
        are asked for).

    Returns
    -------
    {"rect": ..., "time": ..., "plots": {which: {"heat": (kind, (ny, nx) array) or None,
    "arrows": (x, y) segment arrays or None}}}
    """
    from diffview.core.mixtures import density_grid

    rect, t = request["rect"], float(request["time"])
    t_score = max(t, 1e-3)   # the score of narrow components is singular at t = 0
    cache: dict = {}

    def density():
        if "density" not in cache:
            xs, ys, _ = grid_points(rect, request["density_n"])
            mix = mixture if t <= 0.0 else mixture.marginal(sde, t)
            cache["density"] = density_grid(mix, xs, ys)
        return cache["density"]

    def error():
        if "error" not in cache:
            n = request["error_n"]
            _, _, pts = grid_points(rect, n)
            diff = scores["learned"](pts, t_score) - scores["exact"](pts, t_score)
            cache["error"] = np.hypot(diff[:, 0], diff[:, 1]).reshape(n, n)
        return cache["error"]

    out = {"rect": rect, "time": t, "plots": {}}
    for which, spec in request["plots"].items():
        heat = None
        if spec["heat"] == "density":
            heat = ("density", density())
        elif spec["heat"] == "error":
            heat = ("error", error())
        arrows = None
        if spec["arrows"]:
            key = ("arrows", spec["arrows"])
            if key not in cache:
                xs, ys, pts = grid_points(rect, request["arrow_n"])
                cache[key] = quiver_lines(xs, ys, scores[spec["arrows"]](pts, t_score))
            arrows = cache[key]
        out["plots"][which] = {"heat": heat, "arrows": arrows}
    return out
