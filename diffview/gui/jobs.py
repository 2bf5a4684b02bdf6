"""One ``Job`` type for all background work, and the :class:`JobManager` that runs them.

A :class:`Job` names a piece of work, says how to start its run (a ``diffview.runs`` generator
or any generator function of a :class:`~diffview.runs.base.CancelToken`) and where its frames,
its result, a partial result after Cancel, and its error go. Panels hand jobs to the
application context's manager (``context.jobs.start(job)``); the manager owns progress, ETA,
Cancel, errors and what the status bar shows, so no panel matches job names or wires runners by
hand.

Each job runs in a *lane* (by default its name): starting a job in a busy lane supersedes the
running one there (its frames and result are dropped by request id), while jobs in different
lanes run side by side, each on its own :class:`~diffview.gui.workers.JobRunner` thread.
Frames are latest-frame-wins at the job's ``max_fps``; a frame that is a
:class:`~diffview.runs.base.Progress` drives the status bar's progress and ETA.

Why JobRunner and not superqt's ``thread_worker``: JobRunner gives request ids (stale frames of a
superseded run never reach a slot), latest-frame-wins delivery throttled to the screen, and
:func:`~diffview.gui.workers.detach` of every array crossing threads; superqt's worker would need
all three rebuilt on top of it, and one dependency more in the frozen build.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from diffview.gui.workers import JobRunner
from diffview.runs.base import CancelToken, Progress

__all__ = ["ETA_MIN_STEPS", "Job", "JobManager", "JobStatus", "JobTicket", "format_eta"]

log = logging.getLogger(__name__)

ETA_MIN_STEPS = 3
"""Steps a run must have done before an ETA is shown."""

Start = Callable[[CancelToken], Generator[Any, None, Any]]


@dataclass(frozen=True)
class Job:
    """A named piece of background work.

    Attributes
    ----------
    name : str
        Shown in the status bar ("Sampling", "Sampler race").
    start : callable
        ``start(token)`` returns the generator to run on the worker (usually
        ``lambda token: run_sampling(spec, model, token)``).
    on_frame, on_result, on_cancelled, on_error : callable, optional
        Called on the GUI thread with the newest frame, the result, the partial result of a
        cancelled run (or None), and the error message. Without ``on_error`` the error is shown
        to the user by the context, titled ``error_title`` (default: "<name> failed").
    lane : str, optional
        Jobs in one lane supersede each other; default: the name.
    max_fps : float
        The most frames per second delivered to ``on_frame``.
    show_progress : bool
        Whether the status bar shows the job (a quick file check need not).
    """

    name: str
    start: Start
    on_frame: Callable[[Any], None] | None = None
    on_result: Callable[[Any], None] | None = None
    on_cancelled: Callable[[Any], None] | None = None
    on_error: Callable[[str], None] | None = None
    error_title: str = ""
    lane: str = ""
    max_fps: float = 30.0
    show_progress: bool = True

    @property
    def key(self) -> str:
        return self.lane or self.name


@dataclass
class JobStatus:
    """What the status bar shows of one running job."""

    name: str
    step: int = 0
    total: int = 0
    started: float = field(default_factory=time.perf_counter)
    first_step_time: float | None = None
    first_step: int = 0

    @property
    def eta_s(self) -> float | None:
        """Seconds left, from the rate since the first reported step; None until known."""
        if self.total <= 0 or self.first_step_time is None:
            return None
        done = self.step - self.first_step
        if done < ETA_MIN_STEPS:
            return None
        rate = done / max(time.perf_counter() - self.first_step_time, 1e-9)
        return max(self.total - self.step, 0) / rate


def format_eta(seconds: float | None) -> str:
    """``"ETA 0:07"``, ``"ETA 1:02:03"``; empty when unknown."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"ETA {h}:{m:02d}:{sec:02d}" if h else f"ETA {m}:{sec:02d}"


class JobTicket:
    """Work the manager does not run itself (a child process) but shows like a job: from
    :meth:`JobManager.track`; the owner reports ``progress`` and calls ``end`` once."""

    def __init__(self, manager: JobManager, key: str, name: str) -> None:
        self._manager, self.key, self.name = manager, key, name

    def progress(self, step: int, total: int) -> None:
        self._manager._progress(self.key, self.name, step, total)

    def end(self, how: str = "finished") -> None:
        self._manager._end_tracked(self.key, how)


class JobManager(QObject):
    """Runs :class:`Job` s, one :class:`JobRunner` per lane, and reports on them.

    Signals
    -------
    job_started(str)
        A job's name, when it starts.
    job_progress(str, int, int)
        Name, step, total (total 0: unknown) after each delivered progress frame.
    job_ended(str, str)
        Name and how it ended: "finished", "cancelled" or "failed".
    busy_changed(bool)
        Whether any job is running.
    error(str, str)
        Title and message of a failed job without its own ``on_error``.
    """

    job_started = Signal(str)
    job_progress = Signal(str, int, int)
    job_ended = Signal(str, str)
    busy_changed = Signal(bool)
    error = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runners: dict[str, JobRunner] = {}
        self._current: dict[str, Job] = {}
        self._status: dict[str, JobStatus] = {}
        self._partial: dict[str, Any] = {}
        self._tracked: dict[str, Callable[[], None]] = {}
        self._busy = False
        self._shut_down = False

    # ---- starting and stopping -------------------------------------------------------------

    def start(self, job: Job) -> int:
        """Start ``job`` in its lane (superseding the lane's running job); returns its request
        id."""
        if self._shut_down:
            raise RuntimeError("the job manager has been shut down")
        key = job.key
        runner = self._runner(key, job.max_fps)
        previous = self._current.get(key)
        if previous is not None and runner.is_busy():
            self._end(key, "cancelled", quiet=True)
        self._current[key] = job
        runner.set_max_fps(job.max_fps)
        self._partial.pop(key, None)
        rid = runner.start(job.start)
        if job.show_progress:
            self._status[key] = JobStatus(job.name)
            self.job_started.emit(job.name)
            self.job_progress.emit(job.name, 0, 0)
        self._update_busy()
        return rid

    def track(self, name: str, cancel: Callable[[], None], lane: str = "") -> JobTicket:
        """Show work run elsewhere (a training child process) in the status bar like a job:
        ``cancel()`` is called by :meth:`cancel` / :meth:`cancel_all`; the ticket reports
        progress and the end."""
        key = lane or name
        self._tracked[key] = cancel
        self._status[key] = JobStatus(name)
        self.job_started.emit(name)
        self.job_progress.emit(name, 0, 0)
        self._update_busy()
        return JobTicket(self, key, name)

    def cancel(self, lane: str) -> None:
        """Ask the job in ``lane`` to stop (its ``on_cancelled`` follows)."""
        runner = self._runners.get(lane)
        if runner is not None:
            runner.cancel()
        if lane in self._tracked:
            self._tracked[lane]()

    def cancel_all(self) -> None:
        for runner in self._runners.values():
            runner.cancel()
        for cancel in list(self._tracked.values()):
            cancel()

    def is_busy(self, lane: str | None = None) -> bool:
        if lane is not None:
            runner = self._runners.get(lane)
            return lane in self._tracked or (runner is not None and runner.is_busy())
        return bool(self._tracked) or any(r.is_busy() for r in self._runners.values())

    def running(self) -> list[JobStatus]:
        """The running jobs shown in the status bar, oldest first."""
        return list(self._status.values())

    def runner(self, lane: str) -> JobRunner | None:
        """The lane's runner (tests wait on its signals)."""
        return self._runners.get(lane)

    def shutdown(self, timeout_ms: int = 3000) -> None:
        """Cancel every job and stop every thread. Safe to call more than once."""
        if self._shut_down:
            return
        self._shut_down = True
        for runner in self._runners.values():
            runner.shutdown(timeout_ms)
        self._tracked.clear()
        self._status.clear()
        self._update_busy()

    # ---- runner signals --------------------------------------------------------------------

    def _runner(self, key: str, max_fps: float) -> JobRunner:
        runner = self._runners.get(key)
        if runner is None:
            runner = JobRunner(key, self, max_fps=max_fps)
            runner.frame_ready.connect(lambda _rid, frame, k=key: self._on_frame(k, frame))
            runner.run_finished.connect(lambda _rid, res, k=key: self._on_finished(k, res))
            runner.run_failed.connect(lambda _rid, msg, k=key: self._on_failed(k, msg))
            runner.run_partial.connect(lambda _rid, res, k=key: self._on_partial(k, res))
            runner.run_cancelled.connect(lambda _rid, k=key: self._on_cancelled(k))
            self._runners[key] = runner
        return runner

    def _on_frame(self, key: str, frame: Any) -> None:
        job = self._current.get(key)
        if job is None:
            return
        if isinstance(frame, Progress):
            self._progress(key, job.name, frame.step, frame.total)
        if job.on_frame is not None:
            job.on_frame(frame)

    def _progress(self, key: str, name: str, step: int, total: int) -> None:
        status = self._status.get(key)
        if status is None:
            return
        if status.first_step_time is None and step > 0:
            status.first_step_time, status.first_step = time.perf_counter(), int(step)
        status.step, status.total = int(step), int(total)
        self.job_progress.emit(name, status.step, status.total)

    def _end_tracked(self, key: str, how: str) -> None:
        if self._tracked.pop(key, None) is None:
            return
        status = self._status.pop(key, None)
        if status is not None:
            self.job_ended.emit(status.name, how)
        self._update_busy()

    def _on_finished(self, key: str, result: Any) -> None:
        job = self._end(key, "finished")
        if job is not None and job.on_result is not None:
            job.on_result(result)

    def _on_partial(self, key: str, result: Any) -> None:
        if key in self._current:
            self._partial[key] = result

    def _on_cancelled(self, key: str) -> None:
        partial = self._partial.pop(key, None)
        job = self._end(key, "cancelled")
        if job is not None and job.on_cancelled is not None:
            job.on_cancelled(partial)

    def _on_failed(self, key: str, message: str) -> None:
        job = self._end(key, "failed")
        if job is None:
            return
        if job.on_error is not None:
            job.on_error(message)
        else:
            self.error.emit(job.error_title or f"{job.name} failed", message)

    def _end(self, key: str, how: str, quiet: bool = False) -> Job | None:
        job = self._current.pop(key, None)
        self._status.pop(key, None)
        if job is not None and not quiet:
            self.job_ended.emit(job.name, how)
        self._update_busy()
        return job

    def _update_busy(self) -> None:
        busy = bool(self._tracked) or (bool(self._current) and self.is_busy())
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
