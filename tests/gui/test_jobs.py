"""The one Job type: frames, results, partial results after Cancel, errors, lanes, progress."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

from diffview.gui.context import AppContext
from diffview.gui.jobs import Job, JobStatus, format_eta
from diffview.runs.base import Cancelled, Progress


@dataclass(frozen=True, kw_only=True)
class _Frame(Progress):
    x: np.ndarray


def _counting_run(n, gate=None, pause=0.0):
    """Yields n frames; returns the sum of what it did, or the partial sum when cancelled."""
    def start(token):
        done = []
        try:
            for k in range(1, n + 1):
                if gate is not None:
                    gate.wait(5)
                time.sleep(pause)
                done.append(k)
                yield _Frame(step=k, total=n, x=np.full(3, k, np.float32))
        except Cancelled:
            return ("partial", sum(done))
        return ("full", sum(done))
    return start


@pytest.fixture
def ctx(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFVIEW_SETTINGS_DIR", str(tmp_path))
    context = AppContext()
    yield context
    context.jobs.shutdown()


def test_result_and_progress_reach_the_job(ctx, qtbot):
    frames, results, progress = [], [], []
    ctx.jobs.job_progress.connect(lambda name, s, t: progress.append((name, s, t)))
    job = Job("Counting", _counting_run(5), on_frame=frames.append, on_result=results.append)
    with qtbot.waitSignal(ctx.jobs.job_ended, timeout=5000) as ended:
        ctx.jobs.start(job)
    assert ended.args == ["Counting", "finished"]
    assert results == [("full", 15)]
    assert frames and frames[-1].step == 5          # the last frame is always delivered
    assert progress[-1] == ("Counting", 5, 5)
    assert not ctx.jobs.is_busy()


def test_cancel_hands_back_the_partial_result(ctx, qtbot):
    import threading

    gate = threading.Event()
    got = []
    job = Job("Slow", _counting_run(1000, gate, pause=0.01), on_cancelled=got.append,
              on_result=lambda r: got.append(("unexpected", r)))
    ctx.jobs.start(job)
    gate.set()
    qtbot.waitUntil(lambda: ctx.jobs.running() and ctx.jobs.running()[0].step >= 2,
                    timeout=5000)
    with qtbot.waitSignal(ctx.jobs.job_ended, timeout=5000) as ended:
        ctx.jobs.cancel("Slow")
    assert ended.args == ["Slow", "cancelled"]
    assert len(got) == 1 and got[0][0] == "partial" and got[0][1] >= 3


def test_an_error_reaches_the_user_once(ctx, qtbot):
    def start(token):
        yield _Frame(step=1, total=2, x=np.zeros(1))
        raise ValueError("the spec names no sampler")

    errors = []
    ctx.error_raised.connect(lambda title, msg: errors.append((title, msg)))
    with qtbot.waitSignal(ctx.jobs.job_ended, timeout=5000):
        ctx.jobs.start(Job("Broken", start))
    assert len(errors) == 1
    assert errors[0][0] == "Broken failed" and "names no sampler" in errors[0][1]


def test_a_new_job_in_a_lane_supersedes_the_old(ctx, qtbot):
    import threading

    gate = threading.Event()
    first, second = [], []
    ctx.jobs.start(Job("A", _counting_run(1000, gate, pause=0.01), lane="lane",
                       on_result=first.append, on_cancelled=first.append))
    with qtbot.waitSignal(ctx.jobs.job_ended, timeout=5000):
        ctx.jobs.start(Job("B", _counting_run(3), lane="lane", on_result=second.append))
        gate.set()
    assert second == [("full", 6)]
    assert first == []          # the superseded run's result never reaches a slot


def test_eta_from_the_rate_of_steps(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("diffview.gui.jobs.time.perf_counter", lambda: clock[0])
    status = JobStatus("x", total=100)
    status.first_step_time, status.first_step, status.step = 100.0, 1, 1
    clock[0] = 102.0
    status.step = 2
    assert status.eta_s is None          # fewer than ETA_MIN_STEPS steps since the first
    clock[0] = 104.0
    status.step = 5                      # 4 steps in 4 s: 95 steps left at 1 step/s
    assert status.eta_s == pytest.approx(95.0)
    assert format_eta(95.0) == "ETA 1:35"
    assert format_eta(3725) == "ETA 1:02:05"
    assert format_eta(None) == ""
