"""The cold-diffusion panel's state (Qt-free): which degradation, how far, how many steps."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from diffview.validate import expect_int

__all__ = ["DEGRADATIONS", "MODES", "ColdState"]

DEGRADATIONS = {"blur": "Blur", "mask": "Mask", "pixelate": "Pixelate"}
MODES = ("side_by_side", "hot_cold", "generate")


@dataclass(frozen=True)
class ColdState:
    """``severity`` is the fraction t/T of the degradation the restoration starts from."""

    degradation: str = "blur"
    severity: float = 0.6
    n_steps: int = 0          # 0: every step from t down to 0
    sample: int = 0
    n_generate: int = 16
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ColdState:
        """Validate a session's dict whole; ``ValueError`` names the first bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"cold: expected an object, found {type(data).__name__}")
        d = cls()
        kind = data.get("degradation", d.degradation)
        if kind not in DEGRADATIONS:
            raise ValueError(f"cold.degradation: expected one of {', '.join(DEGRADATIONS)}, "
                             f"found {kind!r:.60}")
        sev = data.get("severity", d.severity)
        if isinstance(sev, bool) or not isinstance(sev, (int, float)) or not math.isfinite(sev) \
                or not 0.0 < sev <= 1.0:
            raise ValueError(f"cold.severity: expected a number in (0, 1], found {sev!r:.60}")
        return cls(kind, float(sev),
                   expect_int(data.get("n_steps", d.n_steps), "cold.n_steps", 0, 10_000),
                   expect_int(data.get("sample", d.sample), "cold.sample", 0, 10**6),
                   expect_int(data.get("n_generate", d.n_generate), "cold.n_generate", 1, 256),
                   expect_int(data.get("seed", d.seed), "cold.seed", 0, 2**31 - 1))
