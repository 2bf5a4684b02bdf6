"""The status bar's job area: what ``context.jobs`` runs, its progress and ETA, and Cancel.

:class:`JobStatusBar` listens to the :class:`~diffview.gui.jobs.JobManager` only; it shows the
newest running job ("Sampling 40% ETA 0:07", "+1" when more run), and Cancel calls
``jobs.cancel_all()``. A job whose first ETA exceeds :data:`LONG_RUN_S` says so once in the
status line ("Sampling: about 45 s").
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from diffview.gui.jobs import JobManager, format_eta

__all__ = ["LONG_RUN_S", "PROGRESS_REFRESH_MS", "JobStatusBar", "describe_duration"]

PROGRESS_REFRESH_MS = 100  # the progress bar redraws at most this often
LONG_RUN_S = 10.0          # a run expected to take longer is announced as it starts


def describe_duration(seconds: float) -> str:
    """``"about 45 s"``, ``"about 3 min"``, ``"about 1.5 h"``."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 5400:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


class JobStatusBar(QObject):
    """Progress bar, ETA and Cancel of the running jobs, in ``status_bar``."""

    def __init__(self, jobs: JobManager, status_bar: QStatusBar):
        super().__init__(status_bar)
        self.jobs = jobs
        self.status_bar = status_bar
        self.progress = QProgressBar()
        self.progress.setObjectName("job_progress")
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(True)
        self.progress.setToolTip("Progress of background work")
        self.eta_label = QLabel("")
        self.eta_label.setObjectName("job_eta")
        self.eta_label.setToolTip("Time left for the job shown, from its rate so far")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("job_cancel")
        self.cancel_button.setToolTip("Stop the running background jobs (Esc); a cancelled run "
                                      "keeps what it did")
        self.cancel_button.clicked.connect(jobs.cancel_all)
        for w in (self.progress, self.eta_label, self.cancel_button):
            w.hide()
            status_bar.addPermanentWidget(w)
        self._announced: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PROGRESS_REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        jobs.job_started.connect(self._on_started)
        jobs.job_progress.connect(self._on_progress)
        jobs.job_ended.connect(lambda name, _how: self._on_ended(name))

    def _on_started(self, name: str) -> None:
        self._announced.discard(name)
        self.refresh()  # a new job shows at once

    def _on_progress(self, name: str, step: int, total: int) -> None:
        if self.progress.isHidden() or (total > 0 and self.progress.maximum() == 0):
            self.refresh()  # a job's first counted step shows at once
        elif not self._timer.isActive():
            # QProgressBar.setValue repaints synchronously (tens of ms on a loaded CPU):
            # coalesce a run's per-step reports into one refresh per PROGRESS_REFRESH_MS.
            self._timer.start()

    def _on_ended(self, name: str) -> None:
        self._announced.discard(name)
        self.refresh()

    def refresh(self) -> None:
        """Show the newest running job (or hide everything when none runs)."""
        running = self.jobs.running()
        if not running:
            self._timer.stop()
            for w in (self.progress, self.eta_label, self.cancel_button):
                w.hide()
            return
        job = running[-1]
        more = f" (+{len(running) - 1})" if len(running) > 1 else ""
        self.progress.setRange(0, max(job.total, 0))
        if job.total > 0:
            self.progress.setValue(min(job.step, job.total))
        self.progress.setFormat(f"{job.name} %p%{more}" if job.total > 0 else f"{job.name}{more}")
        eta = job.eta_s
        self.eta_label.setText(format_eta(eta))
        self.eta_label.setVisible(eta is not None)
        if eta is not None and eta > LONG_RUN_S and job.name not in self._announced:
            self._announced.add(job.name)
            self.status_bar.showMessage(f"{job.name}: {describe_duration(eta)} "
                                        "(Cancel keeps what it did)", 10000)
        self.progress.show()
        self.cancel_button.show()
