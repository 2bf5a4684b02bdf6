"""Conventions shared by every headless run: specs, frames, results, cancellation.

A *run* is a generator function ``run_xxx(spec, ..., token=None)`` that takes a frozen spec
dataclass (everything that defines the run, including its seed), yields frame dataclasses while
it works and returns a result dataclass (``StopIteration.value``). The GUI runs it on a worker
thread (``diffview.gui.jobs``), the command line and the evaluation drive it with
:func:`run_to_end`. Nothing here imports Qt or torch.

Every frame subclasses :class:`Progress` (``step`` of ``total``; ``total == 0`` means unknown),
so whoever drives a run can show progress and an ETA without knowing the run.

Cancellation is cooperative: a :class:`CancelToken` is set from another thread, and runs check it
between steps and, through :func:`cancellable`, between chunks of a network call. A cancelled run
raises :class:`Cancelled`; a run that wants to hand back what it did so far catches it and
returns a partial result with ``cancelled=True``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

__all__ = ["CancelToken", "Cancelled", "Progress", "Run", "cancellable", "check", "run_to_end"]

F = TypeVar("F")
R = TypeVar("R")
Run = Generator[F, None, R]
"""The type of a run: yields frames ``F``, returns a result ``R``."""


class Cancelled(Exception):
    """Raised inside a run when its token was cancelled; not a failure."""


class CancelToken:
    """A flag shared between the thread that cancels (the GUI) and the run that polls it."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` when cancelled (for long loops that do not yield)."""
        if self._event.is_set():
            raise Cancelled


def check(token: CancelToken | None) -> None:
    """Raise :class:`Cancelled` when ``token`` is set; a None token never cancels."""
    if token is not None and token.cancelled:
        raise Cancelled


@dataclass(frozen=True, kw_only=True)
class Progress:
    """Base of every frame: ``step`` done out of ``total`` (0: unknown)."""

    step: int
    total: int


def cancellable(predict: Callable[..., np.ndarray], token: CancelToken | None,
                chunk: int = 32) -> Callable[..., np.ndarray]:
    """Wrap ``predict(x, t, *rest) -> array`` to run in chunks of ``chunk`` rows and stop between
    them when ``token`` is cancelled, so a Cancel lands within one chunk's inference time even
    for a large batch. Every array argument with the batch's length is sliced with ``x``.

    With ``token=None`` the function is returned unchanged.
    """
    if token is None:
        return predict

    def run(x: np.ndarray, *args: Any) -> np.ndarray:
        check(token)
        n = len(x)
        if n <= chunk:
            return predict(x, *args)
        parts = []
        for start in range(0, n, chunk):
            check(token)
            sl = slice(start, start + chunk)
            rest = [a[sl] if isinstance(a, np.ndarray) and a.ndim and len(a) == n else a
                    for a in args]
            parts.append(predict(x[sl], *rest))
        return np.concatenate(parts, axis=0)

    return run


def run_to_end(run: Generator[F, None, R], on_frame: Callable[[F], None] | None = None) -> R:
    """Drive a run to its end on this thread and return its result.

    ``on_frame(frame)`` is called with every frame (e.g. a progress bar on the command line).
    """
    while True:
        try:
            frame = next(run)
        except StopIteration as stop:
            return stop.value
        if on_frame is not None:
            on_frame(frame)
