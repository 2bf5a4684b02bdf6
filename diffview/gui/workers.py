"""Background jobs: run a core generator on a QThread and deliver its frames as Qt signals.

A *job* is a callable ``fn(token) -> Iterator[frame]``. The :class:`JobRunner` runs it on its own
thread, checks the :class:`CancelToken` between yields, and sends the frames to the GUI thread.
No maths lives here: the panels wrap the core generators (``sample_iter``, ``euler_maruyama_iter``,
...) into jobs.

Delivery rules
--------------
* Every job gets a request id. Only the *current* job's signals reach the public signals; frames,
  results and errors of a superseded job are dropped on the GUI thread, so a slot never sees a
  stale frame.
* Frames are *latest-frame-wins*: the worker keeps only the newest undelivered frame, and the GUI
  side hands one on at most ``max_fps`` times a second. A job that needs every frame (a
  trajectory to replay) should collect them itself and ``return`` them: the return value arrives
  in ``run_finished``. The last frame of a finished run is always delivered before
  ``run_finished``.
* Arrays are copied before they cross threads (:func:`detach`), so the job may keep mutating its
  buffers.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from diffview.runs.base import Cancelled, CancelToken

__all__ = ["CancelToken", "JobCancelled", "JobRunner", "detach", "user_message"]

log = logging.getLogger(__name__)

Job = Callable[["CancelToken"], Iterator[object]]


JobCancelled = Cancelled
"""A job may raise this to stop early; it counts as a cancellation, not a failure."""


def detach(obj: Any) -> Any:
    """A copy of ``obj`` that shares no ndarray memory with it.

    Handles ndarrays, tuples, lists, dicts and dataclass instances (recursively); other objects
    are returned as they are.
    """
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if isinstance(obj, tuple):
        items = [detach(v) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    if isinstance(obj, list):
        return [detach(v) for v in obj]
    if isinstance(obj, dict):
        return {k: detach(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: detach(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.init and isinstance(getattr(obj, f.name), (np.ndarray, list, tuple, dict))
        }
        return dataclasses.replace(obj, **changes) if changes else obj
    return obj


def user_message(exc: BaseException) -> str:
    """Plain words for an exception: its message, or its type name when it has none."""
    text = str(exc).strip()
    if isinstance(exc, MemoryError):
        return "Out of memory. Try a smaller batch or image."
    if not text:
        return type(exc).__name__
    if isinstance(exc, (ValueError, OSError)) and type(exc).__module__.startswith("diffview"):
        return text
    return f"{text} ({type(exc).__name__})"


# Every started worker thread, until its runner is shut down. A runner whose owner is garbage
# collected without shutdown() (a context dropped by a test, a panel closed by Qt) would
# otherwise destroy a running QThread, which aborts the process; kept here, the thread lives on
# until shutdown() or interpreter exit, where _stop_all() cancels and joins it.
_LIVE: dict[int, tuple[QThread, object, list]] = {}


def _stop_all(timeout_ms: int = 5000) -> None:
    threads = list(_LIVE.values())
    _LIVE.clear()
    for thread, _worker, holder in threads:
        if holder[0] is not None:
            holder[0].cancel()
        thread.quit()
    for thread, _worker, _holder in threads:
        thread.wait(timeout_ms)


atexit.register(_stop_all)


class _Worker(QObject):
    """Lives on the runner's thread; runs one job at a time."""

    frame_posted = Signal(int)
    finished = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int, object)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: tuple[int, object] | None = None

    def take_pending(self) -> tuple[int, object] | None:
        with self._lock:
            pending, self._pending = self._pending, None
        return pending

    def _post(self, request_id: int, frame: object) -> None:
        frame = detach(frame)
        with self._lock:
            was_empty = self._pending is None
            self._pending = (request_id, frame)
        if was_empty:
            self.frame_posted.emit(request_id)

    @Slot(int, object, object)
    def run(self, request_id: int, fn: Job, token: CancelToken) -> None:
        if token.cancelled:
            self.cancelled.emit(request_id, None)
            return
        gen = None
        try:
            gen = fn(token)
            while True:
                try:
                    frame = next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                if token.cancelled:
                    # A run may catch Cancelled and return what it has (a replayable partial
                    # result); a plain generator just stops.
                    partial = None
                    try:
                        gen.throw(Cancelled())
                    except StopIteration as stop:
                        partial = stop.value
                    except Cancelled:
                        pass
                    else:
                        gen.close()
                    self.cancelled.emit(request_id, detach(partial))
                    return
                self._post(request_id, frame)
        except Cancelled:
            self.cancelled.emit(request_id, None)
            return
        except Exception as exc:  # noqa: BLE001 - every failure must reach the user
            log.exception("job %d failed", request_id)
            if token.cancelled:
                self.cancelled.emit(request_id, None)
            else:
                self.failed.emit(request_id, user_message(exc))
            return
        if token.cancelled:
            # Finished on its own after Cancel was pressed: keep the result, it is complete.
            self.cancelled.emit(request_id, detach(result))
        else:
            self.finished.emit(request_id, detach(result))


class JobRunner(QObject):
    """One background thread that runs one job at a time.

    Parameters
    ----------
    name : str
        Shown in progress messages and used as the thread's name.
    parent : QObject, optional
    max_fps : float
        The most frames per second handed to ``frame_ready``.

    Signals
    -------
    frame_ready(int, object)
        Request id and the newest frame of the current job.
    run_finished(int, object)
        Request id and the job's return value (``StopIteration.value``).
    run_failed(int, str)
        Request id and a message for the user.
    run_cancelled(int)
        The current job stopped after :meth:`cancel`.
    run_partial(int, object)
        Emitted just before ``run_cancelled`` when the cancelled job returned a partial result
        (a run that catches :class:`~diffview.runs.base.Cancelled` and returns what it did).
    busy_changed(bool)
    """

    frame_ready = Signal(int, object)
    run_finished = Signal(int, object)
    run_failed = Signal(int, str)
    run_cancelled = Signal(int)
    run_partial = Signal(int, object)
    busy_changed = Signal(bool)

    _run_requested = Signal(int, object, object)

    def __init__(self, name: str, parent: QObject | None = None, max_fps: float = 60.0):
        super().__init__(parent)
        self.name = name
        self._interval_ms = 1000.0 / max(float(max_fps), 1e-3)
        self._request_id = 0
        self._token: CancelToken | None = None
        self._busy = False
        self._shut_down = False
        self._last_delivery = 0.0

        self._thread = QThread()
        self._thread.setObjectName(f"diffview-{name}")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._run_requested.connect(self._worker.run)
        self._worker.frame_posted.connect(self._on_frame_posted)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._worker_thread_started = False
        self._token_holder: list = [None]   # the current token, for _stop_all

        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.timeout.connect(self._deliver_pending)

        app = QCoreApplication.instance()
        if app is not None:
            # A runner whose owner forgot shutdown() still stops its thread before Qt exits.
            app.aboutToQuit.connect(self.shutdown)

    # ---- public API ------------------------------------------------------------------------

    @property
    def request_id(self) -> int:
        """The id of the current (or last) job."""
        return self._request_id

    def start(self, fn: Job) -> int:
        """Run ``fn(token)`` on the worker thread, cancelling the running job if any.

        Returns
        -------
        int
            The request id that the job's signals carry.
        """
        if self._shut_down:
            raise RuntimeError(f"JobRunner {self.name!r} has been shut down")
        if self._token is not None:
            self._token.cancel()
        if not self._worker_thread_started:
            self._thread.start()
            self._worker_thread_started = True
            _LIVE[id(self._thread)] = (self._thread, self._worker, self._token_holder)
        self._request_id += 1
        self._token = CancelToken()
        self._token_holder[0] = self._token
        self._flush_timer.stop()
        self._worker.take_pending()  # a superseded job's frame must not show up later
        self._set_busy(True)
        self._run_requested.emit(self._request_id, fn, self._token)
        return self._request_id

    def set_max_fps(self, max_fps: float) -> None:
        """Change the most frames per second handed to ``frame_ready``."""
        self._interval_ms = 1000.0 / max(float(max_fps), 1e-3)

    def cancel(self) -> None:
        """Ask the current job to stop; ``run_cancelled`` follows at its next yield."""
        if self._token is not None:
            self._token.cancel()

    def is_busy(self) -> bool:
        return self._busy

    def shutdown(self, timeout_ms: int = 3000) -> None:
        """Cancel the job, stop the thread and wait for it. Safe to call more than once."""
        if self._shut_down:
            return
        self._shut_down = True
        self.cancel()
        self._flush_timer.stop()
        if self._worker_thread_started:
            self._thread.quit()
            if self._thread.wait(timeout_ms):
                _LIVE.pop(id(self._thread), None)
            else:  # stays in _LIVE: never destroyed while it runs
                log.warning("job thread %r did not stop within %d ms", self.name, timeout_ms)
        self._set_busy(False)

    # ---- GUI-thread side -------------------------------------------------------------------

    def _is_current(self, request_id: int) -> bool:
        return request_id == self._request_id and not self._shut_down

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    @Slot(int)
    def _on_frame_posted(self, request_id: int) -> None:
        if not self._is_current(request_id):
            self._worker.take_pending()
            return
        wait = self._interval_ms - (time.perf_counter() - self._last_delivery) * 1000.0
        if wait <= 0:
            self._deliver_pending()
        elif not self._flush_timer.isActive():
            self._flush_timer.start(max(1, int(wait)))

    @Slot()
    def _deliver_pending(self) -> None:
        self._flush_timer.stop()
        pending = self._worker.take_pending()
        if pending is None:
            return
        request_id, frame = pending
        if not self._is_current(request_id):
            return
        if self._token is not None and self._token.cancelled:
            return
        self._last_delivery = time.perf_counter()
        self.frame_ready.emit(request_id, frame)

    @Slot(int, object)
    def _on_finished(self, request_id: int, result: object) -> None:
        if not self._is_current(request_id):
            return
        self._deliver_pending()
        self._set_busy(False)
        self.run_finished.emit(request_id, result)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if not self._is_current(request_id):
            return
        self._flush_timer.stop()
        self._worker.take_pending()
        self._set_busy(False)
        self.run_failed.emit(request_id, message)

    @Slot(int, object)
    def _on_cancelled(self, request_id: int, partial: object = None) -> None:
        if not self._is_current(request_id):
            return
        self._flush_timer.stop()
        self._worker.take_pending()
        self._set_busy(False)
        if partial is not None:
            self.run_partial.emit(request_id, partial)
        self.run_cancelled.emit(request_id)


def call_in_worker(fn: Callable[[], object]) -> Job:
    """Wrap a plain function (a file load, a model check) as a job with no frames."""

    def job(token: CancelToken) -> Iterator[object]:
        return fn()
        yield  # noqa: B901 - makes this a generator

    return job
