"""What a model tells diffview about itself: :class:`ModelInfo` and its ONNX metadata encoding.

Every field of :class:`ModelInfo` is stored as one ONNX ``metadata_props`` entry whose key is
``"diffview.<field>"`` and whose value is the field encoded as JSON, e.g.
``"diffview.T": "1000"``, ``"diffview.sample_shape": "[1, 28, 28]"``.

Reading is forgiving: a model without metadata, or with a value of the wrong type, still loads.
The missing or bad field falls back to a default (which the user can change in the GUI) and the
reader returns a warning saying what it replaced. Writing is strict: :func:`info_to_metadata`
refuses an invalid :class:`ModelInfo` so that an exporter cannot produce a broken model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import reprlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "KINDS",
    "METADATA_PREFIX",
    "TIME_KINDS",
    "ModelInfo",
    "info_to_metadata",
    "quote",
    "metadata_to_info",
    "set_onnx_metadata",
    "validate_info",
]

METADATA_PREFIX = "diffview."

# Limits on what a model may claim. Every reader and writer applies the same numbers (metadata
# is validated once, when a model is loaded, so `diffview info`, `diffview sample`, the app
# and the exporters agree); a value outside them is reported and replaced like any bad value.
MIN_T, MAX_T = 2, 100_000  # the same range as training's TrainConfig.T
# Values in one sample (C * H * W, or d): 3 x 2048 x 2048 fits; a float32 sample is <= 64 MiB.
MAX_SAMPLE_VALUES = 2**24
MAX_ABS_VALUE = 1e6  # |value_range| ends and SDE parameters
MAX_CLASSES = 100_000
MAX_TRAINING_STEPS = 10**12
MAX_TEXT_CHARS = 1000  # the dataset name and each class name
MAX_VALUE_CHARS = 1_000_000  # the JSON text of one metadata entry
QUOTE_CHARS = 80  # a bad value is quoted by at most this many characters, then "..."
SDE_NAMES = ("brownian", "vp", "ve", "ou")  # core.sde.SDES (checked by the tests)

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxstring, _repr.maxother = 3, 10 * QUOTE_CHARS, 10 * QUOTE_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxdict = 8


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters plus ``"..."``: safe for huge or deeply
    nested values (a 200,000-character metadata entry is quoted by its first 80 characters)."""
    try:
        text = _repr.repr(value)
    except (RecursionError, ValueError, TypeError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."

KINDS = ("image", "points")
TIME_KINDS = ("index", "continuous")
# Known discrete schedules; kept here (not imported from core.schedules) so that the metadata
# module stays importable on its own. tests/engine/test_metadata.py checks the two agree.
_SCHEDULES = ("linear", "cosine", "sigmoid", "quadratic")


@dataclass(frozen=True)
class ModelInfo:
    """How to use a denoising network: data kind, sample shape, noise schedule, value range.

    Attributes
    ----------
    kind : {"image", "points"}
        Images take samples of shape ``(B, C, H, W)``, points ``(B, d)``.
    sample_shape : tuple of int
        Shape of one sample without the batch axis: ``(C, H, W)`` or ``(d,)``.
    schedule : str
        Discrete noise schedule name (see ``diffview.core.schedules.SCHEDULES``); used when
        ``time_kind == "index"``.
    T : int
        Number of discrete timesteps; the network takes indices ``0 .. T-1``.
    time_kind : {"index", "continuous"}
        ``"index"``: the timestep input is an int64 index. ``"continuous"``: a float32 SDE time
        in ``[0, sde["T"]]``.
    sde : dict or None
        The SDE a continuous-time model was trained with, e.g.
        ``{"name": "vp", "beta_min": 0.1, "beta_max": 20.0, "T": 1.0}``.
    value_range : (float, float)
        Range of clean data in model space, ``(-1, 1)`` for images.
    dataset : str
        Name of the training data.
    class_names : tuple of str
        Class labels of the training data, if any.
    training_steps : int
        Optimiser steps the network was trained for.
    extra : dict
        Free-form JSON-serialisable details (FID, architecture, seed, ...).
    prediction : {"eps", "velocity", "x0"}
        What the network outputs: the noise epsilon (DDPM, score SDEs), a flow-matching
        velocity, or the clean sample x_0 (a cold-diffusion restoration network).
    num_classes : int
        Number of real classes of a class-conditional network (0: unconditional). Such a network
        takes a third input, int64 labels ``[B]`` in ``0 .. num_classes``.
    null_class : int
        The label that means "no class" (classifier-free guidance's unconditional row); -1 when
        the network is unconditional.
    degradation : dict or None
        For a restoration network (``prediction == "x0"``): the cold-diffusion degradation it
        inverts, e.g. ``{"name": "blur", ...}`` with its severity schedule parameters.
    """

    kind: str = "image"
    sample_shape: tuple[int, ...] = (1, 28, 28)
    schedule: str = "linear"
    T: int = 1000  # noqa: N815 - the paper's symbol
    time_kind: str = "index"
    sde: dict | None = None
    value_range: tuple[float, float] = (-1.0, 1.0)
    dataset: str = "unknown"
    class_names: tuple[str, ...] = ()
    training_steps: int = 0
    extra: dict = field(default_factory=dict)
    prediction: str = "eps"
    num_classes: int = 0
    null_class: int = -1
    degradation: dict | None = None

    @property
    def conditional(self) -> bool:
        """True for a class-conditional network (it takes a label input)."""
        return self.num_classes > 0

    def make_schedule(self):
        """The discrete noise schedule (``core.schedules.NoiseSchedule``) of an index-time model."""
        from diffview.core.schedules import make_schedule

        if self.time_kind != "index":
            raise ValueError("this model takes continuous SDE time; use make_sde()")
        return make_schedule(self.schedule, T=self.T)

    def make_sde(self):
        """The SDE (``core.sde.LinearSDE``) of a continuous-time model."""
        from diffview.core.sde import make_sde

        if self.time_kind != "continuous" or self.sde is None:
            raise ValueError("this model takes timestep indices; use make_schedule()")
        params = dict(self.sde)
        return make_sde(params.pop("name"), **params)

    def replace(self, **changes: Any) -> ModelInfo:
        """A copy with the given fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict of all fields (tuples become lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(ModelInfo))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):  # numpy scalars (e.g. a step counter) -> Python numbers
        return value.item()
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------------------------
# Field parsers: each takes a decoded JSON value and returns the field value or raises
# ValueError with a sentence saying what was expected.


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _parse_kind(v: Any) -> str:
    if v not in KINDS:
        raise ValueError(f"expected one of {list(KINDS)}, found {quote(v)}")
    return v


def _parse_sample_shape(v: Any) -> tuple[int, ...]:
    if not isinstance(v, list) or not v or not all(_is_int(d) and d > 0 for d in v):
        raise ValueError(f"expected a list of positive integers, found {quote(v)}")
    if len(v) not in (1, 3):
        raise ValueError(f"expected 1 (points) or 3 (C, H, W) dimensions, found {len(v)}")
    values = math.prod(v)
    if values > MAX_SAMPLE_VALUES:
        raise ValueError(f"expected at most {MAX_SAMPLE_VALUES:,} values per sample, found "
                         f"{' x '.join(map(str, v))} = {values:,}")
    return tuple(v)


def _parse_schedule(v: Any) -> str:
    if v not in _SCHEDULES:
        raise ValueError(f"expected one of {list(_SCHEDULES)}, found {quote(v)}")
    return v


def _parse_T(v: Any) -> int:  # noqa: N802
    if not _is_int(v) or not MIN_T <= v <= MAX_T:
        raise ValueError(f"expected a positive integer in {MIN_T}..{MAX_T}, found {quote(v)}")
    return v


def _parse_time_kind(v: Any) -> str:
    if v not in TIME_KINDS:
        raise ValueError(f"expected one of {list(TIME_KINDS)}, found {quote(v)}")
    return v


def _parse_sde(v: Any) -> dict | None:
    if v is None:
        return None
    if not isinstance(v, dict) or not isinstance(v.get("name"), str):
        raise ValueError(f'expected null or an object with a "name", found {quote(v)}')
    if v["name"] not in SDE_NAMES:
        raise ValueError(f"expected an SDE named one of {list(SDE_NAMES)}, found "
                         f"{quote(v['name'])}")
    for key, val in v.items():
        if key != "name" and not (_is_number(val) and abs(val) <= MAX_ABS_VALUE):
            raise ValueError(f"expected SDE parameter {quote(key)} to be a finite number of "
                             f"magnitude at most {MAX_ABS_VALUE:g}, found {quote(val)}")
    if "T" in v and not v["T"] > 0:
        raise ValueError(f"expected the SDE's end time T > 0, found {quote(v['T'])}")
    return dict(v)


def _parse_value_range(v: Any) -> tuple[float, float]:
    if not (isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v) and v[0] < v[1]):
        raise ValueError(f"expected [low, high] with low < high, found {quote(v)}")
    if max(abs(v[0]), abs(v[1])) > MAX_ABS_VALUE:
        raise ValueError(f"expected [low, high] within +-{MAX_ABS_VALUE:g}, found {quote(v)}")
    return (float(v[0]), float(v[1]))


def _parse_dataset(v: Any) -> str:
    if not isinstance(v, str) or len(v) > MAX_TEXT_CHARS:
        raise ValueError(f"expected a string of at most {MAX_TEXT_CHARS} characters, found "
                         f"{quote(v)}")
    return v


def _parse_class_names(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise ValueError(f"expected a list of strings, found {quote(v)}")
    if len(v) > MAX_CLASSES or any(len(s) > MAX_TEXT_CHARS for s in v):
        raise ValueError(f"expected at most {MAX_CLASSES:,} names of at most {MAX_TEXT_CHARS} "
                         f"characters each, found {len(v):,} names")
    return tuple(v)


def _parse_training_steps(v: Any) -> int:
    if not _is_int(v) or not 0 <= v <= MAX_TRAINING_STEPS:
        raise ValueError(f"expected a non-negative integer up to {MAX_TRAINING_STEPS:.0e}, "
                         f"found {quote(v)}")
    return v


def _parse_extra(v: Any) -> dict:
    if not isinstance(v, dict):
        raise ValueError(f"expected an object, found {quote(v)}")
    return v


PREDICTIONS = ("eps", "velocity", "x0")


def _parse_prediction(v: Any) -> str:
    if v not in PREDICTIONS:
        raise ValueError(f"expected one of {list(PREDICTIONS)}, found {quote(v)}")
    return v


def _parse_num_classes(v: Any) -> int:
    if not _is_int(v) or not 0 <= v <= MAX_CLASSES:
        raise ValueError(f"expected an integer in 0..{MAX_CLASSES}, found {quote(v)}")
    return v


def _parse_null_class(v: Any) -> int:
    if not _is_int(v) or not -1 <= v <= MAX_CLASSES:
        raise ValueError(f"expected an integer in -1..{MAX_CLASSES}, found {quote(v)}")
    return v


def _parse_degradation(v: Any) -> dict | None:
    if v is None:
        return None
    if not isinstance(v, dict) or not isinstance(v.get("name"), str):
        raise ValueError(f'expected null or an object with a "name", found {quote(v)}')
    return dict(v)


_PARSERS = {
    "kind": _parse_kind,
    "sample_shape": _parse_sample_shape,
    "schedule": _parse_schedule,
    "T": _parse_T,
    "time_kind": _parse_time_kind,
    "sde": _parse_sde,
    "value_range": _parse_value_range,
    "dataset": _parse_dataset,
    "class_names": _parse_class_names,
    "training_steps": _parse_training_steps,
    "extra": _parse_extra,
    "prediction": _parse_prediction,
    "num_classes": _parse_num_classes,
    "null_class": _parse_null_class,
    "degradation": _parse_degradation,
}
assert set(_PARSERS) == set(FIELD_NAMES)

# Fields whose absence is worth telling the user about: they change how the model is run.
# The others (dataset, class names, training steps, extra) are descriptive only.
_ESSENTIAL = ("kind", "sample_shape", "schedule", "T", "time_kind", "value_range")


def _consistency_problems(info: ModelInfo) -> list[str]:
    problems = []
    rank = len(info.sample_shape)
    if info.kind == "image" and rank != 3:
        problems.append(f"kind 'image' needs a (C, H, W) sample_shape, found {info.sample_shape}")
    if info.kind == "points" and rank != 1:
        problems.append(f"kind 'points' needs a (d,) sample_shape, found {info.sample_shape}")
    # a flow-matching velocity model (prediction "velocity") takes t in [0, 1] and no SDE
    if info.time_kind == "continuous" and info.sde is None and info.prediction != "velocity":
        problems.append("time_kind 'continuous' needs an sde, found none")
    if info.num_classes > 0 and not 0 <= info.null_class <= info.num_classes:
        problems.append(f"null_class must be in 0..num_classes ({info.num_classes}) for a "
                        f"conditional model, found {info.null_class}")
    if info.prediction == "x0" and info.degradation is None:
        problems.append("prediction 'x0' (a restoration model) needs a degradation, found none")
    return problems


def validate_info(info: ModelInfo) -> None:
    """Raise ``ValueError`` naming the first invalid field of ``info``."""
    for name in FIELD_NAMES:
        value = _jsonable(getattr(info, name))
        try:
            _PARSERS[name](value)
        except ValueError as exc:
            raise ValueError(f"ModelInfo.{name}: {exc}") from None
    problems = _consistency_problems(info)
    if problems:
        raise ValueError(f"ModelInfo: {problems[0]}")
    try:
        json.dumps(info.to_dict())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"ModelInfo: not JSON-serialisable ({exc})") from None


def info_to_metadata(info: ModelInfo) -> dict[str, str]:
    """Encode ``info`` as ONNX metadata: ``{"diffview.<field>": <JSON text>}``.

    Raises
    ------
    ValueError
        If a field is invalid (e.g. ``T=0``, an unknown schedule, an image kind with a
        1-D sample shape) or not JSON-serialisable.
    """
    validate_info(info)
    return {
        METADATA_PREFIX + name: json.dumps(value, sort_keys=True)
        for name, value in info.to_dict().items()
    }


def metadata_to_info(
    props: dict[str, str], fallback: ModelInfo | None = None
) -> tuple[ModelInfo, list[str]]:
    """Decode ONNX metadata into a :class:`ModelInfo`; never raises on bad metadata.

    Parameters
    ----------
    props : dict of str to str
        The model's ``metadata_props`` (other keys are ignored).
    fallback : ModelInfo, optional
        Values used for missing or invalid fields (for instance defaults inferred from the
        model's input shape). ``ModelInfo()`` when omitted.

    Returns
    -------
    info : ModelInfo
    warnings : list of str
        One sentence per missing essential field or invalid value, saying what was used instead.
    """
    fallback = ModelInfo() if fallback is None else fallback
    values: dict[str, Any] = {}
    warnings: list[str] = []
    present = [k for k in props if isinstance(k, str) and k.startswith(METADATA_PREFIX)]
    if not present:
        warnings.append(
            "the model has no diffview metadata; using defaults "
            f"(kind={fallback.kind}, sample_shape={fallback.sample_shape}, "
            f"schedule={fallback.schedule}, T={fallback.T}, time_kind={fallback.time_kind})"
        )
    for name in FIELD_NAMES:
        key = METADATA_PREFIX + name
        default = getattr(fallback, name)
        if key not in props:
            if present and name in _ESSENTIAL:
                warnings.append(f"metadata {key} is missing; using {_jsonable(default)!r}")
            continue
        text = props[key]
        if isinstance(text, str) and len(text) > MAX_VALUE_CHARS:
            warnings.append(f"metadata {key} is {len(text):,} characters long, more than "
                            f"{MAX_VALUE_CHARS:,} ({quote(text)}); using {quote(default)}")
            continue
        try:
            decoded = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            warnings.append(f"metadata {key} is not valid JSON ({quote(text)}); using "
                            f"{quote(default)}")
            continue
        try:
            values[name] = _PARSERS[name](decoded)
        except ValueError as exc:
            warnings.append(f"metadata {key}: {exc}; using {quote(_jsonable(default))}")
    info = fallback.replace(**values)
    problems = _consistency_problems(info)
    if problems:
        # The parts disagree (e.g. kind "points" with an image shape). Keep the fallback's
        # kind/shape/time settings, which come from the model's actual inputs.
        warnings.extend(f"metadata is inconsistent: {p}; using the defaults" for p in problems)
        info = info.replace(
            kind=fallback.kind,
            sample_shape=fallback.sample_shape,
            time_kind=fallback.time_kind,
            sde=fallback.sde,
        )
        if _consistency_problems(info):
            info = info.replace(time_kind="index", sde=None)
    return info, warnings


def set_onnx_metadata(model: Any, info: ModelInfo) -> None:
    """Write ``info`` into an ``onnx.ModelProto``'s ``metadata_props`` in place.

    Existing ``diffview.*`` entries are replaced; other entries are kept.
    """
    encoded = info_to_metadata(info)
    kept = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith(METADATA_PREFIX)]
    del model.metadata_props[:]
    for key, value in [*kept, *encoded.items()]:
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = value
