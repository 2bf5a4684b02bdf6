"""The sampling panel's state: the run's settings, the race's, and what the panel shows.

Qt-free. :meth:`SamplingState.to_dict` is what a session file stores for the panel;
:meth:`SamplingState.from_dict` validates a stored dict whole and raises ``ValueError`` with one
line naming the field before anything changes. The last run's and race's results are held here
too (``result``, ``race_result``) but never saved: they are arrays, and a session re-runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from diffview.core.samplers import CLIP_X0_DEFAULT, SAMPLERS, default_steps, sampler_class
from diffview.runs.base import Progress
from diffview.runs.race import RaceResult
from diffview.runs.sampling import SamplingResult, SamplingSpec, Start

__all__ = ["BATCH_RANGE", "DEFAULT_RACE", "NO_MODEL_TIP", "RACE_BATCH_RANGE", "STEPS_RANGE",
           "SamplingState", "model_problem", "parse_race_spec"]

NO_MODEL_TIP = "No image model loaded: use File > Open model… (the default model is missing)"

DEFAULT_RACE = "ddpm:100, ddim:10, ddim:50, dpm++2m:10, dpm++2m:20"
STEPS_RANGE = (1, 1000)
BATCH_RANGE = (1, 256)
RACE_BATCH_RANGE = (1, 16)
SEED_MAX = 2**31 - 1


def model_problem(model) -> str:
    """Why ``model`` (a Denoiser or None) cannot be sampled from by image runs ("" if it can)."""
    if model is None:
        return NO_MODEL_TIP
    info = model.info
    if info.kind != "image" or info.time_kind != "index":
        return "The loaded model is not a discrete-time image model."
    return ""


def parse_race_spec(text: str) -> list[tuple[str, int | None]]:
    """``"ddim:10, dpm++2m"`` -> ``[("ddim", 10), ("dpm++2m", None)]``; raises ValueError.

    A sampler without ``:steps`` takes its own default (``default_steps`` of
    :mod:`diffview.core.samplers`).
    """
    out: list[tuple[str, int | None]] = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, _, steps = part.partition(":")
        name = name.strip().lower()
        if name not in SAMPLERS:
            raise ValueError(f"unknown sampler {name!r} (use {', '.join(SAMPLERS)})")
        if not steps.strip():
            out.append((name, None))
            continue
        try:
            n = int(steps)
        except ValueError:
            raise ValueError(f"steps must be a whole number in {part!r}") from None
        if n < 1:
            raise ValueError(f"steps must be at least 1 in {part!r}")
        out.append((name, n))
    if not out:
        raise ValueError("give at least one sampler, e.g. ddim:10, dpm++2m:20")
    return out


@dataclass
class SamplingState:
    """What the sampling panel shows and a session saves.

    Attributes
    ----------
    sampler : str
        One of :data:`~diffview.core.samplers.SAMPLERS`.
    steps : int
        Sampler steps (DDPM with steps >= T: the full chain).
    eta : float
        DDIM's eta in [0, 1] (kept, and unused, while a sampler without eta is chosen).
    seed, batch : int
        Seed of the seeding rule and images per run.
    clip : bool
        Clip x0_pred to the data range at every step.
    race : str
        The race's samplers, ``"name:steps, ..."`` (:func:`parse_race_spec`).
    race_batch : int
        Images per racer.
    show : int
        Which image the trajectory view shows: -1 the batch as a mosaic, else its index.
    pixels : tuple of (image, row, col)
        The probed pixels whose values are plotted along the trajectory.
    result : SamplingResult or None
        The last run (finished or cancelled: replayable either way); not saved.
    race_result : RaceResult or None
        The last race; not saved.
    live : Progress or None
        The newest frame of the run in progress; not saved.
    """

    sampler: str = "ddim"
    steps: int = 50
    eta: float = 0.0
    seed: int = 0
    batch: int = 16
    clip: bool = CLIP_X0_DEFAULT
    race: str = DEFAULT_RACE
    race_batch: int = 4
    show: int = -1
    pixels: tuple[tuple[int, int, int], ...] = ()
    result: SamplingResult | None = field(default=None, repr=False, compare=False)
    race_result: RaceResult | None = field(default=None, repr=False, compare=False)
    live: Progress | None = field(default=None, repr=False, compare=False)

    SAVED = ("sampler", "steps", "eta", "seed", "batch", "clip", "race", "race_batch", "show",
             "pixels")

    # ---- derived --------------------------------------------------------------------------

    @property
    def uses_eta(self) -> bool:
        return bool(sampler_class(self.sampler).uses_eta)

    def with_sampler(self, name: str, T: int) -> SamplingState:  # noqa: N803
        """A copy using sampler ``name`` at its own default steps for a model of ``T`` steps."""
        sampler_class(name)  # ValueError for an unknown name
        return dataclasses.replace(self, sampler=name, steps=default_steps(name, T))

    def spec(self, start: Start | None = None, batch: int | None = None) -> SamplingSpec:
        """The run these settings describe (from the seeding rule's noise, or ``start``)."""
        return SamplingSpec(sampler=self.sampler, n_steps=int(self.steps),
                            eta=float(self.eta) if self.uses_eta else 0.0, clip_x0=self.clip,
                            seed=int(self.seed), batch=int(batch or self.batch), start=start)

    def race_spec(self) -> SamplingSpec:
        """The race's common settings (each racer's sampler and steps come from ``race``)."""
        return SamplingSpec(sampler="ddim", eta=float(self.eta), clip_x0=self.clip,
                            seed=int(self.seed), batch=int(self.race_batch))

    # ---- sessions -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.SAVED}
        out["pixels"] = [list(p) for p in self.pixels]
        return out

    @classmethod
    def from_dict(cls, data: Any) -> SamplingState:
        """Validate a session's dict whole; ``ValueError`` names the first bad field.

        Missing fields take their defaults; unknown fields are ignored (a newer session).
        """
        if not isinstance(data, dict):
            raise ValueError(f"sampling: expected an object, found {type(data).__name__}")
        d = cls()
        sampler = data.get("sampler", d.sampler)
        if sampler not in SAMPLERS:
            raise ValueError(f"sampling.sampler: expected one of {', '.join(SAMPLERS)}, "
                             f"found {sampler!r:.60}")
        steps = _whole("sampling.steps", data.get("steps", d.steps), STEPS_RANGE)
        eta = _number("sampling.eta", data.get("eta", d.eta), (0.0, 1.0))
        seed = _whole("sampling.seed", data.get("seed", d.seed), (0, SEED_MAX))
        batch = _whole("sampling.batch", data.get("batch", d.batch), BATCH_RANGE)
        clip = data.get("clip", d.clip)
        if not isinstance(clip, bool):
            raise ValueError(f"sampling.clip: expected true or false, found {clip!r:.60}")
        race = data.get("race", d.race)
        if not isinstance(race, str):
            raise ValueError(f"sampling.race: expected a string, found {race!r:.60}")
        try:
            parse_race_spec(race)
        except ValueError as exc:
            raise ValueError(f"sampling.race: {exc}") from None
        race_batch = _whole("sampling.race_batch", data.get("race_batch", d.race_batch),
                            RACE_BATCH_RANGE)
        show = _whole("sampling.show", data.get("show", d.show), (-1, BATCH_RANGE[1] - 1))
        pixels = _pixels(data.get("pixels", []))
        return cls(sampler, steps, eta, seed, batch, clip, race, race_batch, show, pixels)


def _whole(name: str, value: Any, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value != int(value):
        raise ValueError(f"{name}: expected a whole number, found {value!r:.60}")
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ValueError(f"{name}: expected {lo}..{hi}, found {int(value)}")
    return int(value)


def _number(name: str, value: Any, bounds: tuple[float, float]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a number, found {value!r:.60}")
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ValueError(f"{name}: expected {lo:g}..{hi:g}, found {value}")
    return float(value)


def _pixels(value: Any) -> tuple[tuple[int, int, int], ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"sampling.pixels: expected a list, found {value!r:.60}")
    out = []
    for i, p in enumerate(value):
        if not isinstance(p, (list, tuple)) or len(p) != 3:
            raise ValueError(f"sampling.pixels[{i}]: expected [image, row, col], found {p!r:.60}")
        out.append(tuple(_whole(f"sampling.pixels[{i}]", v, (0, 4095)) for v in p))
    return tuple(out)
