"""The forward panel's state: schedule, scrub position, noise seed, process and image.

Qt-free; this is what a session file stores for the panel.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from diffview.core.schedules import SCHEDULES
from diffview.validate import expect_int

__all__ = ["CORRUPTIONS", "PROCESSES", "T_RANGE", "ForwardState"]

CORRUPTIONS = {"noise": "Gaussian noise", "blur": "Blur (cold)", "mask": "Mask (cold)",
               "pixelate": "Pixelate (cold)"}
PROCESSES = {"closed": "Closed form q(x_t|x_0)", "chain": "Step-by-step chain"}
T_RANGE = (10, 4000)


@dataclass(frozen=True)
class ForwardState:
    """What the forward panel shows.

    ``sample`` is the row of the bundled sample shown (-1: an opened file, ``image_path``).
    """

    schedule: str = "linear"
    T: int = 1000  # noqa: N815 - the paper's symbol
    step: int = 100
    seed: int = 0
    process: str = "closed"
    corruption: str = "noise"
    sample: int = -1
    image_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ForwardState:
        """Validate a session's dict whole; ``ValueError`` names the first bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"forward: expected an object, found {type(data).__name__}")
        d = cls()
        get = data.get
        schedule = get("schedule", d.schedule)
        if schedule not in SCHEDULES:
            raise ValueError(f"forward.schedule: expected one of {', '.join(SCHEDULES)}, "
                             f"found {schedule!r:.60}")
        T = expect_int(get("T", d.T), "forward.T", *T_RANGE)  # noqa: N806
        step = expect_int(get("step", d.step), "forward.step", 0, T)
        seed = expect_int(get("seed", d.seed), "forward.seed", 0, 2**31 - 1)
        process = get("process", d.process)
        if process not in PROCESSES:
            raise ValueError(f"forward.process: expected one of {', '.join(PROCESSES)}, "
                             f"found {process!r:.60}")
        corruption = get("corruption", d.corruption)
        if corruption not in CORRUPTIONS:
            raise ValueError(f"forward.corruption: expected one of {', '.join(CORRUPTIONS)}, "
                             f"found {corruption!r:.60}")
        sample = expect_int(get("sample", d.sample), "forward.sample", -1, 10**6)
        path = get("image_path", None)
        if path is not None and (not isinstance(path, str) or len(path) > 4096):
            raise ValueError(f"forward.image_path: expected a path, found {path!r:.60}")
        return cls(schedule, T, step, seed, process, corruption, sample, path)
