"""Exact classifier-free guidance on labelled Gaussian mixtures (2-D toy sets).

A labelled mixture gives each component a class. The class-conditional data distribution is
the class's sub-mixture, p_0(x | c) = sum_{k in c} w_k N_k / sum_{k in c} w_k, and under a
linear SDE it diffuses like any mixture (:meth:`GaussianMixture.marginal`), so both scores are
exact at every t:

    s_u(x, t) = grad log p_t(x)         s_c(x, t) = grad log p_t(x | c)

and the guided score of classifier-free guidance (Ho and Salimans 2022, [HS] eq. 6 in score
form, with this project's ``w``: 1 is conditional, see :mod:`diffview.core.guidance`) is

    s_w(x, t) = s_u + w (s_c - s_u) = grad log [ p_t(x | c)^w  p_t(x)^(1 - w) ].

At each t this is the score of the tilted density p_t(x|c)^w p_t(x)^(1-w), but that family of
densities is not the diffusion of its t = 0 member: diffusing p_0(x|c)^w p_0(x)^(1-w) gives
other intermediate densities. So sampling with s_w does not draw from
p_0(x|c)^w p_0(x)^(1-w) ([HS] fig. 2 shows the same for a 1-D-projected mixture): the run
:mod:`diffview.runs.guided2d` measures the gap.

numpy only (the core layer).
"""

from __future__ import annotations

import numpy as np

from .mixtures import GaussianMixture

__all__ = ["LabelledMixture", "guided_score", "guided_score_fn", "sample_grid_density",
           "tilted_density_grid", "tilted_log_density", "toy_labelled", "two_component"]


class LabelledMixture:
    """A Gaussian mixture whose components carry class labels ``0 .. num_classes - 1``.

    Parameters
    ----------
    mixture : GaussianMixture, K components.
    labels : int (K,), each component's class; every class in ``0 .. max`` must occur.
    class_names : optional names, one per class.
    """

    def __init__(self, mixture: GaussianMixture, labels, class_names=()) -> None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape != (mixture.n_components,) or labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be {mixture.n_components} integers, one per "
                             f"component, got {labels.shape} {labels.dtype}")
        n = int(labels.max()) + 1
        if labels.min() < 0 or np.unique(labels).size != n:
            raise ValueError(f"labels must use every class 0..{n - 1}")
        names = tuple(class_names) or tuple(f"class {k}" for k in range(n))
        if len(names) != n:
            raise ValueError(f"need {n} class names, got {len(names)}")
        self.mixture, self.labels, self.class_names = mixture, labels.astype(np.int64), names
        self._subs: dict[int, GaussianMixture] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _check_class(self, c: int) -> int:
        if isinstance(c, bool) or int(c) != c or not 0 <= int(c) < self.num_classes:
            raise ValueError(f"class must be in 0..{self.num_classes - 1}, got {c!r}")
        return int(c)

    def prior(self, c: int) -> float:
        """p(c): the total weight of the class's components."""
        return float(self.mixture.weights[self.labels == self._check_class(c)].sum())

    def class_mixture(self, c: int) -> GaussianMixture:
        """p_0(x | c): the class's components with their weights renormalised."""
        c = self._check_class(c)
        if c not in self._subs:
            sel = self.labels == c
            m = self.mixture
            self._subs[c] = GaussianMixture(m.weights[sel], m.means[sel], m.covs[sel])
        return self._subs[c]


def guided_score(lm: LabelledMixture, sde, x: np.ndarray, time: float, c: int,
                 w: float) -> np.ndarray:
    """Exact guided score ``s_u + w (s_c - s_u)`` at ``time`` of ``sde``; (N, d) -> (N, d).

    ``w = 1`` gives the exact conditional score, ``w = 0`` the unconditional one.
    """
    s_u = lm.mixture.marginal(sde, time).score(x)
    s_c = lm.class_mixture(c).marginal(sde, time).score(x)
    return s_u + float(w) * (s_c - s_u)


def guided_score_fn(lm: LabelledMixture, sde, c: int, w: float):
    """``score(x, time)`` of :func:`guided_score`, a ``ScoreFn`` for the reverse samplers of
    :mod:`diffview.core.sde` (keeps the last time's marginals: Heun asks twice)."""
    full, sub = lm.mixture, lm.class_mixture(c)
    w = float(w)
    last: dict[float, tuple[GaussianMixture, GaussianMixture]] = {}

    def score(x: np.ndarray, time: float) -> np.ndarray:
        time = float(time)
        pair = last.get(time)
        if pair is None:
            pair = (full.marginal(sde, time), sub.marginal(sde, time))
            last.clear()
            last[time] = pair
        s_u = pair[0].score(x)
        return s_u + w * (pair[1].score(x) - s_u)

    return score


def tilted_log_density(lm: LabelledMixture, c: int, w: float, x: np.ndarray) -> np.ndarray:
    """``w log p_0(x | c) + (1 - w) log p_0(x)``, the unnormalised log of the tilted density
    p(x|c)^w p(x)^(1-w) at t = 0; (N, d) -> (N,)."""
    w = float(w)
    return w * lm.class_mixture(c).log_prob(x) + (1.0 - w) * lm.mixture.log_prob(x)


def tilted_density_grid(lm: LabelledMixture, c: int, w: float, xs: np.ndarray,
                        ys: np.ndarray) -> np.ndarray:
    """p(x|c)^w p(x)^(1-w) on a grid, xs (nx,), ys (ny,) -> (ny, nx), for display.

    Normalised so that its Riemann sum over the grid is 1 (the true normaliser has no closed
    form for w != 0, 1); for w > 1 the tilt is integrable (it falls off like p(x|c)).
    """
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    gx, gy = np.meshgrid(xs, ys)
    logp = tilted_log_density(lm, c, w, np.column_stack([gx.ravel(), gy.ravel()]))
    dens = np.exp(logp - logp.max()).reshape(ys.size, xs.size)
    cell = (abs(xs[-1] - xs[0]) / max(xs.size - 1, 1)) * (abs(ys[-1] - ys[0]) / max(ys.size - 1, 1))
    return dens / (dens.sum() * cell)


def sample_grid_density(density: np.ndarray, xs: np.ndarray, ys: np.ndarray, n: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` points from a density tabulated on an even grid (ny, nx): a cell by its mass,
    then a uniform position inside it. Exact up to the grid's resolution."""
    p = np.asarray(density, np.float64).ravel()
    p = p / p.sum()
    idx = rng.choice(p.size, size=int(n), p=p)
    iy, ix = np.divmod(idx, xs.size)
    dx = (xs[-1] - xs[0]) / (xs.size - 1)
    dy = (ys[-1] - ys[0]) / (ys.size - 1)
    u = rng.random((int(n), 2)) - 0.5
    return np.column_stack([xs[ix] + u[:, 0] * dx, ys[iy] + u[:, 1] * dy])


def _toy_labels(name: str, mix: GaussianMixture) -> tuple[np.ndarray, tuple[str, ...]]:
    from . import toy2d

    k = mix.n_components
    if name in ("double_gaussian", "8gaussians"):
        labels = np.arange(k)
        names = (("left", "right") if name == "double_gaussian"
                 else tuple(f"{45 * j}°" for j in range(k)))
        return labels, names
    if name == "moons":
        first = toy2d._arc_points(*toy2d.moons_curves()[0]).shape[0]
        return (np.arange(k) >= first).astype(np.int64), ("upper moon", "lower moon")
    if name == "rings":
        radius = np.linalg.norm(mix.means, axis=1)
        radii = np.asarray(toy2d.RING_RADII)
        labels = np.argmin(np.abs(radius[:, None] - radii[None]), axis=1)
        return labels, tuple(f"ring r={r:g}" for r in radii)
    if name == "checkerboard":
        per = toy2d.CHECKER_PER_SIDE ** 2
        labels = np.arange(k) // per
        return labels, tuple(f"square {j}" for j in range(labels.max() + 1))
    if name == "spiral":
        return (np.arange(k) >= k // 2).astype(np.int64), ("inner half", "outer half")
    raise ValueError(f"name must be one of {toy2d.TOY_DATASETS}, got {name!r}")


def toy_labelled(name: str) -> LabelledMixture:
    """A toy set of :mod:`diffview.core.toy2d` as a labelled mixture: each Gaussian of
    double_gaussian and 8gaussians a class, each moon, ring or filled checkerboard square a
    class, the spiral's inner and outer halves."""
    from .toy2d import toy_mixture

    mix = toy_mixture(name)
    labels, names = _toy_labels(name, mix)
    return LabelledMixture(mix, labels, names)


def two_component(separation: float = 3.0, std: float = 0.6, weight: float = 0.5
                  ) -> LabelledMixture:
    """The simplest labelled mixture: two isotropic Gaussians at x = -+separation / 2, class 0
    on the left (weight ``weight``), class 1 on the right."""
    half = 0.5 * float(separation)
    means = np.array([[-half, 0.0], [half, 0.0]])
    covs = np.broadcast_to(std * std * np.eye(2), (2, 2, 2))
    return LabelledMixture(GaussianMixture([weight, 1.0 - weight], means, covs), [0, 1],
                           ("left", "right"))

