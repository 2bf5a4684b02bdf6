"""What one panel hands another: "Denoise from here" and "Restore from here".

"Restore from here" (a cold degradation) goes out as ``context.restore_requested(request)``.

The forward panel emits ``context.denoise_requested(request, t_index)`` with a
:class:`DenoiseRequest` (older code sent the bare x_t array; a receiver accepts both with
:func:`as_request`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DenoiseRequest", "as_request"]


@dataclass(frozen=True)
class DenoiseRequest:
    """A start for the reverse process from the forward panel.

    Attributes
    ----------
    x_t : ndarray (C, H, W)
        The x_t the forward panel shows (in the model's shape and schedule).
    t_index : int
        Its timestep index in the model's schedule.
    x0 : ndarray (C, H, W) or None
        The clean image it came from, so a receiver can draw B independent
        x_t ~ q(x_t | x_0) for a batch instead of repeating one x_t B times.
    degradation : str
        "noise" for Gaussian noise (denoise with DDPM/DDIM/DPM-Solver), or the cold
        degradation ("blur", "mask", "pixelate") to restore with a restoration model.
    note : str
        A remark for the status line (e.g. the image was resized for the model).
    severity : float or None
        For a cold degradation: how far it went, t / T in (0, 1].
    """

    x_t: np.ndarray
    t_index: int
    x0: np.ndarray | None = None
    degradation: str = "noise"
    note: str = ""
    severity: float | None = None


def as_request(payload, t_index: int) -> DenoiseRequest:
    """The :class:`DenoiseRequest` of a ``denoise_requested`` payload (a request or an x_t)."""
    if isinstance(payload, DenoiseRequest):
        return payload
    return DenoiseRequest(np.asarray(payload, np.float32), int(t_index))
