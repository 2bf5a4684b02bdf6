"""The 1-D diffusion physics of seed 001 as a headless simulation and a run.

Lattice mode: N walkers start at site 0; every step each one jumps left with probability p,
right with probability q and stays otherwise. The concentration obeys the master equation

    C_i(t+1) = q C_{i-1}(t) + p C_{i+1}(t) + (1 - p - q) C_i(t),

whose continuum limit is the drift-diffusion (heat) equation dC/dt = -v dC/dx + D d2C/dx2 with
D = (p + q)/2 and v = q - p, solved by C(x, t) = exp(-(x - vt)^2 / 4Dt) / sqrt(4 pi D t); the
mean squared displacement grows as <x^2> = 2Dt + (vt)^2 (Einstein 1905).

OU mode: dx = -gamma x dt + sigma dW from x(0) = x0, whose law at time t is
N(x0 e^{-gamma t}, sigma^2/(2 gamma) (1 - e^{-2 gamma t})), relaxing to N(0, sigma^2 / 2 gamma).

:class:`Walk1D` holds a simulation and what the panel plots of it; :func:`run_walk` advances one
on a worker (a session that asks for thousands of steps of 100,000 walkers). Memory is bounded:
steps are simulated in chunks of at most :data:`CHUNK_BYTES`, and the full history is kept only
while it fits :data:`HISTORY_BUDGET_BYTES`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from diffview.core import randomwalk as rw
from diffview.runs.base import CancelToken, Progress, check

__all__ = ["CHUNK_BYTES", "HISTORY_BUDGET_BYTES", "MODES", "OU_BINS", "Walk1D", "WalkFrame",
           "WalkSpec", "WalkView", "run_play", "run_walk"]

MODES = ("lattice", "ou")
HISTORY_BUDGET_BYTES = 64 * 2**20      # positions of every step kept up to this size
CHUNK_BYTES = 32 * 2**20               # the most memory one chunk of steps may take
OU_BINS = 61
LIMITS = {"n": (100, 100_000), "max_steps": (10, 5000), "seed": (0, 2**31 - 1),
          "p": (0.0, 0.5), "q": (0.0, 0.5), "gamma": (0.05, 10.0), "sigma": (0.05, 5.0),
          "x0": (-10.0, 10.0), "dt": (0.001, 0.2)}


@dataclass(frozen=True)
class WalkSpec:
    """Everything that defines a 1-D simulation (its seed included)."""

    mode: str = "lattice"
    n: int = 5000
    seed: int = 0
    p: float = 0.25
    q: float = 0.25
    gamma: float = 1.0
    sigma: float = 1.0
    x0: float = 3.0
    dt: float = 0.01
    max_steps: int = 500

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, found {self.mode!r}")
        for name, (lo, hi) in LIMITS.items():
            value = getattr(self, name)
            integral = name in ("n", "max_steps", "seed")
            ok_type = (isinstance(value, (int, np.integer)) if integral
                       else isinstance(value, (int, float, np.number)))
            if isinstance(value, bool) or not ok_type or not math.isfinite(float(value)) \
                    or not lo <= value <= hi:
                kind = "an integer" if integral else "a number"
                raise ValueError(f"{name} must be {kind} in {lo}..{hi}, found {value!r}")
        if self.p + self.q > 1.0:
            raise ValueError(f"p + q must be at most 1, found {self.p + self.q}")

    @property
    def D(self) -> float:  # noqa: N802 - the physics symbol
        """Diffusion coefficient (p + q) / 2 of the lattice walk."""
        return 0.5 * (self.p + self.q)

    @property
    def v(self) -> float:
        """Drift q - p (sites per step) of the lattice walk."""
        return self.q - self.p

    def replace(self, **changes) -> WalkSpec:
        return dataclasses.replace(self, **changes)


class Walk1D:
    """A running 1-D simulation: positions, per-step statistics and what is plotted of them."""

    def __init__(self, spec: WalkSpec) -> None:
        self.spec = spec
        n = spec.n
        self._rng = np.random.default_rng(spec.seed)
        self.jitter = np.random.default_rng((spec.seed, 1)).random(n)
        self.step = 0
        self.positions = self.start_positions()
        fits = n * (spec.max_steps + 1) * 8 <= HISTORY_BUDGET_BYTES
        self._history: list[np.ndarray] | None = [self.positions.copy()] if fits else None
        self.msd: list[float] = [0.0]
        self.mean: list[float] = [float(self.positions.mean())]
        self.var: list[float] = [0.0]
        half = spec.max_steps + 2
        self.sites = np.arange(-half, half + 1)
        self.conc = (self.sites == 0).astype(np.float64)

    # ---- state ---------------------------------------------------------------------------
    @property
    def time(self) -> float:
        """Steps for the lattice walk, steps * dt for OU."""
        return float(self.step) * (self.spec.dt if self.spec.mode == "ou" else 1.0)

    @property
    def history(self) -> np.ndarray | None:
        """Positions at every step (steps + 1, N), or None when over the memory budget."""
        return None if self._history is None else np.stack(self._history)

    @property
    def finished(self) -> bool:
        return self.step >= self.spec.max_steps

    def start_positions(self) -> np.ndarray:
        n = self.spec.n
        if self.spec.mode == "ou":
            return np.full(n, float(self.spec.x0))
        return np.zeros(n, dtype=np.int64)

    # ---- simulation ----------------------------------------------------------------------
    def advance(self, n_steps: int = 1) -> int:
        """Advance every particle by ``n_steps`` steps (at most up to ``max_steps``), in chunks
        of at most :data:`CHUNK_BYTES`; returns the steps done."""
        n_steps = min(int(n_steps), self.spec.max_steps - self.step)
        done = 0
        chunk = max(1, CHUNK_BYTES // (8 * max(self.spec.n, 1)))
        while done < n_steps:
            k = min(chunk, n_steps - done)
            self._advance_chunk(k)
            done += k
        return max(done, 0)

    def _advance_chunk(self, k: int) -> None:
        s = self.spec
        if s.mode == "lattice":
            walk = rw.lattice_walk(self.positions.size, k, s.p, s.q, self._rng)
            rows = self.positions[None, :] + np.asarray(walk[1:], dtype=np.int64)  # (k, N)
            self.conc = rw.master_equation(self.conc, s.p, s.q, k)[-1]
        else:
            out = np.asarray(rw.ou_simulate(self.positions, s.gamma, s.sigma, s.dt, k,
                                            self._rng))
            rows = out[1:] if out.ndim == 2 and out.shape[0] == k + 1 else out[None]
        start = self.start_positions()
        self.msd.extend(np.asarray(rw.msd(np.concatenate([start[None], rows])))[1:].tolist())
        self.mean.extend(rows.mean(axis=1).tolist())
        self.var.extend(rows.var(axis=1).tolist())
        if self._history is not None:
            self._history.extend(list(rows))
        self.positions = rows[-1]
        self.step += k

    # ---- what is plotted -----------------------------------------------------------------
    def ou_range(self) -> tuple[float, float]:
        s = rw.ou_stationary_std(self.spec.gamma, self.spec.sigma)
        x0 = self.spec.x0
        return min(-4.5 * s, x0 - 1.0), max(4.5 * s, x0 + 1.0)

    def lattice_range(self) -> tuple[float, float]:
        """The x range that holds the walk up to ``max_steps`` (4 standard deviations)."""
        s = self.spec
        spread = 4.0 * math.sqrt(2 * s.D * s.max_steps) + 3.0
        return (min(0.0, s.v * s.max_steps) - spread, max(0.0, s.v * s.max_steps) + spread)

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges, particle counts): one bin per site (lattice) or OU_BINS bins."""
        if self.spec.mode == "lattice":
            edges = np.append(self.sites, self.sites[-1] + 1) - 0.5
            counts = np.bincount(self.positions - self.sites[0], minlength=self.sites.size)
            return edges, counts[:self.sites.size].astype(np.float64)
        lo, hi = self.ou_range()
        edges = np.linspace(lo, hi, OU_BINS + 1)
        counts, _ = np.histogram(np.clip(self.positions, lo, hi), bins=edges)
        return edges, counts.astype(np.float64)

    def ou_moments(self, t: float) -> tuple[float, float]:
        """Exact mean and variance of the OU process at time t from x0."""
        g, s = self.spec.gamma, self.spec.sigma
        mean = self.spec.x0 * math.exp(-g * t)
        var = rw.ou_stationary_std(g, s) ** 2 * (-math.expm1(-2 * g * t))
        return mean, var

    def theory(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, expected particle counts per bin) of the curve drawn over the histogram."""
        n = self.positions.size
        s = self.spec
        if s.mode == "lattice":
            x = np.linspace(self.sites[0], self.sites[-1], 8 * self.sites.size)
            if self.step == 0 or s.D == 0:
                return x, np.zeros_like(x)
            return x, n * np.asarray(rw.heat_kernel(x, float(self.step), s.D, s.v))
        edges, _ = self.histogram()
        width = edges[1] - edges[0]
        x = np.linspace(edges[0], edges[-1], 400)
        mean, var = self.ou_moments(self.time)
        if var <= 0:
            return x, np.zeros_like(x)
        dens = np.exp(-0.5 * (x - mean) ** 2 / var) / math.sqrt(2 * math.pi * var)
        return x, n * width * dens

    def master_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, counts) of the master equation (lattice) or the stationary law (OU)."""
        if self.spec.mode == "lattice":
            keep = self.conc > 1e-6
            return self.sites[keep], self.positions.size * self.conc[keep]
        x, y = self.stationary()
        return x[::8], y[::8]

    def stationary(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, expected counts per bin) of the stationary law N(0, sigma^2/2 gamma) (OU)."""
        edges, _ = self.histogram()
        width = edges[1] - edges[0]
        x = np.linspace(edges[0], edges[-1], 400)
        s = rw.ou_stationary_std(self.spec.gamma, self.spec.sigma)
        dens = np.exp(-0.5 * (x / s) ** 2) / (s * math.sqrt(2 * math.pi))
        return x, self.positions.size * width * dens

    def msd_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(time, plotted value): MSD from the start (lattice) or the variance (OU)."""
        scale = self.spec.dt if self.spec.mode == "ou" else 1.0
        t = np.arange(len(self.msd)) * scale
        return t, np.asarray(self.msd if self.spec.mode == "lattice" else self.var)

    def msd_theory(self) -> tuple[np.ndarray, np.ndarray]:
        t, _ = self.msd_curve()
        s = self.spec
        if s.mode == "lattice":
            return t, 2 * s.D * t + (s.v * t) ** 2
        return t, rw.ou_stationary_std(s.gamma, s.sigma) ** 2 * (-np.expm1(-2 * s.gamma * t))


@dataclass(frozen=True, kw_only=True)
class WalkFrame(Progress):
    """Progress of :func:`run_walk` (``step`` of ``total`` simulation steps)."""


@dataclass(frozen=True, kw_only=True)
class WalkView(Progress):
    """Everything drawn of a walk at one step (``step`` of ``max_steps``), copied so that the
    simulation may go on while it is drawn. Curves are (x, y) pairs of 1-D arrays."""

    time: float
    positions: np.ndarray           # (N,)
    jitter: np.ndarray              # (N,) vertical spread of the particle plot
    histogram: tuple                # (edges (B + 1,), counts (B,))
    theory: tuple
    master: tuple
    msd: tuple
    msd_theory: tuple
    mean: float
    var: float

    @classmethod
    def of(cls, walk: Walk1D) -> WalkView:
        return cls(step=walk.step, total=walk.spec.max_steps, time=walk.time,
                   positions=walk.positions.copy(), jitter=walk.jitter,
                   histogram=walk.histogram(), theory=walk.theory(),
                   master=walk.master_curve(), msd=walk.msd_curve(),
                   msd_theory=walk.msd_theory(), mean=walk.mean[-1], var=walk.var[-1])


def run_play(walk: Walk1D, per_frame: int, token: CancelToken | None = None,
             fps: float = 30.0) -> Generator[WalkView, None, Walk1D]:
    """Animate ``walk`` on a worker: ``per_frame`` steps a frame, at most ``fps`` frames a
    second, until ``max_steps`` or Cancel; returns the walk (advanced in place)."""
    interval = 1.0 / fps
    while not walk.finished:
        started = time.perf_counter()
        check(token)
        walk.advance(per_frame)
        yield WalkView.of(walk)
        rest = interval - (time.perf_counter() - started)
        if rest > 0:
            time.sleep(rest)
    return walk


def run_walk(spec: WalkSpec, steps: int, token: CancelToken | None = None,
             frame_every: int = 50) -> Generator[WalkFrame, None, Walk1D]:
    """Simulate ``spec`` from the start for ``steps`` steps (capped at ``max_steps``).

    Yields a :class:`WalkFrame` every ``frame_every`` steps; returns the :class:`Walk1D`.
    """
    walk = Walk1D(spec)
    total = min(max(int(steps), 0), spec.max_steps)
    while walk.step < total:
        check(token)
        walk.advance(min(frame_every, total - walk.step))
        yield WalkFrame(step=walk.step, total=total)
    return walk
