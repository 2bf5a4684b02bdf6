"""The exact epsilon of a Gaussian mixture: a "perfectly trained network" for 2-D points.

Discrete time (DDPM, Ho et al. 2020, eq. 4), timestep index ``i`` = paper step ``t = i + 1``::

    x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps
    p_t = sum_k w_k N(sqrt(ab_t) mu_k, ab_t C_k + (1 - ab_t) I)
    eps*(x, t) = E[eps | x_t = x] = -sqrt(1 - ab_t) grad log p_t(x)

Continuous time (Song et al. 2021): the same with ``sqrt(ab_t) -> m(t)``,
``sqrt(1 - ab_t) -> s(t)`` of a linear SDE. Both are evaluated by
:func:`diffview.core.mixtures.mixture_eps`; the discrete schedule is handed to it as an object
with the ``mean_coef`` / ``marginal_std`` interface of the core SDEs, indexed by paper step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from diffview.engine.metadata import ModelInfo

__all__ = ["AnalyticDenoiser"]


class _ScheduleAsKernel:
    """A discrete schedule seen through the SDE kernel interface, time = paper step 0..T."""

    def __init__(self, schedule: Any) -> None:
        ab = np.concatenate([[1.0], np.asarray(schedule.alpha_bars, dtype=np.float64)])
        self._mean = np.sqrt(ab)
        self._std = np.sqrt(1.0 - ab)

    def mean_coef(self, step):
        return self._mean[np.asarray(step, dtype=np.int64)]

    def marginal_std(self, step):
        return self._std[np.asarray(step, dtype=np.int64)]


class AnalyticDenoiser:
    """Exact epsilon of a Gaussian mixture data distribution, for points ``(B, d)``.

    Parameters
    ----------
    mixture : diffview.core.mixtures.GaussianMixture
        The clean data distribution p_0.
    schedule : str or NoiseSchedule, default "linear"
        Discrete noise schedule (used when ``sde`` is None); a name is built with ``T`` steps.
    T : int, default 1000
        Number of steps when ``schedule`` is a name.
    sde : LinearSDE or dict, optional
        Continuous time instead: a core SDE object or its ``to_dict()`` form, e.g.
        ``{"name": "vp", "beta_min": 0.1, "beta_max": 20.0, "T": 1.0}``. ``predict_eps`` then
        takes float times in ``[0, sde.T]``.
    dataset : str
        Name shown in the GUI.

    Attributes
    ----------
    info : ModelInfo
        kind "points", ``sample_shape = (d,)``, the schedule or SDE, value range from the
        mixture's spread.
    provider : str
        Always ``"analytic"``.
    """

    provider = "analytic"
    provider_note = ""

    def __init__(self, mixture: Any, schedule: Any = "linear", T: int = 1000,  # noqa: N803
                 sde: Any = None, dataset: str = "mixture") -> None:
        from diffview.core import mixtures  # noqa: F401 - fail early if the module is missing

        self.mixture = mixture
        d = int(mixture.dim)
        spread = float(np.max(np.abs(mixture.means)) + 3.0 * np.sqrt(
            np.max(np.diagonal(mixture.covs, axis1=1, axis2=2))))
        value_range = (-spread, spread)
        if sde is not None:
            from diffview.core.sde import make_sde

            self.sde = make_sde(**sde) if isinstance(sde, dict) else sde
            self.schedule = None
            self._kernel = self.sde
            sde_dict = self.sde.to_dict()
            self.info = ModelInfo(kind="points", sample_shape=(d,), time_kind="continuous",
                                  sde=sde_dict, value_range=value_range, dataset=dataset)
        else:
            from diffview.core.schedules import make_schedule

            self.schedule = make_schedule(schedule, T) if isinstance(schedule, str) else schedule
            self.sde = None
            self._kernel = _ScheduleAsKernel(self.schedule)
            self.info = ModelInfo(kind="points", sample_shape=(d,),
                                  schedule=getattr(self.schedule, "name", "linear"),
                                  T=int(self.schedule.T), time_kind="index",
                                  value_range=value_range, dataset=dataset)

    @classmethod
    def from_info(cls, mixture: Any, info: ModelInfo) -> AnalyticDenoiser:
        """Build one that matches a network's :class:`ModelInfo` (its schedule or SDE)."""
        if info.time_kind == "continuous":
            return cls(mixture, sde=info.sde, dataset=info.dataset)
        return cls(mixture, schedule=info.schedule, T=info.T, dataset=info.dataset)

    @classmethod
    def for_toy(cls, name: str, **kw: Any) -> AnalyticDenoiser:
        """The exact denoiser of a 2-D toy data set of ``diffview.core.toy2d``."""
        from diffview.core.toy2d import toy_mixture

        return cls(toy_mixture(name), dataset=name, **kw)

    def _times(self, t: Any, batch: int) -> np.ndarray:
        t = np.asarray(t)
        if t.ndim == 0:
            t = np.broadcast_to(t, (batch,))
        elif t.shape != (batch,):
            raise ValueError(f"analytic denoiser: t has shape {t.shape}, expected () or "
                             f"({batch},)")
        if self.info.time_kind == "continuous":
            t = t.astype(np.float64)
            if np.any(t < 0) or np.any(t > self.sde.T) or not np.all(np.isfinite(t)):
                raise ValueError(f"analytic denoiser: time must lie in [0, {self.sde.T}], "
                                 f"found {t.min()}..{t.max()}")
            return t
        if t.dtype.kind == "f" and not np.all(t == np.round(t)):
            raise ValueError(f"analytic denoiser: timestep indices must be integers, found {t}")
        t = t.astype(np.int64)
        if t.size and (t.min() < 0 or t.max() > self.info.T - 1):
            raise ValueError(f"analytic denoiser: timestep index out of range "
                             f"0..{self.info.T - 1}, found {t.min()}..{t.max()}")
        return t + 1  # index i is the paper's step i + 1; step 0 is the clean data

    def predict_eps(self, x: np.ndarray, t: Any) -> np.ndarray:
        """The exact epsilon ``-s grad log p_t(x)``.

        Parameters
        ----------
        x : ndarray, shape (B, d)
        t : int, float or ndarray of shape (B,)
            Timestep indices ``0 .. T-1`` (discrete) or SDE times (continuous).

        Returns
        -------
        ndarray, float32, shape (B, d)
        """
        from diffview.core.mixtures import mixture_eps

        x = np.asarray(x, dtype=np.float64)
        d = self.info.sample_shape[0]
        if x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"analytic denoiser: x has shape {x.shape}, expected (B, {d})")
        times = self._times(t, x.shape[0])
        return mixture_eps(self.mixture, self._kernel, x, times).astype(np.float32)

    def score(self, x: np.ndarray, t: Any) -> np.ndarray:
        """grad log p_t(x), shape (B, d) float64 (same ``t`` convention as predict_eps)."""
        from diffview.core.mixtures import mixture_score

        x = np.asarray(x, dtype=np.float64)
        times = self._times(t, x.shape[0])
        out = np.empty_like(x)
        for time in np.unique(times):
            sel = times == time
            out[sel] = mixture_score(self.mixture, self._kernel, x[sel], time)
        return out

    def __repr__(self) -> str:
        how = f"sde={self.info.sde}" if self.sde is not None else \
            f"schedule={self.info.schedule!r}, T={self.info.T}"
        return f"AnalyticDenoiser({self.mixture!r}, {how})"
