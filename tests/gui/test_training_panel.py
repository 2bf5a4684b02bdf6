"""The Training panel end to end: a real ``diffview train`` child on a tiny IDX folder.

Start, watch progress arrive, pause, resume, cancel (checkpoint kept), continue from the
checkpoint, finish, and check that the sampling panel now uses the new model. Plus the paths
where things go wrong: no torch, a failed export, a model that fails validation.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

pytest.importorskip("torch")

from diffview.gui.preferences import Preferences, TrainingPrefs  # noqa: E402
from diffview.gui.training.service import TrainRequest  # noqa: E402
from tests.gui.test_settings_dialog import write_idx_folder  # noqa: E402

STARTUP_TIMEOUT_MS = 120_000  # the child imports torch: seconds on a busy 2-core machine


def tiny_prefs(folder, steps=400) -> TrainingPrefs:
    return TrainingPrefs(data_kind="mnist", data_path=str(folder), image_size=8, channels=1,
                         schedule="linear", T=20, widths=(4, 8, 8), steps=steps, batch_size=4,
                         lr=2e-3, ema=0.9, seed=1, device="cpu", preview_every=3,
                         checkpoint_every=0, threads=1)


@pytest.fixture
def panel(qtbot, context, tmp_path):
    from diffview.gui.panels.training import TrainingPanel

    p = TrainingPanel(context)
    p.session.runs_dir = tmp_path / "runs"
    qtbot.addWidget(p)
    yield p
    p.shutdown()


def test_train_pause_resume_cancel_continue_finish_and_switch_model(
        qtbot, context, panel, tiny_denoiser, tmp_path):
    from diffview.gui.panels.sampling import SamplingPanel

    sampling = SamplingPanel(context)
    qtbot.addWidget(sampling)
    try:
        _train_and_check(qtbot, context, panel, sampling, tiny_denoiser, tmp_path)
    finally:
        sampling.shutdown()


def _train_and_check(qtbot, context, panel, sampling, tiny_denoiser, tmp_path):
    context.set_image_model(tiny_denoiser)
    old_info = tiny_denoiser.info
    assert "1×28×28" in sampling.info_label.text()

    folder = write_idx_folder(tmp_path / "digits", n=16, size=8)
    session = panel.session
    progress = []
    session.progress_updated.connect(progress.append)
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "running",
                          timeout=STARTUP_TIMEOUT_MS):
        panel.start(tiny_prefs(folder))
    assert session.run_dir.parent == tmp_path / "runs"
    qtbot.waitUntil(lambda: len(progress) >= 2 and len(session.previews) >= 1, timeout=60_000)
    assert panel.cancel_button.isEnabled() and not panel.train_button.isEnabled()
    assert "samples/s" in panel.stats_label.text() and "ETA" in panel.stats_label.text()
    assert progress[-1]["total_steps"] == 400 and progress[-1]["step"] >= 1

    # pause: the step count stops moving; resume: it moves again
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "paused",
                          timeout=10_000):
        qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.pause_button.text() == "Resume"
    paused_at = session.step
    qtbot.wait(600)
    assert session.step == paused_at
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "running",
                          timeout=10_000):
        qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: session.step > paused_at, timeout=20_000)

    # cancel: the child writes its checkpoint and exits; the old model stays
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "cancelled",
                          timeout=20_000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    from diffview.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(session.run_dir / "checkpoint.pt")
    assert ckpt["step"] == session.step >= paused_at + 1
    assert context.image_model is tiny_denoiser
    assert panel.continue_button.isEnabled()
    cancelled_at = session.step
    # every step's loss arrived even though progress lines are rate-limited
    assert session.steps == list(range(1, cancelled_at + 1))
    n_previews = len(session.previews)
    assert [s for s, _ in session.previews] == list(range(3, 3 * n_previews + 1, 3))

    # continue from the checkpoint, for a few more steps only (keeps the test short)
    session.prefs = dataclasses.replace(session.prefs, steps=cancelled_at + 3)
    started = []
    session.event_received.connect(
        lambda ev: started.append(ev) if ev["event"] == "started" else None)
    with qtbot.waitSignal(session.model_ready, timeout=STARTUP_TIMEOUT_MS) as ready:
        qtbot.mouseClick(panel.continue_button, Qt.MouseButton.LeftButton)
    assert started and started[0]["step"] == cancelled_at  # resumed, not restarted
    assert session.state == "finished"
    assert session.steps == list(range(1, cancelled_at + 4))
    new_model = context.image_model
    from diffview.paths import user_models_dir

    new_path = Path(ready.args[0])  # the user models folder, named after data and steps
    assert new_path.parent == user_models_dir() and new_path.name.startswith("digits-")
    assert new_model is not tiny_denoiser and str(new_model.path) == ready.args[0]
    info = new_model.info
    assert info.sample_shape == (1, 8, 8) and info.T == 20 and old_info.T == 1000
    assert info.training_steps == cancelled_at + 3

    # the sampling panel follows: its metadata line and its outputs changed
    assert "1×8×8" in sampling.info_label.text() and "T = 20" in sampling.info_label.text()
    sampling.steps_spin.setValue(5)
    sampling.batch_spin.setValue(3)
    with qtbot.waitSignal(sampling.run_completed, timeout=30_000) as done:
        qtbot.mouseClick(sampling.run_button, Qt.MouseButton.LeftButton)
    final = done.args[0].final
    assert final.shape == (3, 1, 8, 8) and np.isfinite(final).all()

    # the slider scrubs through every preview and marks its step on the loss curve
    slider = panel.preview_slider
    assert slider.maximum() == len(session.previews) - 1 >= n_previews
    slider.setValue(0)
    assert panel.preview_line.value() == session.previews[0][0] == 3
    assert panel.preview_label.text().startswith("preview at step 3 (1 of")
    assert panel.image_item.image is not None
    slider.setValue(slider.maximum())
    assert panel.preview_line.value() == session.previews[-1][0]
    # the persisted model choice is the new file (used at the next start)
    from diffview.gui.preferences import load_preferences

    assert load_preferences(context.settings).model.path == ready.args[0]


def make_fake_window(context, panels):
    """Just enough of a main window for TrainingActions: an action registry, panels, context."""
    from PySide6.QtCore import Signal
    from PySide6.QtWidgets import QMainWindow

    from diffview.gui.actions import ActionRegistry

    class FakeWindow(QMainWindow):
        panel_added = Signal(str, object)

        def raise_panel(self, name):
            pass

        def load_model(self, path):
            self.loaded.append(path)

    w = FakeWindow()
    w.action_registry = ActionRegistry(w)
    w.context, w.panels, w.loaded = context, panels, []
    return w


def test_without_torch_train_explains_how_to_get_it(qtbot, context, monkeypatch):
    from diffview.gui.training import actions as training_actions

    monkeypatch.setattr(training_actions, "torch_available", lambda: False)
    window = make_fake_window(context, {})
    qtbot.addWidget(window)
    glue = training_actions.install_training(window)
    reg = window.action_registry
    assert glue.act_train in reg.menu("Run").actions()
    assert glue.act_preferences in reg.menu("File").actions()
    assert not glue.act_preferences.shortcut().isEmpty()
    errors = []
    context.error_raised.connect(lambda t, m: errors.append((t, m)))
    glue.act_train.trigger()
    assert errors and errors[0][0] == "Training needs PyTorch"
    assert "full build" in errors[0][1] and "pip install" in errors[0][1]
    assert glue.dialog is None  # no dialog, no crash
    assert not glue.start_training(Preferences())
    assert len(errors) == 2


def test_a_failed_export_keeps_the_current_model_and_says_why(qtbot, context, panel,
                                                               tiny_denoiser, tmp_path):
    context.set_image_model(tiny_denoiser)
    session = panel.session
    session.prefs = tiny_prefs(tmp_path)
    run = session.prepare(TrainRequest(data=str(tmp_path), steps=4, run_dir=tmp_path / "run"))
    errors = []
    context.error_raised.connect(lambda t, m: errors.append((t, m)))
    proc = run.proc
    proc.event_received.emit({"event": "started", "step": 0, "total_steps": 4,
                              "kind": "image", "sample_shape": [1, 8, 8]})
    proc.event_received.emit({"event": "exporting", "path": str(session.run_dir / "m.onnx")})
    assert session.state == "exporting"
    proc.event_received.emit({"event": "error", "stage": "export",
                              "message": "export failed: ONNX and torch outputs differ"})
    proc.exited.emit(1, False)
    assert session.state == "failed" and context.image_model is tiny_denoiser
    assert errors and "outputs differ" in errors[0][1] and "stays in use" in errors[0][1]
    assert panel.state_label.text().startswith("Failed: export failed")


def test_a_model_that_fails_validation_is_not_used(qtbot, context, panel, tiny_denoiser,
                                                    tmp_path):
    context.set_image_model(tiny_denoiser)
    session = panel.session
    session.prefs = tiny_prefs(tmp_path)
    session.prepare(TrainRequest(data=str(tmp_path), steps=4, run_dir=tmp_path / "run"))
    broken = session.run_dir / "model.onnx"
    broken.write_bytes(b"\x08\x01garbage that is not a protobuf model")
    errors = []
    context.error_raised.connect(lambda t, m: errors.append((t, m)))
    session.proc.event_received.emit({"event": "exported", "path": str(broken),
                                      "max_abs_diff": 0.0})
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "failed",
                          timeout=20_000):
        session.proc.exited.emit(0, False)
    assert context.image_model is tiny_denoiser
    assert "failed validation" in errors[0][1] and "model.onnx" in errors[0][1]


def test_progress_display_formats_time():
    from diffview.gui.panels.training import fmt_duration

    assert fmt_duration(59.4) == "0:59"
    assert fmt_duration(3725) == "1:02:05"
    assert fmt_duration(float("nan")) == "--:--" and fmt_duration(None) == "--:--"


def test_preferences_action_stores_and_applies_the_dialog_result(qtbot, context):
    from diffview.engine import default_model_path
    from diffview.gui.preferences import InferencePrefs, load_preferences
    from diffview.gui.training import actions as training_actions
    from diffview.gui.window.loads import model_threads

    window = make_fake_window(context, {})
    qtbot.addWidget(window)
    glue = training_actions.install_training(window)
    glue.act_preferences.trigger()
    dlg = glue.dialog
    assert dlg is not None and dlg.isVisible() and dlg.tabs.currentIndex() == 0
    dlg.device_combo.setCurrentIndex(dlg.device_combo.findData("cpu"))
    dlg.threads_field.edit.setText("2")
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    assert load_preferences(context.settings).inference == InferencePrefs("cpu", 2)
    assert context.device == "cpu"
    assert window.loaded == [default_model_path()]  # reloaded with the new provider
    assert model_threads(context) == 2
    # a training-only change stores the options and reloads nothing
    glue.act_train.trigger()
    dlg = glue.dialog
    assert dlg.tabs.tabText(dlg.tabs.currentIndex()) == "&Training"
    dlg.training.fields["seed"].edit.setText("77")
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    assert load_preferences(context.settings).training.seed == 77
    assert len(window.loaded) == 1
    # closing the window closes an open dialog with it
    glue.open_preferences("model")
    assert glue.dialog.isVisible()
    window.close()
    qtbot.waitUntil(lambda: glue.dialog is None, timeout=5000)


def test_the_app_side_of_training_never_imports_torch():
    import json
    import os
    import subprocess
    import sys

    modules = ["diffview.gui.preferences", "diffview.gui.dialogs.settings",
               "diffview.gui.training.actions", "diffview.gui.training.session",
               "diffview.gui.training.service",
               "diffview.gui.panels.training", "diffview.training.protocol",
               "diffview.training.config"]
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps('torch' in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=180, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) is False
