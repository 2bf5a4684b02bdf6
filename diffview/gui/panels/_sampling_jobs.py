"""Jobs of the sampling panel: a sampling run and a sampler race, as JobRunner generators.

No Qt here: each job runs ``core.samplers.sample_iter`` on the runner's thread, yields small
frames for display and returns everything the panel replays afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diffview.core.samplers import make_sampler, sample_iter
from diffview.gui.panels import cancellable

__all__ = ["KEEP_BUDGET", "KEEP_MAX", "MOSAIC_MAX", "RaceResult", "RunResult", "SAMPLER_LABELS",
           "keep_count", "parse_race_spec", "race_job", "sampling_job"]

SAMPLER_LABELS = {"ddpm": "DDPM", "ddim": "DDIM", "dpm++2m": "DPM-Solver++ (2M)"}
KEEP_MAX = 64            # trajectories kept per run (the first images of the batch)
KEEP_BUDGET = 192 * 2**20  # bytes for the kept trajectories (x_t and predicted x0)
MOSAIC_MAX = 16          # tiles in the live mosaic


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


@dataclass
class RunResult:
    """A finished (or cancelled) run: kept trajectories and per-step statistics.

    ``xs[k]`` is x after k steps (``xs[0]`` = the starting x_T), ``x0s[k]`` the x0 predicted
    from ``xs[k]`` (the last one is the final sample itself), both (n + 1, keep, C, H, W).
    ``norms`` maps a name to a (n,) curve over the whole batch.
    """

    xs: np.ndarray
    x0s: np.ndarray
    t_indices: np.ndarray          # (n,) timestep each step started from
    final: np.ndarray              # (B, C, H, W)
    norms: dict = field(default_factory=dict)
    description: str = ""
    seed: int = 0
    nfe: int = 0


@dataclass
class RaceResult:
    labels: list
    finals: list                   # (B, C, H, W) per sampler
    nfe: list


def keep_count(batch: int, sample_nbytes: int, n_steps: int) -> int:
    """How many trajectories of a batch to keep: all up to KEEP_MAX, within KEEP_BUDGET."""
    per_image = 2 * sample_nbytes * (n_steps + 1)
    return int(max(1, min(batch, KEEP_MAX, KEEP_BUDGET // per_image)))


def sampling_job(model, make_sampler_fn, x_t: np.ndarray, seed: int, start_index,
                  description: str):
    """A JobRunner job: run the sampler, yield frames for display, return a RunResult.

    The sampler is built here, on the worker: its first construction imports parts of numpy
    lazily, which would otherwise stall the GUI thread.
    """

    def job(token):
        sampler = make_sampler_fn()
        rng = np.random.default_rng((seed, 2))
        ts = sampler.timesteps
        first = 0 if start_index is None else int(np.searchsorted(-ts, -start_index, "left"))
        n = max(1, ts.size - min(first, ts.size - 1))
        keep = keep_count(len(x_t), x_t[0].nbytes, n)
        shape = (n + 1, keep) + x_t.shape[1:]
        xs = np.empty(shape, np.float32)
        x0s = np.empty(shape, np.float32)
        xs[0] = x_t[:keep]
        t_indices = np.zeros(n, np.int64)
        norms = {name: np.zeros(n) for name in ("‖x_t‖ rms", "‖x̂₀‖ rms", "‖Δx‖ rms")}
        prev = x_t
        k = 0
        denoise = cancellable(model.predict_eps, token)
        for k, frame in enumerate(sample_iter(sampler, denoise, x_t, rng,
                                              start_index=start_index), start=1):
            xs[k] = frame.x[:keep]
            x0s[k - 1] = frame.x0_pred[:keep]
            t_indices[k - 1] = frame.t_index
            norms["‖x_t‖ rms"][k - 1] = float(np.sqrt(np.mean(frame.x**2)))
            norms["‖x̂₀‖ rms"][k - 1] = float(np.sqrt(np.mean(frame.x0_pred**2)))
            norms["‖Δx‖ rms"][k - 1] = float(np.sqrt(np.mean((frame.x - prev) ** 2)))
            prev = frame.x
            yield (k, n, frame.t_index, frame.x[:MOSAIC_MAX], frame.x0_pred[:MOSAIC_MAX])
        x0s[k] = xs[k]
        return RunResult(xs[:k + 1], x0s[:k + 1], t_indices[:k], prev,
                         {key: v[:k] for key, v in norms.items()},
                         description.format(n=n), seed,
                         int(sampler.nfe if start_index is None else k))

    return job


def race_job(model, schedule, configs, x_T: np.ndarray, seed: int, eta: float,  # noqa: N803
              clip: bool = False):
    """Step every sampler in turn, always the one with the fewest network calls so far."""

    def job(token):
        samplers = [make_sampler(name, schedule,
                                 n_steps=None if name == "ddpm" and n >= schedule.T else n,
                                 eta=eta, clip_x0=clip)
                    for name, n in configs]
        denoise = cancellable(model.predict_eps, token)
        gens = [sample_iter(s, denoise, x_T, np.random.default_rng((seed, 3)))
                for s in samplers]
        done = [0] * len(gens)
        finals = [x_T.copy() for _ in gens]
        active = set(range(len(gens)))
        while active:
            j = min(active, key=lambda i: (done[i], i))
            try:
                frame = next(gens[j])
            except StopIteration:
                active.discard(j)
                continue
            done[j] += 1
            finals[j] = frame.x
            yield (j, done[j], samplers[j].nfe, frame.x, frame.x0_pred)
        labels = [f"{SAMPLER_LABELS[name]} {n}" for name, n in configs]
        return RaceResult(labels, finals, [s.nfe for s in samplers])

    return job

