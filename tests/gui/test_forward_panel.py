"""Forward panel: what is shown must be the core's x_t for that t, image and noise."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from diffview.core import forward as fwd
from diffview.core.schedules import make_schedule
from diffview.gui.panels.forward import ForwardPanel, to_display


@pytest.fixture
def panel(qtbot, context):
    p = ForwardPanel(context)
    qtbot.addWidget(p)
    p.resize(900, 600)
    p.show()
    yield p
    p.shutdown()


def shown(panel) -> np.ndarray:
    return panel.xt_item.image


def test_bundled_strip_lists_one_sample_per_class(panel):
    assert panel.strip.count() == 10
    assert panel.x0.shape == (1, 28, 28)


def test_scrub_shows_closed_form_x_t_with_fixed_noise(qtbot, panel):
    noise = panel.noise.copy()
    for step in (0, 1, 250, 999, 1000):
        panel.slider.setValue(step)
        expected = fwd.q_sample_step(panel.x0, panel.schedule, step, noise)
        np.testing.assert_array_equal(shown(panel), to_display(expected))
        assert panel.step_spin.value() == step
    np.testing.assert_array_equal(panel.noise, noise)  # held fixed while scrubbing
    # keyboard drives the slider too
    panel.slider.setValue(100)
    panel.slider.setFocus()
    qtbot.keyClick(panel.slider, Qt.Key.Key_PageUp)
    step = panel.slider.value()
    assert step > 100
    np.testing.assert_array_equal(
        shown(panel), to_display(fwd.q_sample_step(panel.x0, panel.schedule, step, noise)))


def test_coefficients_and_histogram_follow_t(panel):
    panel.slider.setValue(300)
    ab = panel.schedule.alpha_bars[299]
    assert f"{np.sqrt(ab):.4f}" in panel.coef_label.text()
    assert f"{np.sqrt(1 - ab):.4f}" in panel.coef_label.text()
    x_t = fwd.q_sample_step(panel.x0, panel.schedule, 300, panel.noise)
    counts, _edges = np.histogram(x_t, bins=64, range=(-4, 4), density=True)
    np.testing.assert_allclose(panel.hist_curve.getData()[1], counts)
    assert panel.cursors[0].value() == 300


def test_new_noise_redraws_and_is_used(qtbot, panel):
    panel.slider.setValue(500)
    before = panel.noise.copy()
    qtbot.mouseClick(panel.new_noise_button, Qt.MouseButton.LeftButton)
    assert not np.array_equal(before, panel.noise)
    np.testing.assert_array_equal(
        shown(panel), to_display(fwd.q_sample_step(panel.x0, panel.schedule, 500, panel.noise)))
    np.testing.assert_array_equal(panel.noise_item.image, to_display(panel.noise))


def test_picking_a_thumbnail_changes_the_image(panel):
    first = panel.x0.copy()
    panel.strip.setCurrentRow(3)
    assert not np.array_equal(first, panel.x0)
    panel.slider.setValue(40)
    np.testing.assert_array_equal(
        shown(panel), to_display(fwd.q_sample_step(panel.x0, panel.schedule, 40, panel.noise)))


def test_schedule_and_T_switch(panel):
    panel.slider.setValue(500)
    panel.T_spin.setValue(200)
    panel.schedule_combo.setCurrentText("cosine")
    assert panel.slider.maximum() == 200
    sched = make_schedule("cosine", 200)
    np.testing.assert_allclose(panel.schedule.alpha_bars, sched.alpha_bars)
    step = panel.slider.value()
    assert step == 100  # the relative position is kept
    np.testing.assert_array_equal(
        shown(panel), to_display(fwd.q_sample_step(panel.x0, sched, step, panel.noise)))
    np.testing.assert_allclose(panel.curve_abar.getData()[1], sched.alpha_bars)


def test_step_by_step_chain_matches_core_chain(qtbot, panel):
    panel.T_spin.setValue(300)
    panel.process_combo.setCurrentIndex(panel.process_combo.findData("chain"))
    qtbot.waitUntil(panel.chain_ready, timeout=10000)
    noises = panel.chain_noises()
    for step in (1, 37, 300):
        panel.slider.setValue(step)
        expected = fwd.chain_to_step(panel.x0, panel.schedule, step, noises)
        np.testing.assert_allclose(shown(panel), to_display(expected), rtol=1e-5, atol=1e-5)
    assert "chain" in panel.xt_label.text


@pytest.mark.parametrize("kind", ["blur", "mask", "pixelate"])
def test_cold_degradations(panel, kind):
    panel.corruption_combo.setCurrentIndex(panel.corruption_combo.findData(kind))
    panel.slider.setValue(600)
    order = fwd.mask_order(panel.x0.shape, np.random.default_rng(panel.process_model.seed))
    expected = fwd.degrade(kind, panel.x0, 600, panel.schedule.T,
                           order=order if kind == "mask" else None)
    np.testing.assert_allclose(shown(panel), to_display(expected), atol=1e-6)
    assert panel.denoise_button.text() == "Restore from here"


def test_restore_from_here_hands_the_degradation_to_the_cold_panel(qtbot, panel, context):
    panel.corruption_combo.setCurrentIndex(panel.corruption_combo.findData("blur"))
    panel.slider.setValue(250)
    with qtbot.waitSignal(context.restore_requested) as got:
        qtbot.mouseClick(panel.denoise_button, Qt.MouseButton.LeftButton)
    request = got.args[0]
    assert request.degradation == "blur" and request.severity == pytest.approx(0.25)
    np.testing.assert_array_equal(request.x0, panel.x0)
    np.testing.assert_allclose(request.x_t, fwd.degrade("blur", panel.x0, 250, 1000))


def test_denoise_from_here_hands_over_x_t_and_index(qtbot, panel, context):
    panel.slider.setValue(400)
    with qtbot.waitSignal(context.denoise_requested) as blocker:
        qtbot.mouseClick(panel.denoise_button, Qt.MouseButton.LeftButton)
    request, t_index = blocker.args
    x_t = request.x_t
    assert t_index == 399
    np.testing.assert_array_equal(x_t, fwd.q_sample(panel.x0, panel.schedule, 399, panel.noise))


def test_play_advances_and_pause_stops(qtbot, panel):
    panel.slider.setValue(0)
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.slider.value() > 20, timeout=5000)
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    stopped_at = panel.slider.value()
    qtbot.wait(120)
    assert panel.slider.value() == stopped_at
    assert panel.play_button.text() == "Play"


def _write_png(path, shape):
    from PIL import Image

    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return arr


def test_open_colour_image_file(qtbot, panel, tmp_path):
    path = tmp_path / "colour.png"
    arr = _write_png(path, (60, 100, 3))
    with qtbot.waitSignal(panel.context.jobs.job_ended, timeout=10000):
        panel.open_image(path)
    assert panel.x0.shape == (3, 60, 100)
    np.testing.assert_allclose(panel.x0, np.moveaxis(arr, -1, 0) / 127.5 - 1.0, atol=1e-6)
    panel.slider.setValue(250)
    assert shown(panel).shape == (60, 100, 3)
    np.testing.assert_array_equal(
        shown(panel), to_display(fwd.q_sample_step(panel.x0, panel.schedule, 250, panel.noise)))


def test_large_grey_image_is_scaled_down_by_drop(qtbot, panel, tmp_path):
    path = tmp_path / "big.png"
    _write_png(path, (700, 1400))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.context.jobs.job_ended, timeout=10000):
        panel.dropEvent(event)
    assert panel.x0.shape == (1, 256, 512)


def test_unreadable_file_reports_an_error(qtbot, panel, context, tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    before = panel.x0.copy()
    with qtbot.waitSignal(context.error_raised, timeout=10000) as blocker:
        panel.open_image(bad)
    assert "not_an_image.png" in blocker.args[1]
    np.testing.assert_array_equal(panel.x0, before)


def test_state_round_trip(qtbot, context, panel):
    panel.schedule_combo.setCurrentText("cosine")
    panel.slider.setValue(321)
    panel.new_noise()
    panel.select_sample(57)
    state = panel.state_dict()
    other = ForwardPanel(context)
    qtbot.addWidget(other)
    other.load_state(state)
    try:
        assert other.step == 321 and other.schedule_combo.currentText() == "cosine"
        np.testing.assert_array_equal(other.x0, panel.x0)
        np.testing.assert_array_equal(other.noise, panel.noise)
        np.testing.assert_array_equal(shown(other), shown(panel))
    finally:
        other.shutdown()


def test_denoise_from_here_adapts_a_colour_image_to_the_model(qtbot, panel, context, tmp_path,
                                                             tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    panel.T_spin.setValue(500)  # a schedule that differs from the model's (linear, T=1000)
    path = tmp_path / "colour.png"
    _write_png(path, (60, 100, 3))
    with qtbot.waitSignal(panel.context.jobs.job_ended, timeout=10000):
        panel.open_image(path)
    panel.slider.setValue(200)
    with qtbot.waitSignal(context.denoise_requested) as blocker:
        panel.request_denoise()
    request, t_index = blocker.args
    x_t = request.x_t
    assert x_t.shape == (1, 28, 28) and x_t.dtype == np.float32
    model_sched = make_schedule("linear", 1000)
    ab = panel.schedule.alpha_bars[199]
    assert t_index == int(np.argmin(np.abs(model_sched.alpha_bars - ab)))


def test_opens_on_the_most_legible_sample_of_a_clear_class(panel):
    """Not the dark T-shirt that came first: the highest-contrast image (std of its pixels)
    among trousers, sneakers, bags and ankle boots, picked in the strip."""
    from diffview.core.data import bundled_samples
    from diffview.gui.panels.forward.samples import CLEAR_CLASSES

    s = bundled_samples()
    u = s.images.reshape(len(s.images), -1) / 255.0
    score = u.std(axis=1)
    names = np.asarray([s.class_names[int(k)] for k in s.labels])
    clear = np.isin(names, CLEAR_CLASSES)
    best = np.flatnonzero(clear)[np.argmax(score[clear])]
    want = s.images[best][None] / 127.5 - 1.0
    np.testing.assert_allclose(panel.x0, want, atol=1e-6)
    old_first = np.flatnonzero(s.labels == 0)[0]     # the first T-shirt, the old default
    assert score[best] > 2 * score[old_first]
    assert panel.class_combo.currentData() is None   # the strip still shows every class
    row = panel.strip.currentRow()
    assert panel.strip.item(row).toolTip() == names[best]
