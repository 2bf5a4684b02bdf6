"""The sampler race: several samplers from the same initial noise, stepped by network calls.

Racer j is exactly the run :func:`diffview.runs.sampling.run_sampling` of the race's spec with
racer j's sampler and steps (same images, same step noise: :mod:`diffview.runs.seeding`).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np

from diffview.core.samplers import SAMPLER_LABELS, SAMPLERS, sampler_class
from diffview.runs.base import Cancelled, CancelToken, Progress
from diffview.runs.sampling import SamplingResult, SamplingSpec, build_sampler, run_sampling
from diffview.runs.seeding import start_noise

__all__ = ["RaceFrame", "RaceResult", "run_race"]


@dataclass(frozen=True, kw_only=True)
class RaceFrame(Progress):
    """One step of one sampler of a race; ``step``/``total`` count steps over all samplers.

    Attributes
    ----------
    racer : int
        Which sampler (position in the race's list) took the step.
    racer_step, racer_total : int
        Its steps done and its number of steps.
    nfe : int
        Its network evaluations per image so far.
    x, x0_pred : ndarray, (m, *sample_shape)
        Its first m = min(batch, MOSAIC_MAX) images after the step and their x0 predictions.
    """

    racer: int
    racer_step: int
    racer_total: int
    nfe: int
    x: np.ndarray
    x0_pred: np.ndarray


@dataclass
class RaceResult:
    """The race's outcome: per sampler, its label, final batch (B, *sample_shape) and NFE."""

    labels: list
    finals: list
    nfe: list
    cancelled: bool = False


def run_race(spec: SamplingSpec, model, samplers: Sequence[tuple[str, int | None]],
             token: CancelToken | None = None) -> Generator[RaceFrame, None, RaceResult]:
    """The sampler race: every sampler from the same initial noise (the seeding rule's x_T).

    Racer j is exactly ``run_sampling(spec.replace(sampler=name_j, n_steps=steps_j))`` (same
    images, same step noise); the race steps whichever racer has used the fewest network
    evaluations so far, so equal NFE budgets finish together.

    Parameters
    ----------
    spec : SamplingSpec
        Seed, batch, eta (DDIM racers only), spacing, clipping, classes of every racer.
    samplers : sequence of (name, n_steps or None)

    Returns
    -------
    RaceResult with each racer's label, final batch and NFE per image.
    """
    if not samplers:
        raise ValueError("give at least one sampler to race")
    specs = []
    for name, steps in samplers:
        eta = spec.eta if name in SAMPLERS and sampler_class(name).uses_eta else 0.0
        specs.append(spec.replace(sampler=name, n_steps=steps, eta=eta, keep=0))
    gens = [run_sampling(s, model, token) for s in specs]
    totals = [len(build_sampler(s, model.info).timesteps) for s in specs]
    labels = [f"{SAMPLER_LABELS.get(s.sampler, s.sampler)} {n}" for s, n in zip(specs, totals,
                                                                               strict=True)]
    results: list[SamplingResult | None] = [None] * len(gens)
    nfe = [0] * len(gens)
    finals = [None] * len(gens)
    total = sum(totals)
    done = 0
    active = set(range(len(gens)))
    cancelled = False
    try:
        while active:
            j = min(active, key=lambda i: (nfe[i], i))
            try:
                frame = next(gens[j])
            except StopIteration as stop:
                results[j] = stop.value
                finals[j] = stop.value.final
                nfe[j] = stop.value.nfe
                active.discard(j)
                if stop.value.cancelled:
                    raise Cancelled from None
                continue
            done += 1
            nfe[j] = frame.nfe
            yield RaceFrame(step=done, total=total, racer=j, racer_step=frame.step,
                            racer_total=frame.total, nfe=frame.nfe, x=frame.x,
                            x0_pred=frame.x0_pred)
    except Cancelled:
        cancelled = True
        for j in active:
            try:  # a racer hands back what it has when told to stop
                gens[j].throw(Cancelled())
            except StopIteration as stop:
                finals[j] = stop.value.final
                nfe[j] = stop.value.nfe
            except Cancelled:  # it had not started: it is still at its initial noise
                finals[j] = _initial(specs[j], model.info)
    return RaceResult(labels, finals, nfe, cancelled)


def _initial(spec: SamplingSpec, info) -> np.ndarray:
    """The batch a racer starts from, (B, *sample_shape)."""
    if spec.start is not None:
        x = np.asarray(spec.start.x, np.float32)
        return np.broadcast_to(x, (spec.batch, *info.sample_shape)).copy()
    return start_noise(spec.seed, tuple(info.sample_shape), spec.batch, spec.first_image)
