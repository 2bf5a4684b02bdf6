"""Image grid: shows the last run, clicks ask for trajectories, nearest neighbours are right."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from diffview.core.data import bundled_samples, to_model_range
from diffview.gui.imaging import mosaic
from diffview.gui.panels.forward import to_display
from diffview.gui.panels.grid import GridPanel, nearest_neighbours
from diffview.runs.sampling import SamplingResult as RunResult


@pytest.fixture
def panel(qtbot, context):
    p = GridPanel(context)
    qtbot.addWidget(p)
    p.resize(900, 500)
    p.show()
    yield p
    p.shutdown()


def fake_result(final: np.ndarray) -> RunResult:
    n = 2
    xs = np.zeros((n + 1, len(final)) + final.shape[1:], np.float32)
    return RunResult(xs, xs.copy(), np.array([500, 0]), final, {}, "test run", 0, n)


def test_shows_the_last_run_and_click_requests_its_trajectory(qtbot, panel, context):
    final = np.random.default_rng(0).uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32)
    context.samples_changed.emit(fake_result(final))
    np.testing.assert_array_equal(panel.items["samples"].image, to_display(mosaic(final, 3)))
    # a real click on the fifth tile (row 1, column 1 of a 3-column mosaic)
    scene = panel.items["samples"].mapToScene(29 + 14, 29 + 14)
    pos = panel.view.mapFromScene(scene)
    with qtbot.waitSignal(context.trajectory_requested) as blocker:
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(pos.x(), pos.y()))
    assert blocker.args[0] == {"index": 4}


def test_nearest_neighbours_finds_the_source_images(qtbot, panel):
    train = to_model_range(bundled_samples().images)
    pick = np.array([5, 77, 150, 3])
    noisy = train[pick] + 0.05 * np.random.default_rng(1).standard_normal(
        train[pick].shape).astype(np.float32)
    idx, dist = nearest_neighbours(noisy, train)
    np.testing.assert_array_equal(idx, pick)
    brute = np.sqrt(((noisy[:, None] - train[None]) ** 2).sum(axis=(2, 3, 4))).min(axis=1)
    np.testing.assert_allclose(dist, brute, rtol=1e-6)

    panel.set_samples(noisy)
    with qtbot.waitSignal(panel.nn_runner.run_finished, timeout=10000):
        panel.nn_check.setChecked(True)
    np.testing.assert_array_equal(panel.nn_index, pick)
    np.testing.assert_array_equal(panel.displayed_nearest(), to_display(mosaic(train[pick], 2)))
    assert panel.boxes["nearest"].isVisible()


def test_nearest_uses_a_loaded_data_set(qtbot, panel, context):
    from diffview.core.data import ImageSet

    images = np.random.default_rng(2).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    context.set_dataset(ImageSet(images, None, (), "test set"))
    samples = to_model_range(images[[7, 8]])
    panel.set_samples(samples)
    with qtbot.waitSignal(panel.nn_runner.run_finished, timeout=10000):
        panel.nn_check.setChecked(True)
    np.testing.assert_array_equal(panel.nn_index, [7, 8])
    np.testing.assert_allclose(panel.nn_distance, 0.0, atol=1e-6)


def test_real_images_toggle(panel):
    panel.set_samples(np.zeros((4, 1, 28, 28), np.float32))
    assert not panel.boxes["real"].isVisible()
    panel.real_check.setChecked(True)
    assert panel.boxes["real"].isVisible()
    shown = panel.items["real"].image
    assert shown.shape == (57, 57)
    assert shown.std() > 0.1  # real garments, not blank


def test_new_batch_and_its_trajectory_payload(qtbot, panel, context, tiny_denoiser):
    assert not panel.new_button.isEnabled()
    context.set_image_model(tiny_denoiser)
    panel.count_spin.setValue(4)
    panel.steps_spin.setValue(5)
    with qtbot.waitSignal(panel.sampler_runner.run_finished, timeout=20000):
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    assert panel.samples.shape == (4, 1, 28, 28)
    with qtbot.waitSignal(context.trajectory_requested) as blocker:
        panel.click_at(29 + 3, 2)
    payload = blocker.args[0]
    assert payload["index"] == 1
    np.testing.assert_array_equal(payload["x_T"], panel.initial_noise[1])


def test_export_png(panel, tmp_path):
    panel.set_samples(np.zeros((4, 1, 28, 28), np.float32))
    out = tmp_path / "grid.png"
    assert panel.export_png(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
