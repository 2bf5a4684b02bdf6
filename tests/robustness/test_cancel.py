"""Cancel stops the work at once, with the real default model at real sizes.

"Stops" = no network call starts after the click (the one in flight finishes), the panel's
``run_cancelled`` arrives on the GUI thread and the panel is ready for the next run. The
half-second target of the issue is a speed figure: it depends on the machine's load (one
chunk of 32 images through the UNet takes ~80 ms on the quiet 2-core machine and over a
second when other jobs share it), so it is measured by ``python -m benchmarks
responsiveness`` and reported in docs/BENCHMARKS.md; here the wait is generous.
"""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import Qt

from .conftest import image_panels

TIMEOUT_MS = 10000


class CountingDenoiser:
    """Delegates to a real denoiser and records when each network call starts."""

    def __init__(self, inner):
        self.inner = inner
        self.info, self.provider, self.path = inner.info, inner.provider, inner.path
        self.starts: list[float] = []
        self._lock = threading.Lock()

    def predict_eps(self, x, t):
        with self._lock:
            self.starts.append(time.perf_counter())
        return self.inner.predict_eps(x, t)

    def started_after(self, t0: float) -> int:
        with self._lock:
            return sum(s > t0 for s in self.starts)


@pytest.fixture(scope="module")
def default_model_path():
    from diffview.engine import default_model_path

    path = default_model_path()
    if not path.is_file():
        pytest.skip("the bundled default model is not installed")
    return path


@pytest.fixture
def real_window(qtbot, default_model_path):
    """Main window with the image panels and the bundled Fashion-MNIST UNet."""
    from diffview.gui.context import AppContext
    from diffview.gui.main_window import MainWindow

    w = MainWindow(AppContext(device="cpu"), panel_classes=image_panels())
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    with qtbot.waitSignal(w.context.image_model_changed, timeout=60000):
        w.load_model(default_model_path)
    w.context.set_image_model(CountingDenoiser(w.context.image_model))
    yield w
    w.shutdown()


class Watch:
    """What :func:`cancel_during` watches: a first-frame signal, a cancelled signal and a busy
    test (a JobRunner's, or a panel's own)."""

    def __init__(self, frame_ready, run_cancelled, is_busy):
        self.frame_ready, self.run_cancelled, self.is_busy = frame_ready, run_cancelled, is_busy

    @classmethod
    def of_runner(cls, runner):
        return cls(runner.frame_ready, runner.run_cancelled, runner.is_busy)


def cancel_during(qtbot, watch, start, button, run_for_s: float = 0.4) -> float:
    """Start a job, let it run ``run_for_s`` after its first frame, click ``button``, wait
    for the cancellation; returns the time of the click (``time.perf_counter``)."""
    stamps = []
    watch.run_cancelled.connect(lambda *_: stamps.append(time.perf_counter()))
    with qtbot.waitSignal(watch.frame_ready, timeout=60000):
        start()
    qtbot.wait(int(run_for_s * 1000))
    assert watch.is_busy(), "the job ended before it could be cancelled"
    assert button.isEnabled()
    t0 = time.perf_counter()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(stamps), timeout=TIMEOUT_MS)
    return t0


def check_stopped(window, t_click: float) -> None:
    # The call in flight at the click may be followed by none: a race of microseconds
    # between the worker's check and the click allows one.
    assert window.context.image_model.started_after(t_click) <= 1


def test_cancel_sampling_ddim_batch_64(qtbot, real_window):
    panel = real_window.panels["sampling"]
    panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData("ddim"))
    panel.steps_spin.setValue(50)
    panel.batch_spin.setValue(64)
    t_click = cancel_during(qtbot, Watch(panel.frame_shown, panel.run_cancelled, panel.is_busy),
                            panel.run, panel.cancel_button)
    check_stopped(real_window, t_click)
    assert not panel.is_busy() and panel.run_button.isEnabled()
    # the steps done stay replayable
    done = panel.state.result.t_indices.size
    assert panel.state.result.cancelled and panel.timeline.maximum() == done
    assert panel.step_label.text() == f"step {done}/{done}  (stopped)"


def test_cancel_sampler_race(qtbot, real_window):
    panel = real_window.panels["sampling"]
    panel.race_edit.setText("ddpm:1000, ddim:50, dpm++2m:20")
    panel.race_batch.setValue(16)
    t_click = cancel_during(qtbot, Watch(panel.race_frame_shown, panel.race_cancelled,
                                         panel.is_busy), panel.run_race, panel.cancel_button)
    check_stopped(real_window, t_click)
    assert not panel.is_busy() and panel.race_button.isEnabled()


def test_cancel_grid_batch(qtbot, real_window):
    grid = real_window.panels["grid"]
    grid.count_spin.setValue(100)
    grid.steps_spin.setValue(200)
    t_click = cancel_during(qtbot, Watch(grid.batch_progressed, grid.batch_cancelled,
                                         grid.is_busy), grid.new_batch, real_window.cancel_button)
    check_stopped(real_window, t_click)
    qtbot.waitUntil(lambda: grid.new_button.isEnabled(), timeout=2000)
    assert real_window.progress.isHidden()


def test_cancel_2d_reverse_run(qtbot, context):
    from diffview.gui.panels.sde2d import Sde2DPanel

    panel = Sde2DPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    panel.n_spin.setValue(50_000)
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("rings"))
    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("reverse"))
    panel.steps_spin.setValue(1000)
    frames = []
    panel.live_frame.connect(lambda f: frames.append(f.step))
    try:
        with qtbot.waitSignal(panel.live_frame, timeout=60000):
            panel.run()
        qtbot.wait(400)
        assert panel.is_busy() and panel.cancel_btn.isEnabled()
        with qtbot.waitSignal(panel.run_cancelled, timeout=TIMEOUT_MS):
            qtbot.mouseClick(panel.cancel_btn, Qt.MouseButton.LeftButton)
        shown = len(frames)
        qtbot.waitUntil(lambda: panel.run_btn.isEnabled(), timeout=TIMEOUT_MS)
        qtbot.wait(300)
        assert len(frames) == shown  # nothing arrives after the cancel
        assert frames[-1] < 1000
        assert panel.recording.cancelled    # the part done stays replayable
    finally:
        panel.shutdown()
