"""What the 2-D panel's time axis shows, Qt-free: the clouds, the last run and its frames.

:class:`CloudScene` holds the data x_0 (N, 2), the fixed forward noise eps, the prior samples
x_T and the Metropolis start, all drawn from the state's seed, and the :class:`Recording` of the
last run; :meth:`CloudScene.frame` turns a slider position into a :class:`ShownFrame`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from diffview.core import sde as sde_mod
from diffview.core.mixtures import GaussianMixture
from diffview.core.toy2d import toy_mixture
from diffview.gui.panels.sde2d.state import DRAWING, EXACT_FRAMES, Sde2DState
from diffview.runs.points2d import Recording, exact_score, learned_score

__all__ = ["CloudScene", "ShownFrame"]


@dataclass(frozen=True)
class ShownFrame:
    """One position of the time axis.

    ``time``: SDE time (MCMC: step); ``points``: series name -> (N, 2); ``trails``: series
    name -> (k + 1, n_trails, 2), or None when the frame has no paths."""

    time: float
    points: dict
    trails: dict | None = None


class CloudScene:
    """The data, noise, prior samples and last run of one :class:`Sde2DState`."""

    def __init__(self) -> None:
        self.state = Sde2DState()
        self.drawn_mixture: GaussianMixture | None = None
        self.sde: sde_mod.LinearSDE = sde_mod.make_sde("vp")
        self.x0 = self.eps = self.x_T = np.zeros((0, 2))
        self.mcmc_x0 = np.zeros((0, 2))
        self.recording: Recording | None = None
        self._key: tuple | None = None
        self._group_ref: np.ndarray | None = None
        self._groups: np.ndarray | None = None

    # ---- what p_0 is -------------------------------------------------------------------------
    @property
    def mixture(self) -> GaussianMixture:
        """p_0 as a Gaussian mixture (the drawing's kernel density for "My drawing")."""
        if self.state.dataset == DRAWING and self.drawn_mixture is not None:
            return self.drawn_mixture
        name = self.state.dataset if self.state.dataset != DRAWING else "double_gaussian"
        return toy_mixture(name)

    def score(self, source: str, model=None):
        """The ScoreFn of ``source``: "learned" (``model``'s, when there is one) or "exact"."""
        if source == "learned" and model is not None:
            return learned_score(model, self.sde)
        return exact_score(self.mixture, self.sde)

    def update(self, state: Sde2DState, drawn_mixture: GaussianMixture | None) -> bool:
        """Adopt ``state``; draw the clouds again when data, SDE, N or seed changed.

        Returns whether the samples were redrawn (the last run is then dropped)."""
        self.state = state
        key = (state.dataset, state.sde, state.n, state.seed, id(drawn_mixture))
        if key == self._key:
            return False
        self._key = key
        self.drawn_mixture = drawn_mixture
        self.sde = sde_mod.make_sde(state.sde)
        n, seed = state.n, state.seed
        self.x0 = self.mixture.sample(n, np.random.default_rng((seed, 0)))
        self.eps = np.random.default_rng((seed, 1)).standard_normal((n, 2))
        self.x_T = self.sde.prior_sample((n, 2), np.random.default_rng((seed, 2)))
        # chains start from a wide Gaussian N(0, 2^2 I), seeded like the data
        self.mcmc_x0 = 2.0 * np.random.default_rng((seed, 3)).standard_normal((n, 2))
        self.recording = None
        return True

    # ---- the time axis -----------------------------------------------------------------------
    def exact_times(self) -> np.ndarray:
        return self.sde.time_grid(EXACT_FRAMES)

    def frame_count(self) -> int:
        if not self.state.needs_run:
            return EXACT_FRAMES + 1
        return len(self.recording) if self.recording is not None else 1

    def frame_times(self) -> list[float]:
        if not self.state.needs_run:
            return [float(t) for t in self.exact_times()]
        if self.recording is not None:
            return list(self.recording.times)
        return [float(self.sde.T) if self.state.mode == "reverse" else 0.0]

    def series(self) -> tuple[str, str | None]:
        """The series drawn on plot a and plot b (None: b hidden)."""
        s = self.state
        if s.process == "flow":
            return "vp", "fm"
        if s.mode != "reverse":
            return "cloud", ("cloud" if s.score == "both" and s.mode != "mcmc" else None)
        if s.score == "both":
            return "exact", "learned"
        return s.score, None

    def start_cloud(self) -> np.ndarray:
        """Where the current mode's run starts."""
        mode = "reverse" if self.state.process == "flow" else self.state.mode
        return self.x_T if mode == "reverse" else self.mcmc_x0 if mode == "mcmc" else self.x0

    def frame(self, index: int) -> ShownFrame:
        if not self.state.needs_run:
            t = float(self.exact_times()[int(index)])
            return ShownFrame(t, {"cloud": self.sde.sample_marginal(self.x0, t, self.eps)})
        rec = self.recording
        if rec is None:
            start = self.start_cloud()
            if self.state.process == "flow":
                return ShownFrame(1.0, {"vp": start, "fm": start})
            if self.state.mode == "reverse":
                return ShownFrame(float(self.sde.T), {"exact": start, "learned": start})
            return ShownFrame(0.0, {"cloud": start})
        index = min(int(index), len(rec) - 1)
        upto = rec.steps[index] + 1
        return ShownFrame(float(rec.times[index]),
                          {name: frames[index] for name, frames in rec.frames.items()},
                          {name: tr[:upto] for name, tr in rec.trails.items()})

    def groups(self, n: int) -> np.ndarray | None:
        """Colour of each particle: 1 where it started in the right half-plane (x_1 > 0)."""
        ref = self.start_cloud()
        if self.state.process == "flow" and self.recording is not None:
            ref = self.recording.frames["vp"][0]   # the run's own noise
        if ref.shape[0] != n:
            return None
        if ref is not self._group_ref:   # the same array each frame: PointsItem sorts it once
            self._group_ref, self._groups = ref, (ref[:, 0] > 0).astype(np.int8)
        return self._groups

    def default_half_range(self) -> float:
        """Half-width of a view that fits the data and the prior (3 marginal stds at T)."""
        mix = self.mixture
        var = float(np.trace(mix.covariance())) / 2.0
        half = max(4.5, float(np.max(np.abs(mix.mean()))) + 3.0 * math.sqrt(var))
        if self.state.mode != "mcmc":
            s_t = float(self.sde.marginal_std(self.sde.T))
            m_t = float(self.sde.mean_coef(self.sde.T))
            half = max(half, 3.2 * math.sqrt(m_t * m_t * var + s_t * s_t))
        return half
