"""The one interface between the samplers/GUI and a network: :class:`Denoiser`."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from diffview.engine.metadata import ModelInfo

__all__ = ["Denoiser"]


@runtime_checkable
class Denoiser(Protocol):
    """Anything that predicts the noise epsilon in a noisy sample.

    Attributes
    ----------
    info : ModelInfo
        Sample shape, schedule or SDE, value range.
    provider : str
        Where it runs: ``"CPU"``, ``"CUDA"``, or ``"analytic"`` for exact formulas.
    """

    info: ModelInfo
    provider: str

    def predict_eps(self, x: np.ndarray, t: np.ndarray | float | int) -> np.ndarray:
        """Predict epsilon.

        A class-conditional model (``info.conditional``) also takes ``labels``, int64 (B,)
        in ``0 .. info.num_classes`` (``info.null_class``: unconditional), as a third argument
        ``predict_eps(x, t, labels=None)``; None means the null class.

        Parameters
        ----------
        x : ndarray, shape (B, *info.sample_shape)
            Noisy samples.
        t : int, float or ndarray of shape (B,)
            Timestep indices (``info.time_kind == "index"``) or SDE times (``"continuous"``);
            a scalar applies to the whole batch.

        Returns
        -------
        ndarray, float32, shape of ``x``
        """
        ...
