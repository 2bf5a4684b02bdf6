"""JobRunner: frames, results, errors, cancellation and stale-frame dropping."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from diffview.gui.workers import CancelToken, JobRunner, call_in_worker, detach


@pytest.fixture
def runner(qtbot):
    r = JobRunner("test", max_fps=1000.0)
    yield r
    r.shutdown()


def test_frames_and_result_arrive_in_order(qtbot, runner):
    frames = []
    runner.frame_ready.connect(lambda rid, f: frames.append((rid, f)))

    def job(token):
        yield from range(3)
        return "done"

    with qtbot.waitSignal(runner.run_finished, timeout=5000) as blocker:
        rid = runner.start(job)
    assert blocker.args == [rid, "done"]
    # Latest-frame-wins may skip frames, but the last one always arrives before the result.
    assert frames and frames[-1] == (rid, 2)
    assert all(r == rid for r, _ in frames)
    assert not runner.is_busy()


def test_failure_reaches_the_user(qtbot, runner):
    def job(token):
        yield 1
        raise ValueError("the image is empty")

    with qtbot.waitSignal(runner.run_failed, timeout=5000) as blocker:
        rid = runner.start(job)
    assert blocker.args[0] == rid
    assert "the image is empty" in blocker.args[1]


def test_cancel_stops_a_running_job(qtbot, runner):
    started = threading.Event()
    steps = []

    def job(token):
        started.set()
        for i in range(10_000):
            steps.append(i)
            time.sleep(0.005)
            yield i

    with qtbot.waitSignal(runner.busy_changed, timeout=5000):
        rid = runner.start(job)
    qtbot.waitUntil(started.is_set, timeout=5000)
    with qtbot.waitSignal(runner.run_cancelled, timeout=5000) as blocker:
        runner.cancel()
    assert blocker.args == [rid]
    n = len(steps)
    assert n < 10_000
    qtbot.wait(50)
    assert len(steps) == n  # the generator really stopped
    assert not runner.is_busy()


def test_new_job_supersedes_old_and_drops_its_frames(qtbot, runner):
    seen = []
    runner.frame_ready.connect(lambda rid, f: seen.append(rid))
    finished = []
    runner.run_finished.connect(lambda rid, v: finished.append(rid))
    cancelled = []
    runner.run_cancelled.connect(cancelled.append)
    gate = threading.Event()

    def slow(token):
        for i in range(1000):
            gate.wait(0.01)
            yield i

    def fast(token):
        yield "x"
        return 1

    first = runner.start(slow)
    qtbot.wait(30)
    with qtbot.waitSignal(runner.run_finished, timeout=5000):
        second = runner.start(fast)
    assert second != first
    qtbot.wait(30)
    assert finished == [second]
    assert cancelled == []  # the superseded job's end is not reported
    # frames of the first job may have arrived before the switch, none after
    idx = seen.index(second)
    assert all(r == second for r in seen[idx:])


def test_arrays_are_copied_across_threads(qtbot, runner):
    buf = np.zeros(4, np.float32)
    got = []
    runner.frame_ready.connect(lambda rid, f: got.append(f))

    def job(token):
        yield buf
        buf[:] = 7.0  # mutate after yielding: the delivered frame must not change
        return buf

    with qtbot.waitSignal(runner.run_finished, timeout=5000) as blocker:
        runner.start(job)
    assert got and np.all(got[-1] == 0.0)
    assert blocker.args[1] is not buf


def test_call_in_worker_returns_value(qtbot, runner):
    with qtbot.waitSignal(runner.run_finished, timeout=5000) as blocker:
        runner.start(call_in_worker(lambda: 41 + 1))
    assert blocker.args[1] == 42


def test_shutdown_twice_is_safe(qtbot):
    r = JobRunner("twice")

    def job(token):
        while True:
            time.sleep(0.01)
            yield None

    r.start(job)
    r.shutdown()
    r.shutdown()
    assert not r.is_busy()


def test_detach_copies_dataclass_arrays():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class F:
        x: np.ndarray
        n: int

    f = F(np.ones(3), 2)
    g = detach(f)
    assert g.x is not f.x and g.n == 2
    tok = CancelToken()
    assert not tok.cancelled
    tok.cancel()
    assert tok.cancelled
