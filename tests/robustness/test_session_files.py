"""Session files are input too: a bad one is refused whole, with one line, before anything
changes; a heavy but valid one runs its work on a worker."""

from __future__ import annotations

import json
import time

import pytest

from tests.robustness.conftest import expect_error


@pytest.fixture
def window(qtbot, tiny_model_path):
    from diffview.gui.context import AppContext
    from diffview.gui.main_window import MainWindow
    from diffview.gui.panels.forward import ForwardPanel
    from diffview.gui.panels.randomwalk import RandomWalkPanel
    from diffview.gui.panels.sampling import SamplingPanel

    w = MainWindow(AppContext(device="cpu"),
                   panel_classes=[ForwardPanel, SamplingPanel, RandomWalkPanel])
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.context.image_model_changed, timeout=30000):
        w.load_model(tiny_model_path)
    yield w
    w.shutdown()
    w.close_error_boxes()


def _states(window) -> dict:
    return {name: panel.state_dict() for name, panel in window.panels.items()}


def _write(tmp_path, obj, name="s.diffview.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def _good(window) -> dict:
    return window.sessions.state()


BAD = [
    ("panels is a list", lambda g: {**g, "panels": [1, 2, 3]}, "panels"),
    ("model_path a number", lambda g: {**g, "model_path": 123}, "model_path"),
    ("a panel state not an object", lambda g: {**g, "panels": {"forward": 5}}, "forward"),
    ("absurd frame", lambda g: {**g, "panels": {**g["panels"], "forward": {
        **g["panels"]["forward"], "step": 1e20}}}, "forward.step"),
    ("bad value in the second panel",
     lambda g: {**g, "panels": {**g["panels"], "forward": {**g["panels"]["forward"], "step": 7},
                                "randomwalk": {**g["panels"]["randomwalk"], "p": "x"}}},
     "randomwalk.p"),
    ("not a session", lambda g: {"hello": 1}, "not a diffview session"),
    ("future version", lambda g: {**g, "diffview_session": 99}, "diffview_session"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_a_bad_session_is_refused_whole_and_changes_nothing(qtbot, window, tmp_path, case):
    _, make, word = case
    before = _states(window)
    path = _write(tmp_path, make(_good(window)))
    title, message = expect_error(qtbot, window.context, lambda: window.sessions.open(path))
    assert title == "Cannot open session" and word in message
    assert "\n" not in message
    assert _states(window) == before          # the forward panel's step 7 was put back


@pytest.mark.parametrize("text", ["[" * 100_000, '{"diffview_session": 1, "panels": ' * 5000,
                                  '{"diffview_session": NaN}', "\xff\xfe not json"])
def test_deep_or_broken_json_is_one_line(qtbot, window, tmp_path, text):
    before = _states(window)
    path = _write(tmp_path, text)
    title, message = expect_error(qtbot, window.context, lambda: window.sessions.open(path))
    assert title == "Cannot open session" and "\n" not in message and len(message) < 400
    assert _states(window) == before


def test_heavy_valid_session_runs_on_a_worker(qtbot, window, tmp_path):
    good = _good(window)
    walk = {**good["panels"]["randomwalk"], "n": 100_000, "max_steps": 5000, "step": 400}
    path = _write(tmp_path, {**good, "panels": {"randomwalk": walk}})
    panel = window.panels["randomwalk"]
    started = time.perf_counter()
    window.sessions.open(path)
    returned = time.perf_counter() - started
    assert panel.is_busy() and panel.step == 0      # the steps run on a worker
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.step == 400, timeout=120000)
    assert panel.history is None                    # over the history budget: not kept
    assert returned < 30                            # generous: it did not simulate inline


def test_a_good_session_round_trips(qtbot, window, tmp_path):
    window.panels["forward"].slider.setValue(321)
    path = tmp_path / "ok.diffview.json"
    assert window.save_session(path)
    window.panels["forward"].slider.setValue(5)
    window.sessions.open(path)
    assert window.panels["forward"].step == 321
