"""Jobs of the sampling panel: :mod:`diffview.runs` sampling runs as JobRunner generators.

No Qt and no maths here: a job runs :func:`diffview.runs.sampling.run_sampling` or
:func:`diffview.runs.race.run_race` on the runner's thread and hands on their frames in the
tuple form the panel reads; the result is the run's own (a cancelled run's partial result
reaches ``run_partial``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from diffview.core.samplers import SAMPLER_LABELS
from diffview.runs.base import Cancelled
from diffview.runs.race import RaceResult, run_race
from diffview.runs.sampling import (
    KEEP_BUDGET,
    KEEP_MAX,
    MOSAIC_MAX,
    SamplingResult,
    SamplingSpec,
    keep_count,
    run_sampling,
)

__all__ = ["KEEP_BUDGET", "KEEP_MAX", "MOSAIC_MAX", "RaceResult", "RunResult", "SAMPLER_LABELS",
           "keep_count", "parse_race_spec", "race_job", "sampling_job"]

RunResult = SamplingResult


def parse_race_spec(text: str) -> list[tuple[str, int]]:
    """``"ddim:10, dpm++2m:20"`` -> [("ddim", 10), ("dpm++2m", 20)]; raises ValueError."""
    out = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, _, steps = part.partition(":")
        name = name.strip().lower()
        if name not in SAMPLER_LABELS:
            raise ValueError(f"unknown sampler {name!r} (use ddpm, ddim or dpm++2m)")
        try:
            n = int(steps) if steps.strip() else 50
        except ValueError:
            raise ValueError(f"steps must be a whole number in {part!r}") from None
        if n < 1:
            raise ValueError(f"steps must be at least 1 in {part!r}")
        out.append((name, n))
    if not out:
        raise ValueError("give at least one sampler, e.g. ddim:10, dpm++2m:20")
    return out


def _as_tuples(run: Generator, convert: Callable) -> Generator:
    """Yield ``convert(frame)`` for each frame of ``run`` and return its result; a Cancelled
    thrown in at a yield is passed on to ``run``, which returns its partial result."""
    try:
        frame = next(run)
        while True:
            try:
                yield convert(frame)
            except Cancelled:
                frame = run.throw(Cancelled())
            else:
                frame = next(run)
    except StopIteration as stop:
        return stop.value


def sampling_job(model, spec: SamplingSpec):
    """A JobRunner job: ``run_sampling(spec, model)``, frames as (step, total, t_index, x, x0)."""

    def job(token):
        return (yield from _as_tuples(run_sampling(spec, model, token),
                                      lambda f: (f.step, f.total, f.t_index, f.x, f.x0_pred)))

    return job


def race_job(model, spec: SamplingSpec, configs):
    """A JobRunner job: ``run_race(spec, model, configs)``, frames as (racer, its steps done,
    its steps, x, x0)."""

    def job(token):
        return (yield from _as_tuples(run_race(spec, model, configs, token),
                                      lambda f: (f.racer, f.racer_step, f.racer_total, f.x,
                                                 f.x0_pred)))

    return job
