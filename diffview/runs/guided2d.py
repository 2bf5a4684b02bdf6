"""Exact classifier-free guidance on a labelled 2-D mixture, against the tilted density.

One run carries prior samples back to data with the exact guided score
``s_u + w (s_c - s_u)`` of :mod:`diffview.core.guided2d` (reverse SDE or probability-flow ODE,
:func:`diffview.core.sde.reverse_iter`), and draws, beside them, samples of the tilted density
``p(x|c)^w p(x)^(1-w)`` at t = 0 from a fine grid. The two differ for ``w`` other than 0 and 1
(Ho and Salimans 2022, fig. 2): the result measures by how much (sliced Wasserstein, with the
distance between two independent tilted samples of the same size as the floor).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from diffview.core import sde as sde_mod
from diffview.core.guided2d import (
    LabelledMixture,
    guided_score_fn,
    sample_grid_density,
    tilted_density_grid,
    toy_labelled,
    two_component,
)
from diffview.core.mixtures import sliced_wasserstein
from diffview.runs.base import Cancelled, CancelToken, Progress, cancellable, check

__all__ = ["GuidedFrame", "GuidedResult", "GuidedSpec", "labelled_mixture", "run_guided2d"]

DATASETS = ("two_component", "double_gaussian", "moons", "8gaussians", "spiral",
            "checkerboard", "rings")
MAX_POINTS = 200_000


@dataclass(frozen=True)
class GuidedSpec:
    """A guided 2-D run.

    Attributes
    ----------
    dataset : "two_component" (:func:`~diffview.core.guided2d.two_component`) or a toy set.
    class_index : the class c guided towards.
    w : guidance scale (1: the exact conditional model, 0: unconditional).
    method : "ode" (probability flow, Heun) or "sde" (reverse SDE, Euler-Maruyama).
    sde : the forward SDE's name ("vp", "ve", ...).
    n_points, n_steps, seed : sample size, reverse steps, seed of the prior draw and of the
        reverse SDE's noise (``default_rng(seed)``; the tilted reference uses ``seed + 1``).
    extent, grid : the square ``[-extent, extent]^2`` and its points per side for the tilted
        density (display and reference sample).
    t_end : the reverse run's last time.
    """

    dataset: str = "two_component"
    class_index: int = 0
    w: float = 4.0
    method: str = "ode"
    sde: str = "vp"
    n_points: int = 2000
    n_steps: int = 200
    seed: int = 0
    extent: float = 5.0
    grid: int = 400
    t_end: float = 1e-3

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, "
                             f"got {self.dataset!r}")
        if self.method not in ("ode", "sde"):
            raise ValueError(f"method must be ode or sde, got {self.method!r}")
        sde_mod.make_sde(self.sde)
        if not np.isfinite(self.w):
            raise ValueError(f"w must be a finite number, got {self.w}")
        for name, low, high in (("n_points", 1, MAX_POINTS), ("n_steps", 1, 100_000),
                                ("grid", 16, 2000)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise ValueError(f"{name} must be an integer in {low}..{high}, got {v!r}")
        if not self.extent > 0:
            raise ValueError(f"extent must be > 0, got {self.extent}")


@dataclass(frozen=True, kw_only=True)
class GuidedFrame(Progress):
    """After one reverse step: ``time`` and the guided points ``x`` (N, 2)."""

    time: float
    x: np.ndarray


@dataclass
class GuidedResult:
    """A finished (or cancelled) guided run.

    Attributes
    ----------
    samples : (N, 2) the guided points at the run's end.
    tilted : (N, 2) samples of p(x|c)^w p(x)^(1-w) at t = 0 (grid sampler).
    xs, ys : (grid,) the grid axes; density : (grid, grid) the tilted density on it
        (Riemann sum 1).
    sw : sliced-Wasserstein-2 distance between ``samples`` and ``tilted``.
    sw_floor : the same between ``tilted`` and a second, independent tilted sample of size N.
    cancelled : True when cancelled (``samples`` is then where the points were).
    """

    samples: np.ndarray
    tilted: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    density: np.ndarray
    sw: float
    sw_floor: float
    cancelled: bool = False


def labelled_mixture(name: str) -> LabelledMixture:
    """The labelled mixture a spec's ``dataset`` names."""
    return two_component() if name == "two_component" else toy_labelled(name)


def run_guided2d(spec: GuidedSpec, token: CancelToken | None = None
                 ) -> Generator[GuidedFrame, None, GuidedResult]:
    """Sample ``spec.n_points`` guided points and compare them with the tilted density.

    Yields
    ------
    GuidedFrame after every reverse step.

    Returns
    -------
    GuidedResult
    """
    lm = labelled_mixture(spec.dataset)
    sde = sde_mod.make_sde(spec.sde)
    score = guided_score_fn(lm, sde, spec.class_index, spec.w)
    rng = np.random.default_rng(spec.seed)
    x = sde.prior_sample((spec.n_points, 2), rng)
    it = sde_mod.reverse_iter(sde, cancellable(score, token, chunk=8192), x, spec.n_steps,
                              rng, spec.method, t_end=spec.t_end)
    cancelled = False
    try:
        for k, (t, x) in enumerate(it, start=1):
            check(token)
            yield GuidedFrame(step=k, total=spec.n_steps, time=float(t), x=x)
    except Cancelled:
        cancelled = True
    axis = np.linspace(-spec.extent, spec.extent, spec.grid)
    density = tilted_density_grid(lm, spec.class_index, spec.w, axis, axis)
    ref_rng = np.random.default_rng(spec.seed + 1)
    tilted = sample_grid_density(density, axis, axis, spec.n_points, ref_rng)
    second = sample_grid_density(density, axis, axis, spec.n_points, ref_rng)
    sw_rng = np.random.default_rng(0)
    sw = sliced_wasserstein(x, tilted, sw_rng)
    floor = sliced_wasserstein(second, tilted, np.random.default_rng(0))
    return GuidedResult(np.asarray(x), tilted, axis, axis.copy(), density, sw, floor, cancelled)
