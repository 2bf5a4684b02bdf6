"""The action registry builds menus from what features register; the status bar shows jobs."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow

from diffview.runs.base import Progress, check


@pytest.fixture
def registry(qtbot):
    from diffview.gui.actions import ActionRegistry

    w = QMainWindow()
    qtbot.addWidget(w)
    return ActionRegistry(w)


def test_a_registered_action_appears_in_its_menu_in_group_order_and_triggers(registry):
    from diffview.gui.actions import ActionSpec

    calls = []
    registry.register(ActionSpec("quit", "&Quit", "File", "Ctrl+Q", "Close", lambda: None,
                                 group=90))
    registry.register(ActionSpec("open", "&Open…", "File", "Ctrl+O", "Open a file",
                                 lambda: calls.append("open"), group=0))
    # a feature registers later, between the two groups
    act = registry.register(ActionSpec("train", "&Train…", "File", "Ctrl+T", "Train",
                                       lambda: calls.append("train"), group=30, toolbar=True))
    entries = [a.objectName() if not a.isSeparator() else "-"
               for a in registry.menu("File").actions()]
    assert entries == ["act_open", "-", "act_train", "-", "act_quit"]
    assert act in registry.toolbar.actions()
    assert act.shortcut().toString() == "Ctrl+T" and act.toolTip() == "Train"
    act.trigger()
    registry.action("open").trigger()
    assert calls == ["train", "open"]
    with pytest.raises(ValueError, match="registered already"):
        registry.register(ActionSpec("train", "again", "File"))
    with pytest.raises(KeyError):
        registry.register(ActionSpec("lost", "Lost", "No such menu"))


def test_submenus_sit_in_their_parent_group(registry):
    from diffview.gui.actions import ActionSpec

    registry.register(ActionSpec("png", "PNG", "File", group=10))
    registry.register(ActionSpec("quit", "Quit", "File", group=90))
    sub = registry.add_submenu("File/Export animation", group=10)
    registry.register(ActionSpec("gif", "GIF", "File/Export animation"))
    items = [a.menu() if a.menu() is not None else a.objectName()
             for a in registry.menu("File").actions() if not a.isSeparator()]
    assert items == ["act_png", sub, "act_quit"]
    assert [a.objectName() for a in sub.actions()] == ["act_gif"]


def test_main_window_menus_come_from_the_registry(qtbot):
    from diffview.gui.context import AppContext
    from diffview.gui.main_window import MainWindow

    w = MainWindow(AppContext(), panel_classes=[], restore_layout=False)
    qtbot.addWidget(w)
    try:
        reg = w.action_registry
        assert w.action("train") in reg.menu("Run").actions()
        assert w.action("preferences") in reg.menu("File").actions()
        file_ids = [a.objectName() for a in reg.menu("File").actions() if a.objectName()]
        assert file_ids.index("act_preferences") < file_ids.index("act_quit")
    finally:
        w.shutdown()


def slow_run(n: int, delay: float):
    def start(token):
        for i in range(1, n + 1):
            check(token)
            time.sleep(delay)
            yield Progress(step=i, total=n)
        return n
    return start


def test_status_bar_shows_a_job_with_its_eta_and_cancel_cancels_it(qtbot):
    from diffview.gui.context import AppContext
    from diffview.gui.jobs import Job
    from diffview.gui.main_window import MainWindow

    ctx = AppContext()
    w = MainWindow(ctx, panel_classes=[], restore_layout=False)
    qtbot.addWidget(w)
    w.show()
    try:
        cancelled = []
        ctx.jobs.start(Job("Slow run", start=slow_run(2000, 0.01), lane="test",
                           on_cancelled=cancelled.append))
        status = w.job_status
        qtbot.waitUntil(lambda: status.eta_label.isVisible(), timeout=10_000)
        assert status.progress.isVisible() and status.cancel_button.isVisible()
        assert status.progress.format().startswith("Slow run")
        assert status.progress.maximum() == 2000 and 0 < status.progress.value() < 2000
        # 2000 steps of >= 10 ms: well over the 10 s announcement threshold
        assert status.eta_label.text().startswith("ETA 0:")
        assert "Slow run: about" in w.statusBar().currentMessage()
        qtbot.mouseClick(status.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(cancelled), timeout=10_000)
        qtbot.waitUntil(status.progress.isHidden, timeout=5000)
        assert status.cancel_button.isHidden() and not ctx.jobs.is_busy("test")
    finally:
        w.shutdown()


def test_describe_duration():
    from diffview.gui.window.status import describe_duration

    assert describe_duration(44.6) == "about 45 s"
    assert describe_duration(300) == "about 5 min"
    assert describe_duration(7200) == "about 2.0 h"


def test_models_menu_lists_bundled_and_trained_models_and_gives_the_default_back(
        qtbot, tmp_path, monkeypatch):
    from dataclasses import replace

    from diffview.gui.context import AppContext
    from diffview.gui.main_window import MainWindow
    from diffview.gui.preferences import load_preferences, save_preferences

    monkeypatch.setenv("DIFFVIEW_DATA_DIR", str(tmp_path))
    (tmp_path / "models").mkdir()
    trained = tmp_path / "models" / "moons-300steps-20260101-120000.onnx"
    trained.write_bytes(b"not read until chosen")
    ctx = AppContext()
    prefs = load_preferences(ctx.settings)
    save_preferences(ctx.settings, replace(prefs, model=replace(prefs.model,
                                                                path=str(trained))))
    w = MainWindow(ctx, panel_classes=[], restore_layout=False)
    qtbot.addWidget(w)
    try:
        loaded = []
        w.models_menu.load_model = loaded.append
        w.models_menu.refill()
        texts = [a.text() for a in w.action_registry.menu("Models").actions()
                 if not a.isSeparator()]
        assert texts[0].startswith("Bundled &default") and trained.name in texts
        default = w.action_registry.menu("Models").actions()[0]
        default.trigger()
        assert loaded and loaded[0].name == "fashion_unet.onnx"
        assert load_preferences(ctx.settings).model.path == ""
    finally:
        w.shutdown()
