"""Main window: docks and layout persistence, model loading, sessions, shutdown."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from diffview.gui.context import AppContext
from diffview.gui.main_window import MainWindow

from .conftest import SlowDenoiser


def my_panels():
    from diffview.gui.panels.forward import ForwardPanel
    from diffview.gui.panels.grid import GridPanel
    from diffview.gui.panels.sampling import SamplingPanel

    return [ForwardPanel, SamplingPanel, GridPanel]


def make_window(qtbot, all_panels: bool = False, **kw) -> MainWindow:
    """A shown main window; only this part's panels unless ``all_panels`` (faster)."""
    ctx = AppContext(device="cpu")
    w = MainWindow(ctx, panel_classes=None if all_panels else my_panels(), **kw)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    w.shutdown()


def test_docks_menus_and_no_model_status(window):
    for name in ("forward", "sampling", "grid"):
        dock = window.docks[name]
        assert dock.objectName() == f"dock_{name}"
        assert dock.isVisible() or window.tabifiedDockWidgets(dock)
    assert window.model_label.text() == "no model"
    assert not window.panels["sampling"].run_button.isEnabled()
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus[:3] == ["&File", "&Run", "&View"]
    toggles = [a for a in window.view_menu.actions() if a.objectName().startswith("toggle_")]
    assert len(toggles) == len(window.docks)
    for act in map(window.action, ("open_model", "run", "cancel", "export")):
        assert act.toolTip() and not act.shortcut().isEmpty()


def test_default_layout_has_one_tab_bar_per_dock_group(qtbot):
    from PySide6.QtWidgets import QTabBar

    w = make_window(qtbot, all_panels=True)
    try:
        bars = [tuple(tb.tabText(i) for i in range(tb.count()))
                for tb in w.findChildren(QTabBar) if tb.parent() is w and tb.isVisible()]
        assert len(bars) == len(set(bars)) == 2  # no stray duplicate tab bar
        assert w.dockWidgetArea(w.docks["sampling"]) == Qt.DockWidgetArea.RightDockWidgetArea
        assert w.dockWidgetArea(w.docks["forward"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    finally:
        w.shutdown()


def test_view_menu_toggles_a_dock(qtbot, window):
    dock = window.docks["grid"]
    act = dock.toggleViewAction()
    act.trigger()
    assert dock.isHidden()
    act.trigger()
    assert not dock.isHidden()


def test_floated_dock_layout_comes_back_and_reset(qtbot):
    w = make_window(qtbot, all_panels=True)
    dock = w.docks["grid"]
    dock.setFloating(True)
    dock.move(150, 120)
    dock.resize(500, 380)
    w.docks["sampling"].hide()
    qtbot.wait(20)
    geom = dock.geometry()
    w.close()  # saves the layout
    w2 = make_window(qtbot, all_panels=True)
    try:
        dock2 = w2.docks["grid"]
        assert dock2.isFloating()
        assert dock2.size() == geom.size()
        assert w2.docks["sampling"].isHidden()
        w2.reset_layout()
        assert not dock2.isFloating()
        assert not w2.docks["sampling"].isHidden()
        assert w2.dockWidgetArea(w2.docks["forward"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    finally:
        w2.shutdown()


def test_open_model_loads_on_a_worker_and_shows_provider(qtbot, window, tiny_model_path):
    with qtbot.waitSignal(window.context.image_model_changed, timeout=20000) as blocker:
        window.load_model(tiny_model_path)
    model = blocker.args[0]
    assert model.info.sample_shape == (1, 28, 28)
    assert "tiny_eps.onnx" in window.model_label.text()
    assert window.provider_label.text() == f"provider: {model.provider}"
    assert window.panels["sampling"].run_button.isEnabled()
    assert window.progress.isHidden()


def test_a_bad_model_never_replaces_the_current_one(qtbot, window, tiny_model_path, tmp_path):
    with qtbot.waitSignal(window.context.image_model_changed, timeout=20000):
        window.load_model(tiny_model_path)
    good = window.context.image_model
    label = window.model_label.text()
    bad = tmp_path / "broken.onnx"
    bad.write_text("this is not a network")
    with qtbot.waitSignal(window.context.error_raised, timeout=20000) as blocker:
        window.load_model(bad)
    title, message = blocker.args
    assert title == "Cannot open model"
    assert "broken.onnx" in message and "text" in message
    assert window.context.image_model is good
    assert window.model_label.text() == label
    assert window._error_boxes and window._error_boxes[-1].text() == message
    window._error_boxes[-1].close()


def test_progress_bar_and_cancel_for_a_run(qtbot, window):
    window.context.set_image_model(SlowDenoiser(delay=0.02))
    panel = window.panels["sampling"]
    panel.steps_spin.setValue(400)
    with qtbot.waitSignal(panel.frame_shown, timeout=10000):
        window.action("run").trigger()
    assert window.progress.isVisible() and window.cancel_button.isVisible()
    with qtbot.waitSignal(panel.run_cancelled, timeout=2000):
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.progress.isHidden())


def test_closing_stops_running_workers(qtbot):
    w = make_window(qtbot)
    w.context.set_image_model(SlowDenoiser(delay=0.02))
    panel = w.panels["sampling"]
    panel.steps_spin.setValue(1000)
    panel.sampler_combo.setCurrentIndex(0)
    with qtbot.waitSignal(panel.frame_shown, timeout=10000):
        panel.run()
    thread = w.context.jobs.runner("sampling")._thread
    assert thread.isRunning()
    w.close()
    assert thread.isFinished()
    assert not panel.is_busy()


def test_session_round_trip(qtbot, window, tmp_path, tiny_model_path):
    with qtbot.waitSignal(window.context.image_model_changed, timeout=20000):
        window.load_model(tiny_model_path)
    fwd_panel = window.panels["forward"]
    fwd_panel.schedule_combo.setCurrentText("cosine")
    fwd_panel.slider.setValue(123)
    window.panels["sampling"].seed_spin.setValue(42)
    path = tmp_path / "s.diffview.json"
    window.save_session(path)
    data = json.loads(path.read_text())
    assert data["model_path"].endswith("tiny_eps.onnx")
    assert data["panels"]["forward"]["step"] == 123

    other = make_window(qtbot)
    try:
        with qtbot.waitSignal(other.loads.model_loaded, timeout=20000):
            other.open_session(path)
        assert other.context.model_path == window.context.model_path
        assert other.panels["forward"].step == 123
        assert other.panels["forward"].schedule_combo.currentText() == "cosine"
        assert other.panels["sampling"].seed_spin.value() == 42
        np.testing.assert_array_equal(other.panels["forward"].xt_item.image,
                                      fwd_panel.xt_item.image)
    finally:
        other.shutdown()


def test_bad_session_file_is_reported(qtbot, window, tmp_path):
    path = tmp_path / "junk.json"
    path.write_text("[1, 2")
    with qtbot.waitSignal(window.context.error_raised) as blocker:
        window.open_session(path)
    assert "junk.json" in blocker.args[1]
    for box in list(window._error_boxes):
        box.close()


def test_denoise_from_here_crosses_panels(qtbot, window, tiny_model_path):
    with qtbot.waitSignal(window.context.image_model_changed, timeout=20000):
        window.load_model(tiny_model_path)
    window.panels["forward"].slider.setValue(300)
    sampling = window.panels["sampling"]
    sampling.steps_spin.setValue(20)
    sampling.batch_spin.setValue(1)
    with qtbot.waitSignal(sampling.run_completed, timeout=20000) as blocker:
        window.action("denoise").trigger()
    # the forward panel hands over x_0: the run starts from q(x_t | x_0) at the same t, with
    # the seeding rule's noise for image 0
    from diffview.core.forward import q_sample
    from diffview.runs.seeding import PerSampleNoise

    x0 = window.panels["forward"].x0
    eps = PerSampleNoise.for_images(0, 1).standard_normal((1, *x0.shape), dtype=np.float32)
    expected = q_sample(x0[None], window.context.image_model.info.make_schedule(), 299, eps)
    np.testing.assert_allclose(blocker.args[0].xs[0, 0], expected[0], atol=1e-6)


def test_export_view_png(window, tmp_path):
    out = tmp_path / "view.png"
    assert window.export_png(out)
    assert out.stat().st_size > 1000


def test_export_gifs(qtbot, window, tiny_model_path, tmp_path):
    from PIL import Image

    out = tmp_path / "forward.gif"
    with qtbot.waitSignal(window.context.jobs.job_ended, timeout=20000,
                          check_params_cb=lambda name, how: name == "Export animation"):
        window.export_gif("forward", out)
    with Image.open(out) as im:
        assert im.n_frames > 20 and min(im.size) >= 256
    # no run yet: the user is told, nothing is written
    with qtbot.waitSignal(window.context.error_raised):
        assert window.export_gif("sampling", tmp_path / "none.gif") is None
    window.close_error_boxes()
    with qtbot.waitSignal(window.context.image_model_changed, timeout=20000):
        window.load_model(tiny_model_path)
    sampling = window.panels["sampling"]
    sampling.steps_spin.setValue(6)
    sampling.batch_spin.setValue(4)
    with qtbot.waitSignal(sampling.run_completed, timeout=20000):
        sampling.run()
    out = tmp_path / "run.gif"
    with qtbot.waitSignal(window.context.jobs.job_ended, timeout=20000,
                          check_params_cb=lambda name, how: name == "Export animation"):
        window.export_gif("sampling", out)
    with Image.open(out) as im:
        assert im.n_frames == 7  # the start and six steps


def test_open_data_folder_feeds_the_grid(qtbot, window, tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"{i}.png")
    with qtbot.waitSignal(window.context.dataset_changed, timeout=20000) as blocker:
        window.open_data(folder)
    assert len(blocker.args[0].images) == 6
    grid = window.panels["grid"]
    assert grid.training_set() is blocker.args[0]


def test_theme_switch_keeps_running(window):
    window.set_theme("dark")
    assert window.context.settings.value("ui/theme") == "dark"
    window.set_theme("light")
    assert window.palette().color(window.backgroundRole()).lightness() > 128


def test_a_points_model_is_refused_as_image_model(qtbot, window, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Identity", ["x"], ["eps"]),
             helper.make_node("Cast", ["t"], ["unused"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(
        nodes, "points",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 2]),
         helper.make_tensor_value_info("t", TensorProto.FLOAT, ["B"])],
        [helper.make_tensor_value_info("eps", TensorProto.FLOAT, ["B", 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "points.onnx"
    onnx.save(model, path)
    with qtbot.waitSignal(window.context.error_raised, timeout=20000) as blocker:
        window.load_model(path)
    assert "points model" in blocker.args[1]
    assert window.context.image_model is None
    window.close_error_boxes()


def test_progress_reports_are_coalesced_and_the_last_one_shown(qtbot, window):
    """A burst of per-step reports redraws the bar at most a few times, ending on the last."""
    changes = []
    window.progress.valueChanged.connect(changes.append)
    ticket = window.context.jobs.track("Burst", cancel=lambda: None)
    for done in range(1, 41):
        ticket.progress(done, 50)
    assert window.progress.isVisible()
    assert changes == [1]  # the first report shows at once, the rest wait for the timer
    qtbot.waitUntil(lambda: window.progress.value() == 40, timeout=2000)
    assert len(changes) == 2
    assert window.progress.format() == "Burst %p%"
    ticket.end()
    assert window.progress.isHidden()


def test_background_tabs_are_built_after_the_window_is_shown(qtbot):
    """defer_hidden: every dock exists at once, the deferred panels arrive on later turns."""
    from diffview.gui.main_window import DEFERRED_PANELS

    ctx = AppContext(device="cpu")
    w = MainWindow(ctx, defer_hidden=True)
    qtbot.addWidget(w)
    try:
        deferred = [n for n in DEFERRED_PANELS if n in w.docks]
        assert deferred, "no deferred panel is registered"
        assert w.deferred_pending()
        assert not any(n in w.panels for n in deferred)
        assert "forward" in w.panels and "sampling" in w.panels
        added = []
        w.panel_added.connect(lambda name, _panel: added.append(name))
        w.show()
        qtbot.waitUntil(lambda: not w.deferred_pending(), timeout=30000)
        assert sorted(added) == sorted(deferred)
        for name in deferred:
            assert w.docks[name].widget().widget() is w.panels[name]
            assert w.panels[name].panel_name == name
        if "training" in deferred:
            # wiring made before the panel existed still reaches it: its Settings… button
            w.panels["training"].settings_requested.emit()
            dialog = w.training_actions.dialog
            assert dialog is not None and dialog.isVisible()
            dialog.reject()
    finally:
        w.shutdown()
