"""The forward Markov chain as a run: x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z_t
(Ho et al. 2020, eq. 2) for t = 1..T from seeded z_t, every state kept."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from diffview.core import forward as fwd
from diffview.core.schedules import NoiseSchedule
from diffview.runs.base import CancelToken, Progress, check

__all__ = ["CHAIN_BUDGET_BYTES", "ChainFrame", "chain_noise_rng", "run_forward_chain"]

CHAIN_BUDGET_BYTES = 256 * 2**20  # every chain state is kept in memory up to this size


@dataclass(frozen=True, kw_only=True)
class ChainFrame(Progress):
    """Progress of the chain: ``step`` states of ``total`` computed."""


def chain_noise_rng(seed: int) -> np.random.Generator:
    """The generator of the chain's z_1..z_T for a scrub with noise seed ``seed``."""
    return np.random.default_rng((seed, 1))


def run_forward_chain(x0: np.ndarray, schedule: NoiseSchedule, seed: int,
                      token: CancelToken | None = None,
                      frame_every: int = 50) -> Generator[ChainFrame, None, np.ndarray]:
    """Run the chain from ``x0`` (C, H, W) for all T steps; returns the states (T, C, H, W),
    ``states[k]`` = x_{k+1}.

    Raises
    ------
    ValueError
        When the states would exceed :data:`CHAIN_BUDGET_BYTES`.
    """
    total = schedule.T
    nbytes = x0.astype(np.float32).nbytes * total
    if nbytes > CHAIN_BUDGET_BYTES:
        raise ValueError(f"the step-by-step chain would need {nbytes / 2**20:.0f} MB for this "
                         f"image (at most {CHAIN_BUDGET_BYTES / 2**20:.0f} MB)")
    states = np.empty((total, *x0.shape), np.float32)
    for k, x in enumerate(fwd.markov_chain(x0, schedule, chain_noise_rng(seed))):
        states[k] = x
        if k % frame_every == 0:
            check(token)
            yield ChainFrame(step=k, total=total)
    return states
