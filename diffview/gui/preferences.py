"""What the Preferences dialog edits: typed settings, their limits, parsing and persistence.

The dialog (:mod:`diffview.gui.settings_dialog`) shows these fields and returns a
:class:`Preferences`; it reads and writes nothing itself. The caller stores the result with
:func:`save_preferences` and acts on it. Every text field goes through :func:`parse_field`,
which either returns the value or raises :class:`FieldError` with a message that names the
field, the limit and what was typed.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_KINDS", "FIELDS", "FieldError", "FieldSpec", "InferencePrefs", "ModelPrefs",
    "Preferences", "TrainingPrefs", "check_data_path", "load_preferences", "parse_field",
    "save_preferences", "training_problems",
]

DATA_KINDS = {
    "fashion": "Fashion-MNIST (IDX folder)",
    "mnist": "MNIST-style IDX folder",
    "folder": "Image folder (PNG/JPEG)",
    "toy": "2-D toy set",
}
TOY_SETS = ("double_gaussian", "moons", "8gaussians", "spiral", "checkerboard", "rings")
SCHEDULES = ("linear", "cosine", "sigmoid", "quadratic")
DEVICES = ("auto", "cpu", "cuda")
_SCAN_LIMIT = 5000  # directory entries looked at when checking an image folder


class FieldError(ValueError):
    """A field's text is not an acceptable value; the message says why, in plain words."""


@dataclass(frozen=True)
class FieldSpec:
    """A text field: its label, type and inclusive limits (``None``: unbounded)."""

    label: str
    kind: str  # "int", "float" or "widths"
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low limit itself is not allowed
    high_open: bool = False
    multiple_of: int = 1
    hint: str = ""


FIELDS: dict[str, FieldSpec] = {
    "inference.threads": FieldSpec("Threads", "int", 0, 256,
                                   hint="0 lets onnxruntime choose"),
    "training.image_size": FieldSpec("Image size", "int", 4, 256, multiple_of=4,
                                     hint="pixels; the UNet halves it twice"),
    "training.T": FieldSpec("Diffusion steps T", "int", 2, 100_000),
    "training.widths": FieldSpec("UNet widths", "widths", 1, 512,
                                 hint="channels at full, half and quarter size, e.g. 16,32,96"),
    "training.hidden": FieldSpec("MLP width", "int", 1, 4096, hint="hidden units (2-D sets)"),
    "training.steps": FieldSpec("Steps", "int", 1, 10_000_000),
    "training.epochs": FieldSpec("Epochs", "float", 0, 10_000, low_open=True),
    "training.batch_size": FieldSpec("Batch size", "int", 1, 4096),
    "training.lr": FieldSpec("Learning rate", "float", 0, 1, low_open=True),
    "training.ema": FieldSpec("EMA decay", "float", 0, 1, high_open=True,
                              hint="0 keeps no average; 0.999 is usual"),
    "training.seed": FieldSpec("Seed", "int", 0, 2**32 - 1),
    "training.preview_every": FieldSpec("Preview every", "int", 0, 1_000_000,
                                        hint="steps; 0 = only at the end"),
    "training.checkpoint_every": FieldSpec("Checkpoint every", "int", 0, 1_000_000,
                                           hint="steps; 0 = only at the end"),
    "training.threads": FieldSpec("Torch threads", "int", 1, 256),
}


def _fmt(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"


def _range_text(spec: FieldSpec) -> str:
    lo = "(" if spec.low_open else "["
    hi = ")" if spec.high_open else "]"
    return f"{lo}{_fmt(spec.low)}, {_fmt(spec.high)}{hi}"


def _check_limits(spec: FieldSpec, value: float, what: str) -> None:
    too_low = spec.low is not None and (value < spec.low or (spec.low_open and value == spec.low))
    too_high = spec.high is not None and (value > spec.high
                                          or (spec.high_open and value == spec.high))
    if too_low or too_high:
        if spec.kind == "int" or spec.kind == "widths":
            raise FieldError(f"{what} must be a whole number from {_fmt(spec.low)} to "
                             f"{_fmt(spec.high)}, got {_fmt(value)}")
        raise FieldError(f"{what} must be in {_range_text(spec)}, got {_fmt(value)}")


def _parse_int(text: str, label: str) -> int:
    t = text.strip().replace("_", "").replace(",", "")
    if not t:
        raise FieldError(f"{label} is empty: enter a whole number")
    try:
        return int(t)
    except ValueError:
        pass
    try:
        f = float(t)
    except ValueError:
        raise FieldError(f"{label} must be a whole number, got {text.strip()!r}") from None
    if not math.isfinite(f) or not f.is_integer():
        raise FieldError(f"{label} must be a whole number, got {text.strip()!r}")
    return int(f)


def parse_field(key: str, text: str) -> Any:
    """The value of field ``key`` (see :data:`FIELDS`) typed as ``text``.

    Raises
    ------
    FieldError
        naming the field and its limits when the text is empty, not a number or out of range.
    """
    spec = FIELDS[key]
    label = spec.label
    if spec.kind == "int":
        value = _parse_int(text, label)
        _check_limits(spec, value, label)
        if spec.multiple_of > 1 and value % spec.multiple_of:
            raise FieldError(f"{label} must be a multiple of {spec.multiple_of} "
                             f"({spec.hint}), got {value}")
        return value
    if spec.kind == "float":
        t = text.strip()
        if not t:
            raise FieldError(f"{label} is empty: enter a number such as 0.001 or 1e-3")
        try:
            value = float(t)
        except ValueError:
            raise FieldError(f"{label} must be a number such as 0.001 or 1e-3, "
                             f"got {t!r}") from None
        if not math.isfinite(value):
            raise FieldError(f"{label} must be a finite number, got {t!r}")
        _check_limits(spec, value, label)
        return value
    # widths: three comma-separated channel counts
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if len(parts) != 3:
        raise FieldError(f"{label} needs three whole numbers separated by commas "
                         f"(e.g. 16,32,96), got {text.strip()!r}")
    values = []
    for part in parts:
        try:
            v = int(part)
        except ValueError:
            raise FieldError(f"{label}: {part!r} is not a whole number") from None
        _check_limits(spec, v, f"each of the {label}")
        values.append(v)
    return tuple(values)


def format_field(key: str, value: Any) -> str:
    """The text a field shows for ``value`` (the inverse of :func:`parse_field`)."""
    if FIELDS[key].kind == "widths":
        return ",".join(str(int(v)) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class InferencePrefs:
    """Where models run: ``device`` auto/cpu/cuda; ``threads`` 0 lets onnxruntime choose."""

    device: str = "auto"
    threads: int = 0


@dataclass(frozen=True)
class ModelPrefs:
    """The image model to use: an ONNX path, or ``""`` for the bundled default."""

    path: str = ""


@dataclass(frozen=True)
class TrainingPrefs:
    """A training run as the dialog describes it; :meth:`cli_args` turns it into options."""

    data_kind: str = "toy"
    data_path: str = ""
    toy: str = "moons"
    image_size: int = 28
    channels: int = 1
    schedule: str = "linear"
    T: int = 1000  # noqa: N815 - the paper's symbol
    widths: tuple[int, int, int] = (16, 32, 96)
    hidden: int = 128
    length_unit: str = "steps"  # or "epochs"
    steps: int = 4000
    epochs: float = 5.0
    batch_size: int = 64
    lr: float = 1e-3
    ema: float = 0.999
    seed: int = 0
    device: str = "cpu"
    preview_every: int = 500
    checkpoint_every: int = 500
    threads: int = 1

    @property
    def is_toy(self) -> bool:
        return self.data_kind == "toy"

    def data_spec(self) -> str:
        """``--data`` for the train command: ``toy:NAME`` or the folder."""
        return f"toy:{self.toy}" if self.is_toy else self.data_path

    def cli_args(self) -> list[str]:
        """Options of ``diffview train`` for this run (without run folder and output)."""
        args = ["--data", self.data_spec(), "--batch", str(self.batch_size),
                "--lr", repr(float(self.lr)), "--ema", repr(float(self.ema)),
                "--seed", str(self.seed), "--device", self.device,
                "--threads", str(self.threads),
                "--preview-every", str(self.preview_every),
                "--checkpoint-every", str(self.checkpoint_every)]
        if self.length_unit == "epochs" and not self.is_toy:
            args += ["--epochs", repr(float(self.epochs))]
        else:
            args += ["--steps", str(self.steps)]
        if self.is_toy:
            args += ["--hidden", str(self.hidden)]
        else:
            args += ["--image-size", str(self.image_size), "--channels", str(self.channels),
                     "--schedule", self.schedule, "--T", str(self.T),
                     "--widths", ",".join(str(w) for w in self.widths)]
        # Short runs: warm-up must not outlast the run.
        if self.length_unit == "steps" or self.is_toy:
            args += ["--warmup", str(min(200, max(0, self.steps // 10)))]
        return args


@dataclass(frozen=True)
class Preferences:
    """Everything the Preferences dialog returns."""

    inference: InferencePrefs = field(default_factory=InferencePrefs)
    model: ModelPrefs = field(default_factory=ModelPrefs)
    training: TrainingPrefs = field(default_factory=TrainingPrefs)


def check_data_path(kind: str, path: str) -> str:
    """An empty string when ``path`` fits data kind ``kind``, else what is wrong.

    Cheap: a few ``stat`` calls and at most a few thousand directory entries.
    """
    if kind == "toy":
        return ""
    if not path.strip():
        return "choose the data folder"
    folder = Path(path).expanduser()
    if not folder.exists():
        return f"{folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is a file; choose the folder that holds the data"
    if not os.access(folder, os.R_OK | os.X_OK):
        return f"{folder} cannot be read (permissions)"
    if kind in ("fashion", "mnist"):
        from diffview.core.data import DataError, find_idx_files

        try:
            find_idx_files(folder, "train")
        except (DataError, OSError) as exc:
            return str(exc)
        return ""
    from diffview.core.data import IMAGE_SUFFIXES

    try:
        with os.scandir(folder) as it:
            for i, entry in enumerate(it):
                if entry.name.lower().endswith(IMAGE_SUFFIXES):
                    return ""
                if i >= _SCAN_LIMIT:
                    return ""  # a huge folder: the training run checks the rest
    except OSError as exc:
        return f"{folder} cannot be read: {exc.strerror or exc}"
    return f"{folder} holds no PNG/JPEG images"


def training_problems(t: TrainingPrefs) -> list[str]:
    """Whole-form checks beyond the single fields (data folder, the TrainConfig rules)."""
    problems = []
    if t.data_kind not in DATA_KINDS:
        problems.append(f"unknown data kind {t.data_kind!r}")
        return problems
    msg = check_data_path(t.data_kind, t.data_path)
    if msg:
        problems.append(f"Data: {msg}")
    if t.is_toy and t.toy not in TOY_SETS:
        problems.append(f"Toy set must be one of {', '.join(TOY_SETS)}")
    if t.is_toy and t.length_unit == "epochs":
        problems.append("Epochs: a toy set draws fresh points every step; give steps")
    if t.device not in DEVICES:
        problems.append(f"Device must be one of {', '.join(DEVICES)}")
    if t.schedule not in SCHEDULES:
        problems.append(f"Schedule must be one of {', '.join(SCHEDULES)}")
    if t.channels not in (1, 3):
        problems.append("Channels must be 1 (grey) or 3 (colour)")
    if t.length_unit == "steps" and t.preview_every > t.steps:
        problems.append(f"Preview every {t.preview_every} steps is more than the "
                        f"{t.steps} steps of the run: no preview would be drawn before the end")
    if not problems:
        from diffview.training.config import ConfigError, TrainConfig

        try:
            TrainConfig(data=t.data_spec(), steps=t.steps, batch_size=t.batch_size, lr=t.lr,
                        ema=t.ema, widths=t.widths, hidden=t.hidden, schedule=t.schedule,
                        T=t.T, image_size=None if t.is_toy else t.image_size,
                        channels=None if t.is_toy else t.channels, seed=t.seed,
                        threads=t.threads, checkpoint_every=t.checkpoint_every,
                        preview_every=t.preview_every)
        except ConfigError as exc:
            problems.append(str(exc))
    return problems


# ---- persistence ---------------------------------------------------------------------------

_GROUPS = (("inference", InferencePrefs), ("model", ModelPrefs), ("training", TrainingPrefs))


def save_preferences(settings, prefs: Preferences) -> None:
    """Store ``prefs`` in a QSettings under ``preferences/<group>/<name>`` as text."""
    for group, _cls in _GROUPS:
        for name, value in asdict(getattr(prefs, group)).items():
            key = f"{group}.{name}"
            text = format_field(key, value) if key in FIELDS else str(value)
            settings.setValue(f"preferences/{group}/{name}", text)
    settings.sync()


def load_preferences(settings) -> Preferences:
    """The stored preferences; a missing or unreadable value keeps its default."""
    groups = {}
    for group, cls in _GROUPS:
        default = cls()
        values = {}
        for f in fields(cls):
            raw = settings.value(f"preferences/{group}/{f.name}")
            if raw is None:
                continue
            key = f"{group}.{f.name}"
            text = str(raw)
            try:
                if key in FIELDS:
                    values[f.name] = parse_field(key, text)
                elif f.name == "channels":
                    values[f.name] = int(text) if text in ("1", "3") else default.channels
                else:
                    values[f.name] = text
            except FieldError:
                continue
        obj = replace(default, **values)
        groups[group] = _sanitised(obj)
    return Preferences(**groups)


def _sanitised(obj):
    """Choices read back from a settings file that are no longer valid fall back."""
    if isinstance(obj, InferencePrefs) and obj.device not in DEVICES:
        return replace(obj, device="auto")
    if isinstance(obj, TrainingPrefs):
        d = TrainingPrefs()
        changes = {}
        for name, allowed in (("data_kind", DATA_KINDS), ("toy", TOY_SETS),
                              ("schedule", SCHEDULES), ("device", DEVICES),
                              ("length_unit", ("steps", "epochs"))):
            if getattr(obj, name) not in allowed:
                changes[name] = getattr(d, name)
        return replace(obj, **changes) if changes else obj
    return obj
