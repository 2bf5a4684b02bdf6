"""Training under cancellation, window close and SIGKILL (issue #7, the training cases).

Each test runs a real ``diffview train`` child on a tiny toy set. Starting one costs a torch
import (seconds; tens of seconds while the machine is busy), so the timeouts for start-up are
generous; the behaviours under test (cancel, close, kill) are timed separately.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

pytest.importorskip("torch")

from diffview.gui.preferences import Preferences, TrainingPrefs  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX signals")

STARTUP_TIMEOUT_MS = 180_000


def toy_prefs(**kw) -> TrainingPrefs:
    base = dict(data_kind="toy", toy="moons", steps=1_000_000, batch_size=8, hidden=8, lr=1e-3,
                ema=0.9, seed=0, device="cpu", preview_every=0, checkpoint_every=0, threads=1)
    base.update(kw)
    return TrainingPrefs(**base)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


def leftovers(run_dir) -> list:
    return sorted(p.name for p in run_dir.rglob("*.tmp"))


@pytest.fixture
def panel(qtbot, context, tmp_path):  # noqa: F811 - the conftest's context fixture
    from diffview.gui.panels.training import TrainingPanel

    p = TrainingPanel(context)
    p.session.runs_dir = tmp_path / "runs"
    qtbot.addWidget(p)
    yield p
    p.shutdown()


def wait_running(qtbot, session, min_steps: int = 3) -> None:
    qtbot.waitUntil(lambda: session.state == "running", timeout=STARTUP_TIMEOUT_MS)
    qtbot.waitUntil(lambda: session.step >= min_steps, timeout=60_000)


def test_cancel_during_training_takes_effect_at_once(qtbot, panel):
    session = panel.session
    acks = []
    session.event_received.connect(
        lambda ev: acks.append(time.monotonic()) if ev["event"] == "stopping" else None)
    session.start(toy_prefs())
    wait_running(qtbot, session)
    pid = session.proc.pid()
    t0 = time.monotonic()
    session.cancel()
    assert session.state == "stopping"  # the panel shows it at once
    qtbot.waitUntil(lambda: session.state == "cancelled", timeout=10_000)
    done = time.monotonic() - t0
    ack = acks[0] - t0
    # the child acknowledges within 0.5 s and stops after the step it was in
    assert ack < 0.5, f"stop acknowledged after {ack:.2f} s"
    assert done < 3.0, f"cancel took {done:.2f} s"
    assert not alive(pid)
    from diffview.training.checkpoint import load_checkpoint

    assert load_checkpoint(session.run_dir / "checkpoint.pt")["step"] == session.step
    assert session.can_continue() and leftovers(session.run_dir) == []
    print(f"cancel: acknowledged after {ack * 1000:.0f} ms, child gone after {done:.2f} s")


def _window_with_training(qtbot, context):
    from diffview.gui.main_window import MainWindow
    from diffview.gui.panels.training import TrainingPanel

    w = MainWindow(context, panel_classes=[TrainingPanel], restore_layout=False)
    w.persist_layout = False
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.mark.parametrize("stuck", [False, True], ids=["responsive", "stuck-child"])
def test_closing_the_window_during_training_exits_quickly_and_cleanly(qtbot, context, qtlog,
                                                                       tmp_path, stuck):
    w = _window_with_training(qtbot, context)
    session = w.panels["training"].session
    session.runs_dir = tmp_path / "runs"
    assert w.training_actions.start_training(
        Preferences(training=toy_prefs(checkpoint_every=1)))
    wait_running(qtbot, session)
    qtbot.waitUntil(lambda: session.checkpoint_step >= 1, timeout=30_000)
    pid = session.proc.pid()
    if stuck:  # a child that no longer answers: close must kill it after the grace period
        os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    w.close()
    took = time.monotonic() - t0
    assert took < 3.0, f"closing took {took:.2f} s"
    assert not alive(pid)
    assert leftovers(session.run_dir) == []
    from diffview.training.checkpoint import load_checkpoint

    assert load_checkpoint(session.run_dir / "checkpoint.pt")["step"] >= 1
    messages = [r.message for r in qtlog.records]
    assert not any("Destroyed while" in m for m in messages), messages
    print(f"close ({'stuck' if stuck else 'responsive'} child): {took:.2f} s")


def test_sigkill_leaves_the_last_checkpoint_and_the_current_model_usable(
        qtbot, context, panel, tiny_model_path, tmp_path):
    import numpy as np

    from diffview.engine import OnnxDenoiser

    model = OnnxDenoiser(tiny_model_path, device="cpu")
    context.set_image_model(model)
    session = panel.session
    errors = []
    context.error_raised.connect(lambda t, m: errors.append(m))
    session.start(toy_prefs(checkpoint_every=2))
    wait_running(qtbot, session)
    qtbot.waitUntil(lambda: session.checkpoint_step >= 2, timeout=30_000)
    os.kill(session.proc.pid(), signal.SIGKILL)
    qtbot.waitUntil(lambda: session.state == "failed", timeout=10_000)
    assert "stopped unexpectedly" in errors[-1] and "checkpoint" in errors[-1]
    assert "Continue" in panel.state_label.text() and panel.continue_button.isEnabled()
    # the app's model is untouched and still works
    assert context.image_model is model
    x = np.zeros((2, 1, 28, 28), np.float32)
    assert np.isfinite(model.predict_eps(x, np.array([0, 999]))).all()
    assert OnnxDenoiser(tiny_model_path, device="cpu").info.sample_shape == (1, 28, 28)
    # the checkpoint on disk is whole, and exports to a loadable model
    from diffview.training.checkpoint import load_checkpoint
    from diffview.training.export import export_checkpoint

    ckpt = session.run_dir / "checkpoint.pt"
    state = load_checkpoint(ckpt)
    assert state["step"] >= 2 and state["step"] % 2 == 0
    assert leftovers(session.run_dir) == []
    out = export_checkpoint(ckpt, tmp_path / "rescued.onnx").path
    assert OnnxDenoiser(out, device="cpu").info.kind == "points"
