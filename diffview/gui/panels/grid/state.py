"""The image grid's state: the New batch settings, the companions shown, the samples. Qt-free.

:meth:`GridState.to_dict` is what a session stores; :meth:`GridState.from_dict` validates a
stored dict whole and raises ``ValueError`` with one line naming the field. The samples, the
spec that made them and the nearest-image search are held here but never saved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from diffview.core.samplers import CLIP_X0_DEFAULT, default_steps
from diffview.runs.sampling import SamplingSpec

__all__ = ["COUNT_RANGE", "GRID_SAMPLER", "STEPS_RANGE", "GridState", "NearestResult",
           "class_rows"]

GRID_SAMPLER = "ddim"   # New batch samples with DDIM (deterministic: a click re-runs it exactly)
COUNT_RANGE = (1, 100)
STEPS_RANGE = (2, 1000)
SEED_MAX = 2**31 - 1


@dataclass(frozen=True, eq=False)
class NearestResult:
    """Each sample's nearest training image: ``index`` (B,), L2 ``distance`` (B,), the
    ``images`` themselves (B, C, H, W) and the ``source`` searched."""

    index: np.ndarray
    distance: np.ndarray
    images: np.ndarray
    source: str


def class_rows(count: int, num_classes: int) -> tuple[int, tuple[int, ...]]:
    """Images per class and the per-image labels of a batch with one row per class: about
    ``count`` images in all, at least one per class."""
    per_class = max(1, round(count / num_classes))
    return per_class, tuple(c for c in range(num_classes) for _ in range(per_class))


@dataclass
class GridState:
    """What the image grid shows and a session saves.

    Attributes
    ----------
    count, steps : int
        Images and DDIM steps of New batch.
    real, nearest : bool
        Whether real images and each sample's nearest training image are shown beside them.
    seed : int
        Seed of the last New batch (the next one uses ``seed + 1``).
    samples : ndarray (B, C, H, W) or None
        The samples shown; not saved.
    spec : SamplingSpec or None
        The grid's own batch that made ``samples`` (None: the sampling panel's last run); a
        click re-runs one image of it. Not saved.
    note : str
        What the status line says about the samples.
    nearest_result : NearestResult or None
        The nearest-image search for ``samples``; not saved.
    """

    count: int = 16
    steps: int = field(default_factory=lambda: default_steps(GRID_SAMPLER, 1000))
    real: bool = False
    nearest: bool = False
    seed: int = 1000
    samples: np.ndarray | None = field(default=None, repr=False, compare=False)
    spec: SamplingSpec | None = field(default=None, repr=False, compare=False)
    note: str = field(default="", compare=False)
    nearest_result: NearestResult | None = field(default=None, repr=False, compare=False)

    SAVED = ("count", "steps", "real", "nearest", "seed")

    def next_batch(self, info) -> SamplingSpec:
        """The spec of the next New batch for a model's ``info``: one row per class when the
        model is class-conditional."""
        classes = None
        batch = int(self.count)
        if getattr(info, "conditional", False):
            _per, classes = class_rows(batch, int(info.num_classes))
            batch = len(classes)
        return SamplingSpec(sampler=GRID_SAMPLER, n_steps=min(int(self.steps), int(info.T)),
                            clip_x0=CLIP_X0_DEFAULT, seed=int(self.seed) + 1, batch=batch,
                            classes=classes)

    def columns(self) -> int:
        """Mosaic columns: images per class for a batch with class rows, else a near-square."""
        n = 0 if self.samples is None else len(self.samples)
        spec = self.spec
        if spec is not None and spec.classes is not None and len(spec.classes) == n > 1:
            return max(1, sum(1 for c in spec.classes if c == spec.classes[0]))
        return max(1, math.ceil(math.sqrt(max(n, 1))))

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.SAVED}

    @classmethod
    def from_dict(cls, data: Any) -> GridState:
        """Validate a session's dict whole; ``ValueError`` names the first bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"grid: expected an object, found {type(data).__name__}")
        d = cls()
        count = _whole("grid.count", data.get("count", d.count), COUNT_RANGE)
        steps = _whole("grid.steps", data.get("steps", d.steps), STEPS_RANGE)
        seed = _whole("grid.seed", data.get("seed", d.seed), (0, SEED_MAX - 1))
        flags = {}
        for name in ("real", "nearest"):
            value = data.get(name, getattr(d, name))
            if not isinstance(value, bool):
                raise ValueError(f"grid.{name}: expected true or false, found {value!r:.60}")
            flags[name] = value
        return cls(count, steps, flags["real"], flags["nearest"], seed)


def _whole(name: str, value: Any, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value != int(value):
        raise ValueError(f"{name}: expected a whole number, found {value!r:.60}")
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ValueError(f"{name}: expected {lo}..{hi}, found {int(value)}")
    return int(value)
