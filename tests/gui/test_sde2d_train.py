"""Sde2DPanel "Train network": draw a distribution, train the 2-D MLP on it (or on a built-in
set) off the GUI thread, and use the result as the learned score."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from diffview.core.mixtures import GaussianMixture
from diffview.core.toy2d import toy_mixture
from diffview.engine.analytic import AnalyticDenoiser
from diffview.gui.panels.sde2d import Sde2DPanel, network_box

pytest.importorskip("torch")

VP = {"name": "vp", "beta_min": 0.1, "beta_max": 20.0, "T": 1.0}
# a small, quick network for tests (the app's preset is 128 x 3 with Fourier features)
TINY = {"hidden": 32, "layers": 2, "fourier": 0, "batch": 128, "lr": 1e-2, "warmup": 10,
        "ema": 0.9}


def _shifted(name: str):
    mix = toy_mixture(name)
    return AnalyticDenoiser(GaussianMixture(mix.weights, mix.means + 0.3, mix.covs), sde=VP,
                            dataset=name)


def _pick(box, key) -> None:
    i = box.findData(key)
    assert i >= 0, key
    box.setCurrentIndex(i)


def _enabled(box, key) -> bool:
    return box.model().item(box.findData(key)).isEnabled()


@pytest.fixture
def panel(qtbot, context):
    context.toy_model = _shifted
    p = Sde2DPanel(context)
    qtbot.addWidget(p)
    p.resize(1100, 700)
    p.n_spin.setValue(1500)
    p.network.train_preset = dict(TINY)
    qtbot.waitUntil(lambda: not p.learned_loading(), timeout=10_000)
    yield p
    p.shutdown()


def _train(qtbot, panel, steps: int, timeout_ms: int = 180_000) -> None:
    panel.train_steps_spin.setValue(steps)
    panel.train_seconds_spin.setValue(600)
    with qtbot.waitSignal(panel.training_finished, timeout=timeout_ms) as blocker:
        qtbot.mouseClick(panel.train_btn, Qt.MouseButton.LeftButton)
    assert blocker.args == [True], panel.train_label.text()


def _reverse(qtbot, panel, score: str) -> np.ndarray:
    _pick(panel.mode_combo, "reverse")
    _pick(panel.reverse_combo, "ode")
    _pick(panel.score_combo, score)
    panel.steps_spin.setValue(60)
    with qtbot.waitSignal(panel.run_completed, timeout=60_000):
        panel.run()
    return np.asarray(panel.recording.frames[score][-1], dtype=np.float64)


def test_a_drawing_trains_a_network_that_samples_it(qtbot, panel):
    """Paint a short stroke far from the origin, train: the learned reverse run lands on it."""
    qtbot.mouseClick(panel.draw_btn, Qt.MouseButton.LeftButton)
    for x in np.linspace(1.6, 2.4, 12):       # the signal the plot's drags emit
        panel.plot_a.view.point_drawn.emit(float(x), 2.0)
    assert panel.plot_a.drawn_points().shape == (12, 2)        # the brush's footprint shows
    qtbot.mouseClick(panel.draw_btn, Qt.MouseButton.LeftButton)  # use the drawing
    assert panel.dataset == "drawing"
    assert panel.plot_a.drawn_points().shape == (0, 2)
    assert not panel.learned_available                          # nothing trained yet
    assert not _enabled(panel.score_combo, "learned")
    assert "kernel density" in panel.plot_a.plot.titleLabel.text
    _train(qtbot, panel, steps=250)
    assert panel.learned_available and _enabled(panel.score_combo, "learned")
    assert panel.score_source == "both"                        # exact vs learned at once
    assert "trained here" in panel.plot_b.plot.titleLabel.text
    assert panel.trained_network().steps == 250
    learned = _reverse(qtbot, panel, "learned")
    # the prior is N(0, I): landing on the stroke (mean (2, 2)) means the network learned it
    np.testing.assert_allclose(learned.mean(axis=0), [2.0, 2.0], atol=0.35)
    # across the stroke the spread is the brush sigma = 0.15 (not a collapse to a point)
    assert 0.08 < learned[:, 1].std() < 0.3


def test_training_a_built_in_set_replaces_its_network(qtbot, panel, tmp_path):
    _pick(panel.dataset_combo, "8gaussians")
    qtbot.waitUntil(lambda: not panel.learned_loading(), timeout=10_000)
    bundled = panel.network.model
    before = _reverse(qtbot, panel, "learned")
    _pick(panel.mode_combo, "forward")
    _train(qtbot, panel, steps=30)
    assert panel.network.model is not bundled
    after = _reverse(qtbot, panel, "learned")
    assert np.abs(after - before).max() > 0.1          # the new score drives the run
    # it stays with the data set when the user looks elsewhere and comes back
    _pick(panel.dataset_combo, "moons")
    qtbot.waitUntil(lambda: not panel.learned_loading(), timeout=10_000)
    assert not panel.save_net_btn.isEnabled()
    _pick(panel.dataset_combo, "8gaussians")
    assert panel.network.model is panel.trained_network().model
    assert panel.save_net_btn.isEnabled()
    out = tmp_path / "mine.onnx"
    assert panel.save_network(out)
    from diffview.engine import OnnxDenoiser

    saved = OnnxDenoiser(out, device="cpu")
    assert saved.info.kind == "points" and saved.info.dataset == "toy:8gaussians"
    assert saved.info.training_steps == 30


@pytest.mark.parametrize("how", ["button", "status bar"])
def test_stop_ends_training_and_keeps_the_old_network(qtbot, panel, how):
    _pick(panel.dataset_combo, "moons")
    qtbot.waitUntil(lambda: not panel.learned_loading(), timeout=10_000)
    bundled = panel.network.model
    panel.train_steps_spin.setValue(50_000)
    panel.train_seconds_spin.setValue(600)
    qtbot.mouseClick(panel.train_btn, Qt.MouseButton.LeftButton)
    assert panel.is_training() and not panel.train_btn.isEnabled()
    qtbot.waitUntil(lambda: panel.train_label.text().startswith("step"), timeout=60_000)
    t0 = time.perf_counter()
    with qtbot.waitSignal(panel.training_finished, timeout=10_000) as blocker:
        if how == "button":
            qtbot.mouseClick(panel.train_stop_btn, Qt.MouseButton.LeftButton)
        else:
            panel.context.jobs.cancel_all()   # what the status bar's Cancel calls
    assert time.perf_counter() - t0 < 5.0            # one step, even on a loaded machine
    assert blocker.args == [False]
    assert panel.network.model is bundled
    assert panel.trained_network() is None
    assert panel.train_btn.isEnabled() and not panel.train_stop_btn.isEnabled()


def test_without_torch_train_explains_instead_of_failing(qtbot, panel, monkeypatch):
    monkeypatch.setattr(network_box, "torch_available", lambda: False)
    with qtbot.waitSignal(panel.context.error_raised, timeout=2000) as blocker:
        assert panel.start_training() is None
    title, message = blocker.args
    assert "torch" in title and "pip" in message
    assert not panel.is_training()
