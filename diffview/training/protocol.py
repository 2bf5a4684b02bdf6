"""The line protocol between ``diffview train --progress-json --stdin-control`` and the app.

Torch-free, so the GUI can import it. The training process writes one JSON object per line on
stdout; every object has an ``"event"`` key:

``status``      ``message``: a note such as "loading data" before the first step.
``started``     ``run_dir``, ``step`` (0, or the resumed step), ``total_steps``, ``kind``
                (``"image"``/``"points"``), ``sample_shape``, ``parameters``, ``device``,
                ``config`` (the run's :class:`~diffview.training.config.TrainConfig` as a dict).
``progress``    the latest :class:`~diffview.training.loop.Progress` fields (``step``,
                ``total_steps``, ``loss``, ``loss_avg``, ``lr``, ``samples_per_s``,
                ``elapsed_s``, ``eta_s``) and ``steps``/``losses``: every step's loss since the
                previous progress line (lines are rate-limited, the curve is complete).
``checkpoint``  ``step``, ``path``.
``preview``     ``step``, ``path`` (the ``.npy`` kept in the run folder) and the samples inline
                (see :func:`encode_array`), so the app never reads a file on its GUI thread.
``paused`` / ``resumed`` / ``stopping``  acknowledgements of the commands below (``step``).
``stopped``     ``reason`` (``"steps"``, ``"time"``, ``"cancelled"``), ``step``, ``checkpoint``.
``exporting``   ``path``.
``exported``    ``path``, ``max_abs_diff``.
``error``       ``stage`` (``"config"``, ``"data"``, ``"train"``, ``"export"``), ``message``.

Commands, one per line on stdin: ``pause``, ``resume``, ``stop``. End of input counts as
``stop`` (the app went away), so an orphaned training never runs on.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

__all__ = ["COMMANDS", "EVENTS", "decode_array", "decode_line", "encode_array", "encode_event"]

COMMANDS = ("pause", "resume", "stop")
EVENTS = ("status", "started", "progress", "checkpoint", "preview", "paused", "resumed",
          "stopping", "stopped", "exporting", "exported", "error")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def encode_event(event: str, **fields: Any) -> str:
    """One protocol line (without the newline)."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    return json.dumps({"event": event, **_clean(fields)}, allow_nan=False,
                      separators=(",", ":"))


def decode_line(line: str | bytes) -> dict | None:
    """The event dict of a protocol line, or None for anything else (a stray print)."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("event") not in EVENTS:
        return None
    return obj


def encode_array(x: np.ndarray, kind: str) -> dict:
    """Preview samples as a small JSON-able dict.

    Images (``(n, C, H, W)`` in [-1, 1]) travel as uint8, points as float32; both base64.
    """
    x = np.asarray(x)
    if kind == "image":
        data = np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
    else:
        data = np.nan_to_num(x.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return {"kind": kind, "dtype": str(data.dtype), "shape": list(data.shape),
            "data": base64.b64encode(np.ascontiguousarray(data).tobytes()).decode("ascii")}


def decode_array(obj: dict) -> np.ndarray:
    """Inverse of :func:`encode_array`: float32 images in [-1, 1], or float32 points.

    Raises
    ------
    ValueError
        if the dict is malformed.
    """
    try:
        dtype = np.dtype(obj["dtype"])
        shape = tuple(int(v) for v in obj["shape"])
        raw = base64.b64decode(obj["data"], validate=True)
        data = np.frombuffer(raw, dtype=dtype).reshape(shape)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed preview: {exc}") from None
    if obj.get("kind") == "image":
        return data.astype(np.float32) / 127.5 - 1.0
    return data.astype(np.float32)
