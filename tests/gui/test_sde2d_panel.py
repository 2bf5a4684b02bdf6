"""Sde2DPanel: the shown clouds and overlays against the core formulas, runs, cancel, drawing."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from diffview.core import sde as sde_mod
from diffview.core.mixtures import GaussianMixture, density_grid, mixture_score
from diffview.core.toy2d import toy_mixture
from diffview.engine.analytic import AnalyticDenoiser
from diffview.gui.panels.sde2d import Sde2DPanel
from diffview.gui.panels.sde2d.plot import TRAIL_WINDOW

SHIFT = 0.3   # the fake "learned" model is the true mixture moved by this much


def _shifted_model(name: str):
    """A stand-in for the trained network: exact eps of the data moved by SHIFT (continuous VP)."""
    mix = toy_mixture(name)
    wrong = GaussianMixture(mix.weights, mix.means + SHIFT, mix.covs)
    return AnalyticDenoiser(wrong, sde={"name": "vp", "beta_min": 0.1, "beta_max": 20.0,
                                        "T": 1.0}, dataset=name)


def _pick(box, key) -> None:
    i = box.findData(key)
    assert i >= 0, key
    box.setCurrentIndex(i)


@pytest.fixture
def make_panel(qtbot, context):
    panels = []

    def make(learned: bool = False, n: int = 4000):
        context.toy_model = (lambda name: _shifted_model(name)) if learned else (lambda name: None)
        panel = Sde2DPanel(context)
        qtbot.addWidget(panel)
        panel.resize(1100, 650)
        panel.n_spin.setValue(n)
        panels.append(panel)
        qtbot.waitUntil(lambda: not panel.learned_loading(), timeout=10_000)
        return panel

    yield make
    for p in panels:
        p.shutdown()


def _data(qtbot, panel, name):
    """Pick a data set and wait until its trained network (if any) has been looked up."""
    _pick(panel.dataset_combo, name)
    qtbot.waitUntil(lambda: not panel.learned_loading(), timeout=10_000)


def _settle(qtbot, panel):
    """Wait for the overlay worker to put the current frame's heat map and arrows on screen."""
    qtbot.waitUntil(panel.overlays_settled, timeout=10_000)


def _run(qtbot, panel, timeout=20_000):
    with qtbot.waitSignal(panel.run_completed, timeout=timeout):
        qtbot.mouseClick(panel.run_btn, Qt.MouseButton.LeftButton)
    return panel.recording


@pytest.mark.parametrize("sde_name", ["brownian", "vp", "ve", "ou"])
def test_forward_exact_cloud_has_the_marginal_moments(make_panel, sde_name):
    panel = make_panel(n=20_000)
    _pick(panel.dataset_combo, "double_gaussian")
    _pick(panel.sde_combo, sde_name)
    sde = sde_mod.make_sde(sde_name)
    panel.time_slider.setValue(panel.time_slider.maximum() // 3)
    t = panel.shown_time
    assert 0 < t < sde.T
    x = panel.shown_points("a")
    assert x.shape == (20_000, 2)
    mix = toy_mixture("double_gaussian")
    m, s = float(sde.mean_coef(t)), float(sde.marginal_std(t))
    want_mean = m * mix.mean()
    want_cov = m * m * mix.covariance() + s * s * np.eye(2)
    sd = np.sqrt(np.diag(want_cov))
    # 5 standard errors of the mean and of the standard deviation
    np.testing.assert_allclose(x.mean(axis=0), want_mean, atol=5 * sd.max() / np.sqrt(20_000))
    np.testing.assert_allclose(x.std(axis=0), sd, rtol=5 / np.sqrt(2 * 20_000) + 0.01)


def test_density_overlay_is_the_exact_marginal_density(qtbot, make_panel):
    panel = make_panel()
    _pick(panel.dataset_combo, "moons")
    _pick(panel.view_combo, "density")
    panel.time_slider.setValue(40)
    _settle(qtbot, panel)
    t = panel.shown_time
    image = panel.plot_a.image_data
    assert panel.plot_a.image.isVisible() and panel.plot_a.image_kind == "density"
    assert len(panel.plot_a.points) == 0           # density only: no points
    xs, ys, _ = panel.density_image()
    want = density_grid(toy_mixture("moons").marginal(panel.sde, t), xs, ys)
    np.testing.assert_allclose(image, want, rtol=1e-10)
    # the grid covers the visible rectangle
    rect = panel.plot_a.view_rect()
    assert xs[0] > rect.left() and xs[-1] < rect.right()
    _pick(panel.view_combo, "points")
    assert not panel.plot_a.image.isVisible()
    assert len(panel.plot_a.points) == 4000


def test_score_arrows_point_along_the_exact_score(qtbot, make_panel):
    panel = make_panel()
    _pick(panel.dataset_combo, "8gaussians")
    panel.arrows_check.setChecked(True)
    panel.time_slider.setValue(60)
    _settle(qtbot, panel)
    t = panel.shown_time
    ax, ay = panel.plot_a.arrows.getData()
    seg = np.column_stack([ax, ay]).reshape(-1, 6, 2)   # shaft start, tip, two head strokes
    start, tip = seg[:, 0], seg[:, 1]
    score = mixture_score(toy_mixture("8gaussians"), panel.sde, start, t)
    d = tip - start
    long_enough = np.hypot(*d.T) > 1e-6
    cos = np.sum(d * score, axis=1) / (np.hypot(*d.T) * np.hypot(*score.T) + 1e-300)
    assert long_enough.mean() > 0.9
    assert np.all(cos[long_enough] > 0.999)


def test_forward_euler_maruyama_run_reaches_the_prior(qtbot, make_panel):
    panel = make_panel(n=6000)
    _pick(panel.dataset_combo, "8gaussians")
    _pick(panel.forward_combo, "em")
    panel.steps_spin.setValue(100)
    panel.trails_check.setChecked(True)
    rec = _run(qtbot, panel)
    assert rec.kind == "forward"
    assert panel.time_slider.maximum() == len(rec) - 1
    assert panel.shown_time == pytest.approx(panel.sde.T)
    x = panel.shown_points("a")
    mix = toy_mixture("8gaussians")
    m, s = float(panel.sde.mean_coef(1.0)), float(panel.sde.marginal_std(1.0))
    sd = np.sqrt(m * m * np.diag(mix.covariance()) + s * s)
    np.testing.assert_allclose(x.std(axis=0), sd, rtol=0.05)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=0.08)
    # replay: frame 0 is the data, trails end where the shown particles are
    panel.time_slider.setValue(0)
    np.testing.assert_allclose(panel.shown_points("a"), panel.x0, atol=1e-5)
    panel.time_slider.setValue(len(rec) - 1)
    tx, ty = panel.plot_a.trails.getData()
    window = min(TRAIL_WINDOW, rec.trails["cloud"].shape[0])
    n_tr = rec.trails["cloud"].shape[1]
    assert np.isfinite(tx).sum() == window * n_tr
    # the last point of each polyline is that particle's position in the last frame
    ends = np.column_stack([tx, ty]).reshape(n_tr, window + 1, 2)[:, -2]
    np.testing.assert_allclose(ends, rec.trails["cloud"][-1], atol=1e-5)


def _mode_fractions(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Fraction of points within 3 std of one of the 8 centres, and the per-mode shares."""
    mix = toy_mixture("8gaussians")
    d = np.linalg.norm(x[:, None, :] - mix.means[None], axis=2)
    near = d.min(axis=1) < 3 * 0.25
    counts = np.bincount(d.argmin(axis=1)[near], minlength=8)
    return near.mean(), counts / max(near.sum(), 1)


@pytest.mark.parametrize("method", ["sde", "ode"])
def test_reverse_run_with_exact_score_lands_on_the_data(qtbot, make_panel, method):
    panel = make_panel(n=4000)
    _pick(panel.dataset_combo, "8gaussians")
    _pick(panel.mode_combo, "reverse")
    _pick(panel.reverse_combo, method)
    panel.steps_spin.setValue(100)
    np.testing.assert_allclose(panel.shown_points("a"), panel.x_T, atol=1e-6)
    rec = _run(qtbot, panel)
    assert rec.kind == "reverse" and list(rec.frames) == ["exact"]
    assert panel.shown_time == pytest.approx(1e-3)
    near, shares = _mode_fractions(panel.shown_points("a"))
    assert near > 0.95
    np.testing.assert_allclose(shares, 1 / 8, atol=0.03)


@pytest.mark.parametrize("sde_name", ["vp", "ou"])
def test_side_by_side_shows_the_learned_run(qtbot, make_panel, sde_name):
    """The VP-trained stand-in also drives OU runs through core.sde.score_from_eps."""
    panel = make_panel(learned=True, n=3000)
    _data(qtbot, panel, "8gaussians")
    _pick(panel.sde_combo, sde_name)
    _pick(panel.mode_combo, "reverse")
    _pick(panel.reverse_combo, "ode")
    _pick(panel.score_combo, "both")
    panel.steps_spin.setValue(60)
    assert panel.plot_b.plot.scene() is not None           # the second plot is in the layout
    rec = _run(qtbot, panel)
    assert set(rec.frames) == {"exact", "learned"}
    a, b = panel.shown_points("a"), panel.shown_points("b")
    # same start, same noise: the clouds differ by the learned model's shift of the data
    np.testing.assert_allclose(b.mean(axis=0) - a.mean(axis=0), SHIFT, atol=0.05)
    # score error map = |learned - exact| on the grid
    _pick(panel.view_combo, "error")
    _settle(qtbot, panel)
    assert panel.plot_b.image_kind == "error"
    np.testing.assert_allclose(panel.plot_b.image_data, panel.score_error_image()[2])
    xs, ys, err = panel.score_error_image()
    gx, gy = np.meshgrid(xs, ys)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    t = max(panel.shown_time, 1e-3)
    # the stand-in is exact for the shifted mixture, so under any SDE its converted score is
    # that mixture's exact score
    mix = toy_mixture("8gaussians")
    shifted = GaussianMixture(mix.weights, mix.means + SHIFT, mix.covs)
    want = mixture_score(shifted, panel.sde, pts, t) - mixture_score(mix, panel.sde, pts, t)
    np.testing.assert_allclose(err.ravel(), np.hypot(*want.T), rtol=1e-3, atol=1e-3)


def test_learned_score_is_disabled_without_a_model(make_panel):
    panel = make_panel(learned=False)
    model = panel.score_combo.model()
    for key in ("learned", "both"):
        item = model.item(panel.score_combo.findData(key))
        assert not item.isEnabled()
        assert "toy2d_" in item.toolTip()
    assert not panel.view_combo.model().item(panel.view_combo.findData("error")).isEnabled()
    assert panel.score_source == "exact"


def test_cancel_stops_a_reverse_run_and_keeps_the_part_done(qtbot, make_panel):
    panel = make_panel(n=50_000)
    _pick(panel.dataset_combo, "spiral")
    _pick(panel.mode_combo, "reverse")
    panel.steps_spin.setValue(2000)
    with qtbot.waitSignal(panel.live_frame, timeout=20_000):
        qtbot.mouseClick(panel.run_btn, Qt.MouseButton.LeftButton)
    assert panel.is_busy() and panel.cancel_btn.isEnabled()
    assert not panel.play_btn.isEnabled() and not panel.time_slider.isEnabled()
    assert not panel.run_btn.isEnabled() and "in progress" in panel.run_btn.toolTip()
    with qtbot.waitSignal(panel.run_cancelled, timeout=10_000) as blocker:
        qtbot.mouseClick(panel.cancel_btn, Qt.MouseButton.LeftButton)
    assert not panel.is_busy()
    rec = blocker.args[0]
    # the partial run stays replayable: it starts at x_T and stops before the last step
    assert rec is panel.recording and rec.cancelled and 1 <= rec.steps[-1] < 2000
    assert panel.time_slider.maximum() == len(rec) - 1
    assert not panel.cancel_btn.isEnabled() and panel.run_btn.isEnabled()
    assert panel.play_btn.isEnabled() and panel.time_slider.isEnabled()
    panel.time_slider.setValue(0)
    np.testing.assert_allclose(panel.shown_points("a"), panel.x_T, atol=1e-5)   # the start


def test_shutdown_during_a_run_stops_the_job(qtbot, make_panel, context):
    panel = make_panel(n=50_000)
    _pick(panel.mode_combo, "reverse")
    panel.steps_spin.setValue(2000)
    panel.run()
    qtbot.wait(50)
    panel.shutdown()
    qtbot.waitUntil(lambda: not context.jobs.is_busy(panel.run_lane), timeout=5000)
    assert not panel.is_busy()


def test_run_is_disabled_with_a_reason_for_the_exact_marginal(make_panel):
    panel = make_panel()
    _pick(panel.mode_combo, "forward")
    _pick(panel.forward_combo, "exact")
    assert not panel.run_btn.isEnabled()
    assert "slider" in panel.run_btn.toolTip() and "slider" in panel.controls.run_hint.text()
    _pick(panel.forward_combo, "em")
    assert panel.run_btn.isEnabled() and panel.controls.run_hint.text() == ""


def test_mcmc_chains_move_onto_the_density(qtbot, make_panel):
    pytest.importorskip("diffview.core.mcmc")
    panel = make_panel(n=3000)
    _pick(panel.dataset_combo, "8gaussians")
    _pick(panel.mode_combo, "mcmc")
    panel.steps_spin.setValue(150)
    panel.mcmc_step_spin.setValue(0.5)
    mix = toy_mixture("8gaussians")
    start = panel.shown_points("a").copy()
    rec = _run(qtbot, panel)
    assert rec.kind == "mcmc"
    assert 0.05 < rec.accept_rate < 0.95
    end = panel.shown_points("a")
    assert mix.log_prob(end).mean() > mix.log_prob(start).mean() + 1.0
    near, _ = _mode_fractions(end)
    assert near > 0.9


def test_drawing_becomes_the_data_set(qtbot, make_panel):
    panel = make_panel(n=2000)
    qtbot.mouseClick(panel.draw_btn, Qt.MouseButton.LeftButton)
    assert panel.plot_a.view.drawing
    # drag with the mouse across the left plot: a horizontal stroke at y = 1
    vb = panel.plot_a.view
    viewport = panel.glw.viewport()

    def to_widget(x, y):
        scene = vb.mapViewToScene(QPointF(x, y))
        return panel.glw.mapFromScene(scene)

    def send(kind, x, button, buttons):
        pos = QPointF(to_widget(x, 1.0))
        ev = QMouseEvent(kind, pos, viewport.mapToGlobal(pos), button, buttons,
                         Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, ev)

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    # QTest's mouseMove carries no pressed buttons, so a drag is sent as real events
    send(QEvent.Type.MouseButtonPress, -2.0, left, left)
    for x in np.linspace(-2.0, 2.0, 30):
        qtbot.wait(20)                                   # pyqtgraph drops faster moves
        send(QEvent.Type.MouseMove, x, none, left)
    send(QEvent.Type.MouseButtonRelease, 2.0, left, none)
    assert len(panel.drawing.points) >= 20                        # one point per drag event
    drawn = np.asarray(panel.drawing.points)
    assert drawn[:, 0].min() < -1.5 and drawn[:, 0].max() > 1.5
    np.testing.assert_allclose(drawn[:, 1], 1.0, atol=0.1)
    qtbot.mouseClick(panel.draw_btn, Qt.MouseButton.LeftButton)   # use the drawing
    assert panel.dataset == "drawing"
    mix = panel.mixture
    assert mix.n_components >= 3
    x0 = panel.x0
    assert np.abs(x0[:, 1] - 1.0).mean() < 0.3
    assert x0[:, 0].min() > -3.0 and x0[:, 0].max() < 3.0


def test_session_state_round_trip(make_panel):
    a = make_panel()
    _pick(a.dataset_combo, "rings")
    _pick(a.sde_combo, "ou")
    _pick(a.view_combo, "points")
    a.arrows_check.setChecked(True)
    a.seed_spin.setValue(7)
    a.time_slider.setValue(33)
    a.drawing.points = [(0.0, 1.0), (1.0, 1.0)]
    state = a.to_state()
    b = make_panel()
    b.from_state(state)
    assert b.to_state() == state
    np.testing.assert_allclose(b.shown_points("a"), a.shown_points("a"))


def test_ve_zooms_to_the_cloud(make_panel):
    panel = make_panel()
    _pick(panel.dataset_combo, "8gaussians")
    _pick(panel.sde_combo, "ve")
    assert panel.zoom_check.isChecked()
    panel.time_slider.setValue(0)                       # the data, |x| < 3.5
    rect = panel.plot_a.view_rect()
    x = panel.shown_points("a")
    lo, hi = np.percentile(x, [0.5, 99.5], axis=0)
    assert rect.left() <= lo[0] and rect.right() >= hi[0]
    assert rect.width() < 15                            # not the prior's +-30
    panel.zoom_check.setChecked(False)                  # back to the range that fits T
    assert panel.plot_a.view_rect().width() > 50


def test_demo_state_shows_moons_with_density_and_arrows(qtbot, make_panel):
    panel = make_panel()
    panel.show()
    qtbot.waitExposed(panel)
    _settle(qtbot, panel)                               # the layout and view range are final
    panel.view_combo.setCurrentIndex(panel.view_combo.findData("density"))
    # let the worker finish that overlay without delivering it (no event processing), so its
    # result is queued when demo_state refreshes synchronously
    time.sleep(0.8)
    panel.demo_state()
    shown = panel.plot_a.image_data.copy()
    assert panel.dataset == "moons" and panel.mode == "forward"
    assert panel.shown_time == pytest.approx(0.1, abs=0.01)
    assert panel.plot_a.image_kind == "density"         # no waiting: computed synchronously
    assert len(panel.plot_a.arrows.getData()[0]) > 0
    assert panel.overlays_settled()
    # results of the worker still computing for the earlier settings must not replace it
    qtbot.wait(400)
    np.testing.assert_allclose(panel.plot_a.image_data, shown)
    np.testing.assert_allclose(shown, panel.density_image()[2])
    assert len(panel.plot_a.arrows.getData()[0]) > 0


def test_a_bundled_onnx_toy_model_drives_the_learned_score(qtbot, tmp_path, monkeypatch):
    """The real path: AppContext.toy_model loads resources/models/toy2d_<name>.onnx (float32
    time, VP metadata) and the panel turns its eps into the learned score and error map."""
    from onnx import TensorProto

    from diffview.engine.metadata import ModelInfo
    from diffview.gui.context import AppContext
    from tests.engine.onnx_models import eps_model, save

    vp = {"name": "vp", "beta_min": 0.1, "beta_max": 20.0, "T": 1.0}
    info = ModelInfo(kind="points", sample_shape=(2,), time_kind="continuous", sde=vp,
                     value_range=(-4.0, 4.0), dataset="toy:8gaussians")
    models = tmp_path / "resources" / "models"
    models.mkdir(parents=True)
    # eps = 0.1 x + t: a formula the test can follow through score_from_eps
    save(eps_model(sample_dims=("B", 2), time_type=TensorProto.FLOAT, info=info),
         models / "toy2d_8gaussians.onnx")
    monkeypatch.setenv("DIFFVIEW_RESOURCES", str(tmp_path / "resources"))
    ctx = AppContext(device="cpu")
    panel = Sde2DPanel(ctx)
    qtbot.addWidget(panel)
    try:
        panel.n_spin.setValue(1000)
        _data(qtbot, panel, "8gaussians")
        assert panel.learned_available
        _pick(panel.score_combo, "learned")
        panel.arrows_check.setChecked(True)
        _pick(panel.view_combo, "error")
        panel.time_slider.setValue(100)
        _settle(qtbot, panel)
        t = panel.shown_time
        s = float(panel.sde.marginal_std(t))
        ax, ay = panel.plot_a.arrows.getData()
        seg = np.column_stack([ax, ay]).reshape(-1, 6, 2)
        start, d = seg[:, 0], seg[:, 1] - seg[:, 0]
        want = -(0.1 * start + t) / s          # VP target = trained SDE: score = -eps / s
        cos = np.sum(d * want, axis=1) / (np.hypot(*d.T) * np.hypot(*want.T) + 1e-300)
        assert np.all(cos[np.hypot(*d.T) > 1e-6] > 0.999)
        xs, ys, err = panel.score_error_image()
        gx, gy = np.meshgrid(xs, ys)
        pts = np.column_stack([gx.ravel(), gy.ravel()])
        exact = mixture_score(toy_mixture("8gaussians"), panel.sde, pts, t)
        np.testing.assert_allclose(err.ravel(), np.hypot(*(-(0.1 * pts + t) / s - exact).T),
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(panel.plot_a.image_data, err)
    finally:
        panel.shutdown()
        ctx.jobs.shutdown()   # the context owns the job threads


def test_play_runs_the_slider_to_the_end_and_stops(qtbot, make_panel):
    panel = make_panel(n=2000)
    panel.time_slider.setValue(panel.time_slider.maximum() - 6)
    qtbot.mouseClick(panel.play_btn, Qt.MouseButton.LeftButton)
    assert panel.play_btn.text() == "Pause"
    qtbot.waitUntil(lambda: not panel.play_btn.isChecked(), timeout=5000)
    assert panel.time_slider.value() == panel.time_slider.maximum()
    assert panel.shown_time == pytest.approx(panel.sde.T)
    assert panel.play_btn.text() == "Play"


def test_session_with_the_learned_score_comes_back_after_the_model_loads(qtbot, make_panel):
    a = make_panel(learned=True)
    _data(qtbot, a, "moons")
    _pick(a.score_combo, "both")
    _pick(a.view_combo, "error")
    state = a.to_state()
    b = make_panel(learned=True)
    b.from_state(state)                    # moons' network is still loading here
    qtbot.waitUntil(lambda: not b.learned_loading(), timeout=10_000)
    assert b.score_source == "both" and b.view_mode == "error"
    assert b.plot_b.plot.scene() is not None
    assert b.to_state() == state


def test_a_network_trained_elsewhere_becomes_the_learned_score(qtbot, make_panel, context):
    """The Training panel hands a finished 2-D model over through context.set_toy_model."""
    from diffview.engine import OnnxDenoiser
    from diffview.paths import resource

    panel = make_panel(learned=False)
    _data(qtbot, panel, "moons")
    assert panel.network.model is None
    model = OnnxDenoiser(resource("models", "toy2d_moons.onnx"), device="cpu")
    context.set_toy_model("spiral", model)  # another set: remembered, not shown
    assert panel.network.model is None
    context.set_toy_model("moons", model)
    assert panel.network.model is model
    assert panel.trained_network().path == model.path
    assert panel.save_net_btn.isEnabled()
    _data(qtbot, panel, "spiral")
    assert panel.network.model is model


def test_flow_matching_beside_vp_runs_side_by_side(qtbot, make_panel):
    panel = make_panel(n=2000)
    _pick(panel.dataset_combo, "8gaussians")
    _pick(panel.process_combo, "flow")
    panel.steps_spin.setValue(30)
    assert panel.run_btn.isEnabled() and not panel.mode_combo.isEnabled()
    assert panel.plot_b.plot.scene() is not None
    rec = _run(qtbot, panel)
    assert rec.kind == "flow" and set(rec.frames) == {"vp", "fm"}
    near_a, _ = _mode_fractions(panel.shown_points("a"))
    near_b, _ = _mode_fractions(panel.shown_points("b"))
    assert near_a > 0.9 and near_b > 0.9
    assert "straightness" in panel.info_label.text()
    state = panel.state_dict()
    assert state["process"] == "flow"
