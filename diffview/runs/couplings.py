"""Couplings of data and noise for flow-matching training: independent, minibatch OT, reflow.

A coupling decides which noise sample eps each data point x_0 is paired with on the
interpolant x_t = (1 - t) x_0 + t eps (:mod:`diffview.core.flow`):

- independent: the pairs as drawn, (x_0, eps) ~ p_0 x N(0, I) (Lipman et al. 2023, [L]);
- minibatch optimal transport: within a batch of n and n, the permutation that minimises
  sum_i ||x_0,i - eps_sigma(i)||^2, an exact assignment problem (Tong et al. 2023, "Improving
  and generalizing flow-based generative models with minibatch optimal transport", sec. 3.2;
  Pooladian et al. 2023, "Multisample Flow Matching"). The marginals stay p_0 and N(0, I)
  (a permutation of independent draws), the paths cross less, and the learned flow is
  straighter;
- reflow: pairs (x_0, eps) where x_0 is the end point of the previous flow's ODE started at
  eps (Liu et al. 2023, "Flow Straight and Fast", [R] sec. 2.2, the k-rectified flow).
  Training on them straightens the flow further; the x_0 follow the previous model, so its
  errors carry over.

The assignment uses :func:`scipy.optimize.linear_sum_assignment` (Jonker-Volgenant, exact),
imported only when an OT coupling is asked for. Nothing here imports torch: the training
loop calls these functions on numpy arrays.
"""

from __future__ import annotations

import numpy as np

from diffview.core.flow import VelocityFn, flow_time_grid, ode_iter
from diffview.runs.base import CancelToken, check

__all__ = ["COUPLINGS", "couple", "coupling_cost", "independent_coupling", "ot_coupling",
           "reflow_pairs"]

COUPLINGS = ("independent", "ot")


def _pair(x0: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x0 = np.asarray(x0)
    eps = np.asarray(eps)
    if x0.ndim != 2 or x0.shape != eps.shape or x0.shape[0] < 1:
        raise ValueError(f"x0 and eps must be (n, d) arrays of the same shape with n >= 1, "
                         f"got {x0.shape} and {eps.shape}")
    return x0, eps


def independent_coupling(x0: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs as drawn: (x0, eps), both (n, d)."""
    return _pair(x0, eps)


def ot_coupling(x0: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-pair the noise with the exact minibatch optimal-transport permutation.

    Parameters
    ----------
    x0, eps : (n, d) data and noise of one batch.

    Returns
    -------
    (x0, eps[sigma]) with sigma minimising sum_i ||x0_i - eps_sigma(i)||^2; x0 is unchanged.
    """
    from scipy.optimize import linear_sum_assignment

    x0, eps = _pair(x0, eps)
    a = x0.astype(np.float64)
    b = eps.astype(np.float64)
    # ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b, clipped at 0 against rounding
    cost = np.maximum(np.sum(a * a, 1)[:, None] + np.sum(b * b, 1)[None] - 2.0 * a @ b.T, 0.0)
    rows, cols = linear_sum_assignment(cost)
    # rows come back sorted (0..n-1) for a square matrix, so x0 keeps its order
    return x0[rows], eps[cols]


def couple(name: str, x0: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the coupling ``name`` (one of :data:`COUPLINGS`)."""
    if name == "independent":
        return independent_coupling(x0, eps)
    if name == "ot":
        return ot_coupling(x0, eps)
    raise ValueError(f"coupling must be one of {COUPLINGS}, got {name!r}")


def coupling_cost(x0: np.ndarray, eps: np.ndarray) -> float:
    """Mean squared distance (1/n) sum_i ||x0_i - eps_i||^2 of paired rows."""
    x0, eps = _pair(x0, eps)
    diff = np.asarray(x0, np.float64) - np.asarray(eps, np.float64)
    return float(np.mean(np.sum(diff * diff, axis=1)))


def reflow_pairs(velocity: VelocityFn, eps: np.ndarray, n_steps: int = 50,
                 method: str = "rk4",
                 token: CancelToken | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of the flow ``velocity``: integrate dx/dt = v from t = 1 at ``eps`` down to 0.

    Parameters
    ----------
    velocity : ``v(x (n, d), t) -> (n, d)``, the previous flow (learned or exact).
    eps : (n, d) starting noise.
    n_steps, method : the ODE solver (:data:`diffview.core.flow.SOLVERS`).
    token : checked between steps.

    Returns
    -------
    (x0, eps): the flow's end points (n, d) float64 and the noise they came from.
    """
    eps = np.asarray(eps, dtype=np.float64)
    if eps.ndim != 2 or eps.shape[0] < 1:
        raise ValueError(f"eps must be an (n, d) array with n >= 1, got {eps.shape}")
    x = eps
    for _, x in ode_iter(method, velocity, eps, flow_time_grid(n_steps)):  # noqa: B007
        check(token)
    return x, eps
