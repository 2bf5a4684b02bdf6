"""Image grid: shows the last run, clicks ask for trajectories (a grid image re-runs exactly),
nearest neighbours are right, New batch has one row per class for a conditional model, and the
state round-trips and rejects bad sessions."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from diffview.core.data import bundled_samples, to_model_range
from diffview.gui.imaging import mosaic, to_display
from diffview.gui.panels.grid import GridPanel, GridState, nearest_neighbours
from diffview.gui.panels.grid.view import NEAREST, REAL, SAMPLES
from diffview.gui.panels.sampling import SamplingPanel
from diffview.runs.base import run_to_end
from diffview.runs.sampling import SamplingResult, run_batch


@pytest.fixture
def panel(qtbot, context):
    p = GridPanel(context)
    qtbot.addWidget(p)
    p.resize(900, 500)
    p.show()
    yield p
    p.shutdown()


def fake_result(final: np.ndarray) -> SamplingResult:
    n = 2
    xs = np.zeros((n + 1, len(final)) + final.shape[1:], np.float32)
    return SamplingResult(xs, xs.copy(), np.array([500, 0]), final, {}, "test run", 0, n)


def test_shows_the_last_run_and_click_requests_its_trajectory(qtbot, panel, context):
    final = np.random.default_rng(0).uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32)
    context.samples_changed.emit(fake_result(final))
    board = panel.board
    np.testing.assert_array_equal(board.item(SAMPLES).image, to_display(mosaic(final, 3)))
    # a real click on the fifth tile (row 1, column 1 of a 3-column mosaic)
    scene = board.item(SAMPLES).mapToScene(29 + 14, 29 + 14)
    pos = board.mapFromScene(scene)
    with qtbot.waitSignal(context.trajectory_requested) as blocker:
        qtbot.mouseClick(board.viewport(), Qt.MouseButton.LeftButton,
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
    assert not panel.board.is_shown(NEAREST)
    with qtbot.waitSignal(panel.nearest_found, timeout=10000):
        panel.nn_check.setChecked(True)
    np.testing.assert_array_equal(panel.nn_index, pick)
    np.testing.assert_array_equal(panel.displayed_nearest(), to_display(mosaic(train[pick], 2)))
    assert panel.board.is_shown(NEAREST) and "mean L2" in panel.board.title(NEAREST)


def test_nearest_uses_a_loaded_data_set(qtbot, panel, context):
    from diffview.core.data import ImageSet

    images = np.random.default_rng(2).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    context.set_dataset(ImageSet(images, None, (), "test set"))
    samples = to_model_range(images[[7, 8]])
    panel.set_samples(samples)
    with qtbot.waitSignal(panel.nearest_found, timeout=10000):
        panel.nn_check.setChecked(True)
    np.testing.assert_array_equal(panel.nn_index, [7, 8])
    np.testing.assert_allclose(panel.nn_distance, 0.0, atol=1e-6)


def test_real_images_toggle(panel):
    panel.set_samples(np.zeros((4, 1, 28, 28), np.float32))
    assert not panel.board.is_shown(REAL)
    panel.real_check.setChecked(True)
    assert panel.board.is_shown(REAL) and panel.state.real
    shown = panel.board.item(REAL).image
    assert shown.shape == (57, 57)
    assert shown.std() > 0.1  # real garments, not blank


def test_new_batch_and_its_image_re_run_exactly(qtbot, panel, context, tiny_denoiser):
    assert not panel.new_button.isEnabled()
    context.set_image_model(tiny_denoiser)
    panel.count_spin.setValue(4)
    panel.steps_spin.setValue(5)
    with qtbot.waitSignal(panel.batch_finished, timeout=20000):
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    assert panel.samples.shape == (4, 1, 28, 28) and panel.state.seed == 1001
    spec = panel.state.spec
    assert (spec.sampler, spec.n_steps, spec.seed, spec.batch) == ("ddim", 5, 1001, 4)
    np.testing.assert_array_equal(panel.samples, run_to_end(run_batch(spec, tiny_denoiser)).final)
    with qtbot.waitSignal(context.trajectory_requested) as blocker:
        panel.click_at(29 + 3, 2)
    payload = blocker.args[0]
    assert payload["index"] == 1 and payload["spec"] is spec
    # the sampling panel re-runs image 1 alone and gets the same image (seeding rule)
    sampling = SamplingPanel(context)
    qtbot.addWidget(sampling)
    try:
        with qtbot.waitSignal(sampling.run_completed, timeout=20000) as done:
            context.trajectory_requested.emit(payload)
        np.testing.assert_allclose(done.args[0].final[0], panel.samples[1], atol=1e-5)
        assert done.args[0].xs.shape == (6, 1, 1, 28, 28)  # its whole trajectory, replayable
        qtbot.wait(20)
        assert panel.samples.shape[0] == 4  # the grid keeps its batch
    finally:
        sampling.shutdown()
    # the next batch takes the next seed
    with qtbot.waitSignal(panel.batch_finished, timeout=20000):
        panel.new_batch()
    assert panel.state.spec.seed == 1002


class ClassDenoiser:
    """A class-conditional Python denoiser: eps = 0.1 x + 0.05 (label - 1)."""

    provider = "test"
    path = "classes-test-model"

    def __init__(self):
        from diffview.engine import ModelInfo

        self.info = ModelInfo(sample_shape=(1, 8, 8), schedule="linear", T=50, num_classes=3,
                              null_class=3, class_names=("a", "b", "c"))
        self.labels = []

    def predict_eps(self, x, t, labels=None):
        assert labels is not None, "a conditional model needs its labels"
        self.labels.append(np.asarray(labels).copy())
        shift = 0.05 * (np.asarray(labels, np.float32) - 1.0)[:, None, None, None]
        return (0.1 * np.asarray(x, np.float32) + shift).astype(np.float32)


def test_a_class_conditional_model_gets_one_row_per_class(qtbot, panel, context):
    model = ClassDenoiser()
    context.set_image_model(model)
    panel.count_spin.setValue(7)  # about 7 images: 2 per class, 3 rows
    panel.steps_spin.setValue(4)
    with qtbot.waitSignal(panel.batch_finished, timeout=20000):
        panel.new_batch()
    assert panel.state.spec.classes == (0, 0, 1, 1, 2, 2)
    np.testing.assert_array_equal(model.labels[0], [0, 0, 1, 1, 2, 2])
    assert panel.state.columns() == 2
    assert panel.board.item(SAMPLES).image.shape == (3 * 9 - 1, 2 * 9 - 1)
    assert "one row per class" in panel.info_label.text()


def test_state_round_trip_and_a_bad_state_changes_nothing(qtbot, panel, context):
    panel.count_spin.setValue(9)
    panel.real_check.setChecked(True)
    state = panel.state_dict()
    assert state == {"count": 9, "steps": 50, "real": True, "nearest": False, "seed": 1000}
    other = GridPanel(context)
    qtbot.addWidget(other)
    try:
        other.load_state(state)
        assert other.state_dict() == state and other.count_spin.value() == 9
    finally:
        other.shutdown()
    for bad, words in (({"count": 0}, "grid.count"), ({"real": 1}, "grid.real"),
                       ({"steps": "50"}, "grid.steps"), ([], "grid:")):
        data = {**state, **bad} if isinstance(bad, dict) else bad
        with pytest.raises(ValueError, match=words):
            panel.load_state(data)
        assert panel.state_dict() == state
    assert GridState.from_dict({}).to_dict() == GridState().to_dict()


def test_export_png(panel, tmp_path):
    panel.set_samples(np.zeros((4, 1, 28, 28), np.float32))
    out = tmp_path / "grid.png"
    assert panel.export_png(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
