"""The 2-D SDE panel's state: what it shows and what a session stores. Qt-free.

:class:`Sde2DState` is a frozen dataclass; ``to_dict()`` gives the session's JSON and
``from_dict()`` validates a whole dict (types, choices, ranges, and values that are absurd
together, such as a frame past the end of the time axis) and raises ``ValueError`` with one
line naming the field before anything changes.

A new process (flow matching beside diffusion) adds a field here (``process``), its labels and
a service that builds its runs; the rest of the panel reads the state through these names.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from diffview.runs.points2d import MAX_DRAWN_POINTS

__all__ = ["DATASET_LABELS", "DRAWING", "EXACT_FRAMES", "FLOW_MAX_POINTS", "FLOW_MAX_STEPS",
           "FORWARD_METHODS", "MODES", "PROCESSES",
           "N_RANGE", "REVERSE_METHODS", "SCORES", "SDE_LABELS", "STEPS_RANGE", "Sde2DState",
           "VIEWS"]

DRAWING = "drawing"
DATASET_LABELS = {"double_gaussian": "Double Gaussian", "moons": "Two moons",
                  "8gaussians": "8 Gaussians", "spiral": "Spiral",
                  "checkerboard": "Checkerboard", "rings": "Rings", DRAWING: "My drawing"}
SDE_LABELS = {"brownian": "Brownian  dx = dW", "vp": "VP  dx = -β/2 x dt + √β dW",
              "ve": "VE  dx = √(dσ²/dt) dW", "ou": "OU  dx = -x dt + √2 dW"}
MODES = {"forward": "Forward: data → noise", "reverse": "Reverse: noise → data",
         "mcmc": "Metropolis MCMC (for contrast)"}
FORWARD_METHODS = {"exact": "Exact marginal (closed form)", "em": "Euler-Maruyama simulation"}
REVERSE_METHODS = {"sde": "Reverse-time SDE", "ode": "Probability-flow ODE",
                   "pc": "Predictor-corrector (Langevin)"}
SCORES = {"exact": "Exact score (mixture)", "learned": "Learned score (network)",
          "both": "Exact and learned, side by side"}
VIEWS = {"points": "Points", "density": "Density p_t", "both": "Points + density",
         "error": "Points + score error |learned − exact|"}
PROCESSES = {"diffusion": "Diffusion (SDE above)", "flow": "Flow matching vs VP ODE"}
FLOW_MAX_STEPS, FLOW_MAX_POINTS = 200, 20_000
"""A flow comparison keeps both whole paths: at most this many steps and points."""
EXACT_FRAMES = 200
"""Scrub positions of the closed-form forward process (frames 0..EXACT_FRAMES)."""
N_RANGE = (100, 200_000)
STEPS_RANGE = (5, 2000)
MCMC_STEP_RANGE = (0.01, 5.0)
DRAW_STD_RANGE = (0.03, 1.0)

_CHOICES = {"process": PROCESSES, "mode": MODES, "dataset": DATASET_LABELS, "sde": SDE_LABELS,
            "forward": FORWARD_METHODS, "reverse": REVERSE_METHODS, "score": SCORES,
            "view": VIEWS}


@dataclass(frozen=True)
class Sde2DState:
    """What the panel shows.

    Attributes
    ----------
    process : str
        "diffusion" (the SDE of ``sde`` in ``mode``) or "flow" (the VP probability-flow ODE
        beside flow matching from the same noise, exact fields, Heun steps).
    mode, dataset, sde, forward, reverse, score, view : str
        Keys of :data:`MODES`, :data:`DATASET_LABELS`, :data:`SDE_LABELS`, ... .
    n, seed, steps : int
        Points in the cloud, the seed of data, noise and prior, integrator (or MCMC) steps.
    mcmc_step : float
        Metropolis proposal standard deviation.
    arrows, trails, zoom : bool
        Score arrows, particle trails, the view fitted to the cloud.
    frame : int
        The time slider's position.
    drawn : tuple of (x, y)
        Painted points (at most :data:`~diffview.runs.points2d.MAX_DRAWN_POINTS`).
    draw_std : float
        The brush size: each painted point is a Gaussian of this standard deviation.
    drawing_used : bool
        Whether the drawing is the "My drawing" data set.
    """

    process: str = "diffusion"
    mode: str = "forward"
    dataset: str = "double_gaussian"
    sde: str = "vp"
    n: int = 20_000
    seed: int = 0
    steps: int = 200
    forward: str = "exact"
    reverse: str = "sde"
    score: str = "exact"
    mcmc_step: float = 0.3
    view: str = "both"
    arrows: bool = False
    trails: bool = False
    zoom: bool = False
    frame: int = 0
    drawn: tuple[tuple[float, float], ...] = ()
    draw_std: float = 0.15
    drawing_used: bool = False

    @property
    def needs_run(self) -> bool:
        """Whether the frames come from a run (everything but the exact forward marginal)."""
        return self.process == "flow" or not (self.mode == "forward" and self.forward == "exact")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["drawn"] = [list(p) for p in self.drawn]
        return d

    @classmethod
    def from_dict(cls, data: Any) -> Sde2DState:
        """Validate a session's dict whole; ``ValueError`` names the first bad field.

        Missing keys take their defaults; unknown keys are ignored."""
        if not isinstance(data, dict):
            raise ValueError(f"sde2d: expected an object, found {type(data).__name__}")
        base = cls()
        v: dict[str, Any] = {}
        for key, choices in _CHOICES.items():
            value = data.get(key, getattr(base, key))
            if value not in choices:
                raise ValueError(f"sde2d.{key}: expected one of {', '.join(choices)}, "
                                 f"found {value!r:.60}")
            v[key] = value
        v["n"] = _whole("n", data.get("n", base.n), *N_RANGE)
        v["seed"] = _whole("seed", data.get("seed", base.seed), 0, 2**31 - 1)
        v["steps"] = _whole("steps", data.get("steps", base.steps), *STEPS_RANGE)
        v["mcmc_step"] = _number("mcmc_step", data.get("mcmc_step", base.mcmc_step),
                                 *MCMC_STEP_RANGE)
        v["draw_std"] = _number("draw_std", data.get("draw_std", base.draw_std),
                                *DRAW_STD_RANGE)
        for key in ("arrows", "trails", "zoom", "drawing_used"):
            value = data.get(key, getattr(base, key))
            if not isinstance(value, bool):
                raise ValueError(f"sde2d.{key}: expected true or false, found {value!r:.60}")
            v[key] = value
        v["drawn"] = _drawn(data.get("drawn", []))
        if v["dataset"] == DRAWING and not (v["drawing_used"] and v["drawn"]):
            raise ValueError("sde2d.dataset: 'drawing' needs drawn points and drawing_used")
        if v["process"] == "flow" and v["dataset"] == DRAWING:
            raise ValueError("sde2d.process: flow matching needs a built-in data set")
        state = cls(**v)
        last = EXACT_FRAMES if not state.needs_run else state.steps
        v["frame"] = _whole("frame", data.get("frame", 0), 0, last)
        return dataclasses.replace(state, frame=v["frame"])


def _whole(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value != int(value):
        raise ValueError(f"sde2d.{name}: expected a whole number, found {value!r:.60}")
    if not lo <= value <= hi:
        raise ValueError(f"sde2d.{name}: expected {lo}..{hi}, found {int(value)}")
    return int(value)


def _number(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ValueError(f"sde2d.{name}: expected a number, found {value!r:.60}")
    if not lo <= value <= hi:
        raise ValueError(f"sde2d.{name}: expected {lo:g}..{hi:g}, found {value:g}")
    return float(value)


def _drawn(value: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"sde2d.drawn: expected a list of [x, y], found {value!r:.60}")
    if len(value) > MAX_DRAWN_POINTS:
        raise ValueError(f"sde2d.drawn: {len(value):,} points, at most "
                         f"{MAX_DRAWN_POINTS:,} (a drawing is thinned to a few hundred)")
    out = []
    for i, p in enumerate(value):
        if not (isinstance(p, (list, tuple)) and len(p) == 2
                and all(isinstance(c, (int, float)) and not isinstance(c, bool)
                        and math.isfinite(c) and abs(c) <= 1e6 for c in p)):
            raise ValueError(f"sde2d.drawn[{i}]: expected [x, y] with finite |x|, |y| <= 1e6, "
                             f"found {p!r:.60}")
        out.append((float(p[0]), float(p[1])))
    return tuple(out)
