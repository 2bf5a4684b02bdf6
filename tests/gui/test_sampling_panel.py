"""Sampling panel: runs equal the core sampler's output under the seeding rule, cancel stops and
keeps what was done, replay and probes work, the state round-trips and rejects bad sessions."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from diffview.core import forward as fwd
from diffview.core.samplers import default_steps, make_sampler, sample_iter
from diffview.core.schedules import make_schedule
from diffview.gui.handover import DenoiseRequest
from diffview.gui.imaging import mosaic, mosaic_cell, to_display
from diffview.gui.panels.sampling import SamplingPanel, SamplingState, parse_race_spec
from diffview.runs.seeding import PerSampleNoise

from .conftest import SlowDenoiser


@pytest.fixture
def panel(qtbot, context):
    p = SamplingPanel(context)
    qtbot.addWidget(p)
    p.resize(1000, 650)
    p.show()
    yield p
    p.shutdown()


def rule_noise(seed: int, batch: int, shape=(1, 28, 28)) -> np.ndarray:
    """Each image's x_T under the seeding rule."""
    return PerSampleNoise.for_images(seed, batch).standard_normal((batch, *shape),
                                                                  dtype=np.float32)


def expected_final(model, name, steps, seed, batch, eta=0.0, x_start=None, start_index=None,
                   clip=True):
    """The core sampler driven by hand with the seeding rule's noise."""
    schedule = make_schedule(model.info.schedule, model.info.T)
    sampler = make_sampler(name, schedule, n_steps=steps, eta=eta, clip_x0=1.0 if clip else None)
    noise = PerSampleNoise.for_images(seed, batch)
    x_T = noise.standard_normal((batch, *model.info.sample_shape), dtype=np.float32)  # noqa: N806
    x = x_T if x_start is None else x_start
    for frame in sample_iter(sampler, model.predict_eps, x, noise, start_index=start_index):
        x = frame.x
    return x


def run_and_wait(qtbot, panel, timeout=20000, **settings):
    c = panel.controls
    spins = {"steps": c.steps_spin, "batch": c.batch_spin, "seed": c.seed_spin}
    for key, value in settings.items():
        spins[key].setValue(value)
    with qtbot.waitSignal(panel.run_completed, timeout=timeout) as blocker:
        panel.run()
    return blocker.args[0]


def test_without_a_model_run_is_disabled_and_says_why(panel):
    assert not panel.run_button.isEnabled()
    assert "Open model" in panel.run_button.toolTip()
    assert panel.run() is None
    assert panel.step_label.text() == "no run yet"


def test_run_streams_frames_and_matches_core_ddim(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    assert panel.run_button.isEnabled()
    panel.steps_spin.setValue(12)
    panel.batch_spin.setValue(5)
    panel.seed_spin.setValue(7)
    frames = []
    panel.frame_shown.connect(frames.append)
    with qtbot.waitSignal(panel.run_completed, timeout=20000) as blocker:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert frames and frames[-1].step == 12 and frames[-1].total == 12  # the last one arrives
    expected = expected_final(tiny_denoiser, "ddim", 12, 7, 5)
    np.testing.assert_allclose(result.final, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(result.x0s[:-1]).max() <= 1.0  # x0 clipped by default
    assert result.xs.shape == (13, 5, 1, 28, 28)
    assert result.nfe == 12
    np.testing.assert_array_equal(result.xs[0], rule_noise(7, 5))
    # the final batch is shown, x_t and x0 side by side
    np.testing.assert_array_equal(panel.trajectory.board.item(0).image,
                                  to_display(mosaic(result.final, 3)))
    assert context.last_samples is result.final
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


def test_choosing_a_sampler_takes_its_own_defaults(panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    for name in ("ddpm", "dpm++2m", "ddim"):
        panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData(name))
        assert panel.steps_spin.value() == default_steps(name, 1000)
        assert panel.state.sampler == name and panel.state.steps == default_steps(name, 1000)
        assert panel.eta_spin.isEnabled() == (name == "ddim")


def test_timeline_replays_any_step(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    r = run_and_wait(qtbot, panel, steps=10, batch=4)
    board = panel.trajectory.board
    assert panel.timeline.isEnabled() and panel.timeline.maximum() == 10
    for k in (0, 3, 10):
        panel.timeline.setValue(k)
        np.testing.assert_array_equal(board.item(0).image, to_display(mosaic(r.xs[k], 2)))
        np.testing.assert_array_equal(board.item(1).image, to_display(mosaic(r.x0s[k], 2)))
        assert f"step {k}/10" in panel.step_label.text()
    # one image of the batch alone
    panel.sample_spin.setValue(2)
    panel.timeline.setValue(4)
    np.testing.assert_array_equal(board.item(0).image, to_display(r.xs[4, 2]))


def test_a_cancelled_run_stays_replayable_and_exportable(qtbot, panel, context):
    model = SlowDenoiser(delay=0.02)
    context.set_image_model(model)
    panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData("ddpm"))
    assert panel.steps_spin.value() == 1000  # DDPM's own default: the full chain
    panel.batch_spin.setValue(2)
    frames = []
    panel.frame_shown.connect(frames.append)
    with qtbot.waitSignal(panel.frame_shown, timeout=10000):
        panel.run()
    qtbot.waitUntil(lambda: frames[-1].step >= 5, timeout=10000)
    assert panel.cancel_button.isEnabled()
    # 1000 steps of 20 ms: the run says, once its rate is known, that it takes a while
    assert "This run takes about" in panel.info_label.text()
    with qtbot.waitSignal(panel.run_cancelled, timeout=5000) as blocker:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    calls = model.calls
    assert calls < 1000
    qtbot.wait(100)
    assert model.calls == calls  # no more network calls after the cancel
    partial = blocker.args[0]
    assert partial.cancelled and panel.state.result is partial
    done = partial.t_indices.size
    assert done >= 5 and partial.xs.shape[0] == done + 1
    # the timeline covers exactly the steps done, and replays them
    assert panel.timeline.isEnabled()
    assert (panel.timeline.minimum(), panel.timeline.maximum()) == (0, done)
    panel.timeline.setValue(3)
    np.testing.assert_array_equal(panel.trajectory.board.item(0).image,
                                  to_display(mosaic(partial.xs[3], 2)))
    panel.timeline.setValue(done)
    assert panel.step_label.text() == f"step {done}/{done}  (stopped)"
    assert f"after {done} of 1000 steps" in panel.info_label.text()
    frames_fn = panel.animation_source()
    assert frames_fn is not None and len(frames_fn()) == done + 1
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert context.last_samples is None  # a half-denoised batch is not "the samples"


def test_cancel_stops_inside_a_large_batch_step(qtbot, panel, context):
    # 256 images are fed to the network in chunks of 32: a Cancel does not wait for the
    # whole step (8 slow chunks) to finish.
    model = SlowDenoiser(delay=0.15)
    context.set_image_model(model)
    panel.steps_spin.setValue(5)
    panel.batch_spin.setValue(256)
    with qtbot.waitSignal(panel.frame_shown, timeout=20000):
        panel.run()
    with qtbot.waitSignal(panel.run_cancelled, timeout=5000):
        panel.cancel()
    assert 8 <= model.calls < 16
    assert model.calls % 8 != 0  # stopped part-way through the second step


def test_the_job_manager_cancels_the_panels_run(qtbot, panel, context):
    context.set_image_model(SlowDenoiser(delay=0.02))
    panel.steps_spin.setValue(500)
    with qtbot.waitSignal(panel.frame_shown, timeout=10000):
        panel.run()
    assert panel.is_busy() and [s.name for s in context.jobs.running()] == ["Sampling"]
    with qtbot.waitSignal(panel.run_cancelled, timeout=2000):
        context.jobs.cancel_all()  # what the status bar's Cancel does
    assert not panel.is_busy()


def test_worker_error_reaches_the_user(qtbot, panel, context):
    context.set_image_model(SlowDenoiser(delay=0.0, fail_after=3))
    with qtbot.waitSignal(context.error_raised, timeout=10000) as blocker:
        panel.run()
    assert "the network exploded" in blocker.args[1]
    assert panel.step_label.text() == "failed" and panel.run_button.isEnabled()


def _noised(t_index: int = 299):
    schedule = make_schedule("linear", 1000)
    x0 = np.zeros((1, 28, 28), np.float32)
    x0[:, 8:20, 10:18] = 0.8
    eps = np.random.default_rng(1).standard_normal(x0.shape, dtype=np.float32)
    return schedule, x0, fwd.q_sample(x0, schedule, t_index, eps)


def test_denoise_from_an_x_t_alone_repeats_it_and_says_why_rows_agree(qtbot, panel, context,
                                                                      tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    panel.steps_spin.setValue(50)
    panel.batch_spin.setValue(3)
    schedule, _x0, x_t = _noised()
    with qtbot.waitSignal(panel.run_completed, timeout=20000) as blocker:
        context.denoise_requested.emit(x_t, 299)
    r = blocker.args[0]
    n_expected = int(np.sum(make_sampler("ddim", schedule, n_steps=50).timesteps <= 299))
    assert r.xs.shape[0] == n_expected + 1
    np.testing.assert_array_equal(r.xs[0], np.repeat(x_t[None], 3, axis=0))
    expected = expected_final(tiny_denoiser, "ddim", 50, 0, 3,
                              x_start=np.repeat(x_t[None], 3, axis=0), start_index=299)
    np.testing.assert_allclose(r.final, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(r.final[0], r.final[2])  # deterministic from one x_t
    assert "same x_t" in panel.info_label.text() and "deterministic" in panel.info_label.text()


def test_denoise_from_x0_draws_a_different_x_t_for_every_row(qtbot, panel, context,
                                                             tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    panel.steps_spin.setValue(50)
    panel.batch_spin.setValue(16)
    panel.seed_spin.setValue(4)
    schedule, x0, x_t = _noised()
    with qtbot.waitSignal(panel.run_completed, timeout=20000) as blocker:
        context.denoise_requested.emit(DenoiseRequest(x_t, 299, x0=x0), 299)
    r = blocker.args[0]
    # row i starts from x_t^(i) = q(x_t | x_0) with eps_i = image i's x_T of the seeding rule
    expected_start = fwd.q_sample(np.repeat(x0[None], 16, axis=0), schedule, 299,
                                  rule_noise(4, 16))
    np.testing.assert_allclose(r.xs[0], expected_start, rtol=1e-6, atol=1e-6)
    flat = r.final.reshape(16, -1)
    gaps = np.abs(flat[:, None] - flat[None]).max(axis=2)
    assert gaps[~np.eye(16, dtype=bool)].min() > 1e-2  # DDIM η = 0, yet 16 different images
    expected = expected_final(tiny_denoiser, "ddim", 50, 4, 16, x_start=expected_start,
                              start_index=299)
    np.testing.assert_allclose(r.final, expected, rtol=1e-5, atol=1e-5)
    assert "q(x_t | x₀)" in panel.info_label.text()


def test_denoise_from_here_rejects_a_wrong_shape(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    with qtbot.waitSignal(context.error_raised) as blocker:
        context.denoise_requested.emit(np.zeros((3, 40, 40), np.float32), 10)
    assert "expects" in blocker.args[1]
    assert not panel.is_busy()


def test_clicking_pixels_plots_their_trajectories(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    r = run_and_wait(qtbot, panel, steps=8, batch=4)
    view = panel.trajectory
    assert view.plots.isVisible() and not view.pixel_plot.isVisible()  # empty: hidden
    # a real mouse click on tile 3 (bottom right of the 2x2 mosaic), pixel (row 5, col 9)
    scene_pos = view.board.item(0).mapToScene(29 + 9 + 0.5, 29 + 5 + 0.5)
    view_pos = view.board.mapFromScene(scene_pos)
    qtbot.mouseClick(view.board.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(view_pos.x(), view_pos.y()))
    assert panel.state.pixels == ((3, 5, 9),)
    assert view.pixel_plot.isVisible() and view.clear_pixels_button.isEnabled()
    xs, ys = view.probes.curves[0].getData()
    np.testing.assert_array_equal(ys, r.xs[:, 3, :, 5, 9].mean(axis=1))
    np.testing.assert_array_equal(xs, np.arange(9))
    panel.add_pixel(0, 1, 1)
    curves = view.probes.curves
    assert len(curves) == 2
    assert curves[0].opts["pen"].color() != curves[1].opts["pen"].color()
    np.testing.assert_array_equal(panel.pixel_trajectory(1), r.xs[:, 0, 0, 1, 1])
    panel.clear_pixels()
    assert view.probes.curves == [] and not view.pixel_plot.isVisible()


def test_sampler_race_uses_the_same_noise(qtbot, panel, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    panel.race_edit.setText("ddim:6, dpm++2m:4")
    panel.race_edit.textEdited.emit(panel.race_edit.text())
    panel.race_batch.setValue(2)
    panel.seed_spin.setValue(5)
    with qtbot.waitSignal(panel.race_finished, timeout=20000) as blocker:
        qtbot.mouseClick(panel.race_button, Qt.MouseButton.LeftButton)
    r = blocker.args[0]
    assert panel.state.race_result is r and r.nfe == [6, 4]
    for final, (name, steps) in zip(r.finals, [("ddim", 6), ("dpm++2m", 4)], strict=True):
        np.testing.assert_allclose(final, expected_final(tiny_denoiser, name, steps, 5, 2),
                                   rtol=1e-5, atol=1e-5)
    board = panel.race.board
    assert board.count() == 2 and "NFE 4" in board.title(1)
    np.testing.assert_array_equal(board.item(0).image, to_display(mosaic(r.finals[0], 2)))


def test_race_spec_and_its_errors():
    assert parse_race_spec("ddim:10, dpm++2m") == [("ddim", 10), ("dpm++2m", None)]
    for bad in ("euler:10", "ddim:x", "ddim:0", " , "):
        with pytest.raises(ValueError):
            parse_race_spec(bad)


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
    panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData("dpm++2m"))
    panel.steps_spin.setValue(17)
    panel.seed_spin.setValue(99)
    panel.add_pixel(2, 3, 4)
    state = panel.state_dict()
    assert state["sampler"] == "dpm++2m" and state["steps"] == 17 and state["seed"] == 99
    other = SamplingPanel(context)
    qtbot.addWidget(other)
    try:
        other.load_state(state)
        assert other.state_dict() == state
        assert other.steps_spin.value() == 17 and other.sampler_combo.currentData() == "dpm++2m"
        assert other.state == SamplingState.from_dict(state)
    finally:
        other.shutdown()


@pytest.mark.parametrize("field, value, words", [
    ("sampler", "euler", "sampling.sampler"),
    ("steps", 0, "sampling.steps"),
    ("steps", 2.5, "sampling.steps"),
    ("eta", 1.5, "sampling.eta"),
    ("clip", "yes", "sampling.clip"),
    ("race", "ddim:x", "sampling.race"),
    ("pixels", [[1, 2]], "sampling.pixels[0]"),
    ("seed", -1, "sampling.seed"),
])
def test_a_bad_session_state_is_rejected_whole(panel, field, value, words):
    panel.steps_spin.setValue(33)
    before = panel.state_dict()
    bad = {**before, "seed": 5, field: value}
    with pytest.raises(ValueError) as info:
        panel.load_state(bad)
    message = str(info.value)
    assert message.startswith(words) and "\n" not in message
    assert panel.state_dict() == before and panel.seed_spin.value() == before["seed"]


def test_the_info_line_keeps_its_height_when_a_run_ends(qtbot, panel, context, tiny_denoiser):
    """A longer status text must not re-lay out the panel (that repaint stalled the GUI)."""
    context.set_image_model(tiny_denoiser)
    panel.resize(520, 650)  # narrow: the "Done" text wraps onto more lines than the first one
    qtbot.wait(50)
    before = panel.info_label.height()
    run_and_wait(qtbot, panel, steps=5, batch=4)
    text = panel.info_label.text()
    assert text.startswith("Done:") and len(text) > 80
    assert panel.info_label.height() == before
    assert panel.info_label.toolTip() == text
    assert not panel.info_label.hasHeightForWidth()  # a dock's scroll area keeps its height


@pytest.mark.parametrize("size, least_scale", [((1280, 760), 3.0), ((630, 600), 2.4)])
def test_the_images_are_large_and_everything_is_inside(qtbot, panel, context, tiny_denoiser,
                                                       size, least_scale):
    context.set_image_model(tiny_denoiser)
    panel.resize(*size)
    run_and_wait(qtbot, panel, steps=4, batch=16)
    qtbot.wait(50)
    board = panel.trajectory.board
    item = board.item(1)  # the predicted x0 mosaic, right of x_t: both wholly visible
    rect = item.mapRectToScene(item.boundingRect())
    shown = board.mapFromScene(rect).boundingRect()
    assert board.viewport().rect().contains(shown)
    scale = shown.width() / item.image.shape[1]
    assert scale >= least_scale, scale
    for w in (panel.info_label, panel.trajectory.norm_plot, panel.timeline):
        bottom = w.mapTo(panel, w.rect().bottomRight()).y()
        assert w.isVisible() and bottom <= panel.height(), w
