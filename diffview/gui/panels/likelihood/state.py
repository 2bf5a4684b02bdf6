"""The Likelihood panel's state: what to estimate, and the last results (Qt-free).

This is what a session stores: the settings, and the last bound and ODE likelihood as the JSON
of ``diffview nll --json`` (so a saved session shows its curves again without recomputing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from diffview.validate import expect_int

__all__ = ["ESTIMATORS", "MAX_TERMS", "VARIANCES", "LikelihoodState"]

VARIANCES = {"small": "small (β̃_t)", "large": "large (β_t)"}
ESTIMATORS = {"fast": "fast (strata)", "full": "full (all T)"}
MAX_TERMS = 100_001          # T + 1 for the largest T a model may have
N_RANGE = (1, 10_000)


@dataclass(frozen=True)
class LikelihoodState:
    """Settings of the panel and its last results (``elbo``/``ode``: result JSON or None)."""

    n_images: int = 32
    variance: str = "small"
    estimator: str = "fast"
    seed: int = 0
    ode_images: int = 8
    elbo: dict | None = None
    ode: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> LikelihoodState:
        """Validate a session's dict whole; ``ValueError`` names the first bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"likelihood: expected an object, found {type(data).__name__}")
        d = cls()
        n = expect_int(data.get("n_images", d.n_images), "likelihood.n_images", *N_RANGE)
        ode_n = expect_int(data.get("ode_images", d.ode_images), "likelihood.ode_images", *N_RANGE)
        seed = expect_int(data.get("seed", d.seed), "likelihood.seed", 0, 2**31 - 1)
        variance = data.get("variance", d.variance)
        if variance not in VARIANCES:
            raise ValueError(f"likelihood.variance: expected small or large, "
                             f"found {variance!r:.60}")
        estimator = data.get("estimator", d.estimator)
        if estimator not in ESTIMATORS:
            raise ValueError(f"likelihood.estimator: expected fast or full, "
                             f"found {estimator!r:.60}")
        elbo = _result("likelihood.elbo", data.get("elbo"), ("terms_bpd", "image_bpd"))
        ode = _result("likelihood.ode", data.get("ode"), ("image_bpd",))
        return cls(n, variance, estimator, seed, ode_n, elbo, ode)



def _result(name: str, value: Any, arrays: tuple[str, ...]) -> dict | None:
    """A saved result: an object whose numbers are numbers and whose curves are short lists."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{name}: expected an object or null, found {type(value).__name__}")
    for key in ("bits_per_dim", "stderr"):
        v = value.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ValueError(f"{name}.{key}: expected a number, found {v!r:.60}")
    for key in (*arrays, "terms_stderr_bpd"):
        v = value.get(key)
        if v is None and key not in arrays:
            continue
        if not isinstance(v, list) or len(v) > MAX_TERMS or not all(
                x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))
                for x in v):
            raise ValueError(f"{name}.{key}: expected a list of at most {MAX_TERMS} numbers")
    return dict(value)
