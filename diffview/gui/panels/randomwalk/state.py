"""The 1-D physics panel's state: the simulation spec, the animation speed and the step shown.

Qt-free; this is what a session file stores for the panel.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from diffview.runs.walk1d import WalkSpec
from diffview.validate import expect_int

__all__ = ["PER_FRAME_RANGE", "RandomWalkState"]

PER_FRAME_RANGE = (1, 100)


@dataclass(frozen=True)
class RandomWalkState:
    """What the panel shows: ``spec`` simulated up to ``step``, advancing ``per_frame`` steps a
    frame when playing."""

    spec: WalkSpec = field(default_factory=WalkSpec)
    per_frame: int = 1
    step: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self.spec), "per_frame": self.per_frame, "step": self.step}

    @classmethod
    def from_dict(cls, data: Any) -> RandomWalkState:
        """Validate a session's dict whole; ``ValueError`` names the first bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"randomwalk: expected an object, found {type(data).__name__}")
        defaults = WalkSpec()
        values: dict[str, Any] = {}
        for f in dataclasses.fields(WalkSpec):
            value = data.get(f.name, getattr(defaults, f.name))
            want_int = isinstance(getattr(defaults, f.name), int)
            if f.name == "mode":
                if not isinstance(value, str):
                    raise ValueError(f"randomwalk.mode: expected a string, found {value!r:.60}")
            elif want_int:
                value = expect_int(value, f"randomwalk.{f.name}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise ValueError(f"randomwalk.{f.name}: expected a number, found {value!r:.60}")
            values[f.name] = value
        try:
            spec = WalkSpec(**values)
        except ValueError as exc:
            raise ValueError(f"randomwalk: {exc}") from None
        per_frame = expect_int(data.get("per_frame", 1), "randomwalk.per_frame")
        lo, hi = PER_FRAME_RANGE
        if not lo <= per_frame <= hi:
            raise ValueError(f"randomwalk.per_frame: expected {lo}..{hi}, found {per_frame}")
        step = expect_int(data.get("step", 0), "randomwalk.step")
        if not 0 <= step <= spec.max_steps:
            raise ValueError(f"randomwalk.step: expected 0..max_steps ({spec.max_steps}), "
                             f"found {step}")
        return cls(spec, per_frame, step)
