"""Sampling panel: runs equal the core sampler's output, cancel stops, replay and probes work."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from diffview.core import forward as fwd
from diffview.core.samplers import make_sampler, sample
from diffview.core.schedules import make_schedule
from diffview.gui.panels.forward import to_display
from diffview.gui.panels.sampling import SamplingPanel, mosaic, mosaic_cell, parse_race_spec
from diffview.runs.seeding import PerSampleNoise, start_noise

from .conftest import SlowDenoiser


@pytest.fixture
def panel(qtbot, context):
    p = SamplingPanel(context)
    qtbot.addWidget(p)
    p.resize(1000, 650)
    p.show()
    yield p
    p.shutdown()


def expected_final(model, name, steps, seed, batch, eta=0.0, x_T=None, start_index=None,  # noqa: N803
                   clip=True):
    """The core sampler under the seeding rule: image i draws x_T, then its step noise, from
    default_rng(SeedSequence(seed, spawn_key=(i,)))."""
    schedule = make_schedule(model.info.schedule, model.info.T)
    sampler = make_sampler(name, schedule, n_steps=steps, eta=eta, clip_x0=clip)
    noise = PerSampleNoise.for_images(seed, batch)
    drawn = noise.standard_normal((batch,) + tuple(model.info.sample_shape), dtype=np.float32)
    if x_T is None:
        x_T = drawn  # noqa: N806
    if start_index is None:
        return sample(sampler, model.predict_eps, x_T, noise)
    from diffview.core.samplers import sample_iter

    assert not sampler.needs_noise(0)  # else the noise of the skipped steps is drawn first
    x = x_T
    for frame in sample_iter(sampler, model.predict_eps, x_T, noise, start_index=start_index):
        x = frame.x
    return x


def test_without_a_model_run_is_disabled_and_says_why(panel):
    assert not panel.run_button.isEnabled()
    assert "Open model" in panel.run_button.toolTip()
    assert panel.run() is None


def test_run_streams_frames_and_matches_core_ddim(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    assert panel.run_button.isEnabled()
    panel.steps_spin.setValue(12)
    panel.batch_spin.setValue(5)
    panel.seed_spin.setValue(7)
    frames = []
    panel.runner.frame_ready.connect(lambda rid, f: frames.append(f))
    with qtbot.waitSignal(panel.run_completed, timeout=20000) as blocker:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert frames and frames[-1][0] == 12  # the last frame arrives
    expected = expected_final(tiny_denoiser, "ddim", 12, 7, 5)
    np.testing.assert_allclose(result.final, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(result.x0s[:-1]).max() <= 1.0  # x0 clipped by default
    assert result.xs.shape == (13, 5, 1, 28, 28)
    assert result.nfe == 12
    np.testing.assert_array_equal(result.xs[0], start_noise(7, (1, 28, 28), 5))
    # the final image of the batch is shown
    np.testing.assert_array_equal(panel.xt_item.image, to_display(mosaic(result.final, 3)))
    assert context.last_samples is result.final
    # norms over the batch
    np.testing.assert_allclose(result.norms["‖x_t‖ rms"][-1], np.sqrt(np.mean(expected**2)),
                               rtol=1e-5)
    # unclipped, the same run follows the unclipped core sampler
    panel.clip_check.setChecked(False)
    with qtbot.waitSignal(panel.run_completed, timeout=20000) as blocker:
        panel.run()
    np.testing.assert_allclose(blocker.args[0].final,
                               expected_final(tiny_denoiser, "ddim", 12, 7, 5, clip=False),
                               rtol=1e-5, atol=1e-5)
    assert not np.allclose(blocker.args[0].final, expected)


def test_timeline_replays_any_step(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    panel.steps_spin.setValue(10)
    panel.batch_spin.setValue(4)
    with qtbot.waitSignal(panel.run_completed, timeout=20000):
        panel.run()
    r = panel.result
    assert panel.timeline.isEnabled() and panel.timeline.maximum() == 10
    for k in (0, 3, 10):
        panel.timeline.setValue(k)
        np.testing.assert_array_equal(panel.xt_item.image, to_display(mosaic(r.xs[k], 2)))
        np.testing.assert_array_equal(panel.x0_item.image, to_display(mosaic(r.x0s[k], 2)))
        assert f"step {k}/10" in panel.step_label.text()
    # one image of the batch alone
    panel.sample_spin.setValue(2)
    panel.timeline.setValue(4)
    np.testing.assert_array_equal(panel.xt_item.image, to_display(r.xs[4, 2]))


def test_cancel_stops_a_run(qtbot, panel, context):
    model = SlowDenoiser(delay=0.02)
    context.set_image_model(model)
    panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData("ddpm"))
    panel.steps_spin.setValue(1000)
    panel.batch_spin.setValue(2)
    with qtbot.waitSignal(panel.runner.frame_ready, timeout=10000):
        panel.run()
    assert panel.cancel_button.isEnabled()
    with qtbot.waitSignal(panel.runner.run_cancelled, timeout=2000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    calls = model.calls
    assert calls < 1000
    qtbot.wait(100)
    assert model.calls == calls  # no more network calls after the cancel
    assert panel.result is None
    assert panel.step_label.text() == "cancelled"
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_cancel_stops_inside_a_large_batch_step(qtbot, panel, context):
    # 256 images are fed to the network in chunks of 32: a Cancel does not wait for the
    # whole step (8 slow chunks) to finish.
    model = SlowDenoiser(delay=0.15)
    context.set_image_model(model)
    panel.steps_spin.setValue(5)
    panel.batch_spin.setValue(256)
    with qtbot.waitSignal(panel.runner.frame_ready, timeout=20000):
        panel.run()
    with qtbot.waitSignal(panel.runner.run_cancelled, timeout=5000):
        panel.cancel()
    assert 8 <= model.calls < 16
    assert model.calls % 8 != 0  # stopped part-way through the second step


def test_status_bar_cancel_reaches_the_panel(qtbot, panel, context):
    context.set_image_model(SlowDenoiser(delay=0.02))
    panel.steps_spin.setValue(500)
    with qtbot.waitSignal(panel.runner.frame_ready, timeout=10000):
        panel.run()
    with qtbot.waitSignal(panel.runner.run_cancelled, timeout=2000):
        context.cancel_requested.emit("Sampling")


def test_worker_error_reaches_the_user(qtbot, panel, context):
    context.set_image_model(SlowDenoiser(delay=0.0, fail_after=3))
    with qtbot.waitSignal(context.error_raised, timeout=10000) as blocker:
        panel.run()
    assert "the network exploded" in blocker.args[1]


def test_denoise_from_here_restores_from_that_t(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    panel.steps_spin.setValue(50)
    panel.batch_spin.setValue(3)
    schedule = make_schedule("linear", 1000)
    x0 = np.zeros((1, 28, 28), np.float32)
    x_t = fwd.q_sample(x0, schedule, 299, np.random.default_rng(1).standard_normal(
        x0.shape, dtype=np.float32))
    with qtbot.waitSignal(panel.run_completed, timeout=20000) as blocker:
        context.denoise_requested.emit(x_t, 299)
    r = blocker.args[0]
    sampler = make_sampler("ddim", schedule, n_steps=50)
    n_expected = int(np.sum(sampler.timesteps <= 299))
    assert r.xs.shape[0] == n_expected + 1
    np.testing.assert_array_equal(r.xs[0], np.repeat(x_t[None], 3, axis=0))
    expected = expected_final(tiny_denoiser, "ddim", 50, 0, 3,
                              x_T=np.repeat(x_t[None], 3, axis=0), start_index=299)
    np.testing.assert_allclose(r.final, expected, rtol=1e-5, atol=1e-5)


def test_denoise_from_here_rejects_a_wrong_shape(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    with qtbot.waitSignal(context.error_raised) as blocker:
        context.denoise_requested.emit(np.zeros((3, 40, 40), np.float32), 10)
    assert "expects" in blocker.args[1]


def test_clicking_pixels_plots_their_trajectories(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    panel.steps_spin.setValue(8)
    panel.batch_spin.setValue(4)
    with qtbot.waitSignal(panel.run_completed, timeout=20000):
        panel.run()
    r = panel.result
    # a real mouse click on tile 3 (bottom right of the 2x2 mosaic), pixel (row 5, col 9)
    item_pos = (29 + 9 + 0.5, 29 + 5 + 0.5)
    scene_pos = panel.xt_item.mapToScene(*item_pos)
    view_pos = panel.images.mapFromScene(scene_pos)
    qtbot.mouseClick(panel.images.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(view_pos.x(), view_pos.y()))
    assert panel._pixels == [(3, 0, 5, 9)]
    xs, ys = panel._pixel_curves[0].getData()
    np.testing.assert_array_equal(ys, r.xs[:, 3, :, 5, 9].mean(axis=1))
    np.testing.assert_array_equal(xs, np.arange(9))
    panel.add_pixel(0, 1, 1)
    assert len(panel._pixel_curves) == 2
    assert panel._pixel_curves[0].opts["pen"].color() != panel._pixel_curves[1].opts["pen"].color()
    panel.clear_pixels()
    assert panel._pixel_curves == []


def test_sampler_race_uses_the_same_noise(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    panel.race_edit.setText("ddim:6, dpm++2m:4")
    panel.race_batch.setValue(2)
    panel.seed_spin.setValue(5)
    with qtbot.waitSignal(panel.race_runner.run_finished, timeout=20000):
        qtbot.mouseClick(panel.race_button, Qt.MouseButton.LeftButton)
    r = panel.race_result
    assert r.nfe == [6, 4]
    x_T = start_noise(5, (1, 28, 28), 2)  # noqa: N806
    for final, (name, steps) in zip(r.finals, [("ddim", 6), ("dpm++2m", 4)], strict=True):
        expected = expected_final(tiny_denoiser, name, steps, 5, 2, x_T=x_T)
        np.testing.assert_allclose(final, expected, rtol=1e-5, atol=1e-5)
    assert "NFE 4" in panel.race_labels[1][0].text


def test_race_spec_errors(panel, context, tiny_denoiser):
    assert parse_race_spec("ddim:10, dpm++2m") == [("ddim", 10), ("dpm++2m", 50)]
    with pytest.raises(ValueError):
        parse_race_spec("euler:10")
    with pytest.raises(ValueError):
        parse_race_spec("ddim:x")


def test_mosaic_cell_round_trip():
    imgs = np.arange(5 * 1 * 3 * 4, dtype=np.float32).reshape(5, 1, 3, 4)
    m = mosaic(imgs, 3)
    assert m.shape == (1, 2 * 4 - 1, 3 * 5 - 1)
    for k in range(5):
        r, q = divmod(k, 3)
        assert mosaic_cell(q * 5 + 2, r * 4 + 1, 5, 3, 4, 3) == (k, 1, 2)
        assert m[0, r * 4 + 1, q * 5 + 2] == imgs[k, 0, 1, 2]
    assert mosaic_cell(4, 0, 5, 3, 4, 3) is None      # padding column
    assert mosaic_cell(12, 5, 5, 3, 4, 3) is None     # empty sixth tile


def test_state_round_trip(qtbot, panel, context):
    panel.sampler_combo.setCurrentIndex(2)
    panel.steps_spin.setValue(17)
    panel.seed_spin.setValue(99)
    state = panel.to_state()
    other = SamplingPanel(context)
    qtbot.addWidget(other)
    try:
        other.from_state(state)
        assert other.to_state() == state
    finally:
        other.shutdown()


def test_the_info_line_keeps_its_height_when_a_run_ends(qtbot, panel, context, tiny_denoiser):
    """A longer status text must not re-lay out the panel (that repaint stalled the GUI)."""
    context.set_image_model(tiny_denoiser)
    panel.steps_spin.setValue(5)
    panel.batch_spin.setValue(4)
    panel.resize(520, 650)  # narrow: the "Done" text wraps onto more lines than the first one
    qtbot.wait(50)
    before = panel.info_label.height()
    with qtbot.waitSignal(panel.run_completed, timeout=20000):
        panel.run()
    text = panel.info_label.text()
    assert text.startswith("Done:") and len(text) > 80
    assert panel.info_label.height() == before
    assert panel.info_label.toolTip() == text
