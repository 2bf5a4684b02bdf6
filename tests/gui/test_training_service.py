"""The training service: a 2-D request trains in a real child process and hands back a model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

CHILD_TIMEOUT_MS = 240_000  # the child imports torch: many seconds on a loaded 2-core machine


@pytest.fixture
def context(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFVIEW_DATA_DIR", str(tmp_path / "data"))
    from diffview.gui.context import AppContext

    ctx = AppContext()
    yield ctx
    ctx.training.shutdown()
    ctx.jobs.shutdown()


def test_points_request_trains_in_a_child_and_lands_in_the_models_folder(qtbot, context,
                                                                          tmp_path):
    from diffview.gui.training import TrainRequest

    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(-2.0, 0.2, (200, 2)), rng.normal(2.0, 0.2, (200, 2))])
    progress, finished, failed, shown = [], [], [], []
    context.jobs.job_progress.connect(lambda name, s, t: shown.append((name, s, t)))
    request = TrainRequest(data="", points=points.astype(np.float32), jitter=0.05,
                           name="two blobs", steps=40,
                           options={"hidden": 32, "layers": 2, "fourier": 0, "batch": 64,
                                    "warmup": 5})
    run = context.training.start(request, name="Train 2-D network",
                                 on_progress=progress.append, on_finished=finished.append,
                                 on_failed=failed.append)
    assert context.jobs.is_busy()
    qtbot.waitUntil(lambda: bool(finished or failed), timeout=CHILD_TIMEOUT_MS)
    assert not failed, failed
    result = finished[0]
    models = tmp_path / "data" / "models"
    assert result.path.parent == models
    assert result.path.name.startswith("two_blobs-40steps-")
    assert result.kind == "points" and result.steps == 40
    assert progress and progress[-1].step == 40 and progress[-1].total == 40
    assert np.isfinite(result.loss)
    # the status bar saw the run with its step counts, and it has ended
    assert any(name == "Train 2-D network" and t == 40 for name, s, t in shown)
    qtbot.waitUntil(lambda: not context.jobs.is_busy(), timeout=5000)
    assert not run.is_active() and not context.training.is_busy()
    # the model runs through the engine: eps for points, finite
    eps = result.model.predict_eps(np.zeros((3, 2), np.float32),
                                   np.array([0.1, 0.5, 0.9], np.float32))
    assert eps.shape == (3, 2) and np.isfinite(eps).all()
    assert (result.run_dir / "points.npz").is_file()


def test_bad_data_fails_with_one_line(qtbot, context):
    from diffview.gui.training import TrainRequest

    failed = []
    context.training.start(TrainRequest(data="toy:no_such_set", steps=5),
                           on_failed=failed.append)
    qtbot.waitUntil(lambda: bool(failed), timeout=CHILD_TIMEOUT_MS)
    assert "no_such_set" in failed[0] and "\n" not in failed[0].strip()
    assert not context.jobs.is_busy()


def test_status_bar_cancel_stops_the_child(qtbot, context):
    from diffview.gui.training import TrainRequest

    cancelled, progress = [], []
    context.training.start(TrainRequest(data="toy:moons", steps=100_000,
                                        options={"hidden": 16, "layers": 1, "fourier": 0}),
                           on_progress=progress.append, on_cancelled=cancelled.append)
    qtbot.waitUntil(lambda: bool(progress), timeout=CHILD_TIMEOUT_MS)
    context.jobs.cancel_all()
    qtbot.waitUntil(lambda: bool(cancelled), timeout=60_000)
    assert "cancelled" in cancelled[0].lower()
    assert progress[-1].step < 100_000
    assert not context.training.is_busy()


def test_trained_model_names_never_reuse_a_file(tmp_path):
    from diffview.paths import trained_model_path

    first = trained_model_path("toy:moons", 300, when=0.0, folder=tmp_path)
    first.write_bytes(b"x")
    second = trained_model_path("toy:moons", 300, when=0.0, folder=tmp_path)
    assert first.name.startswith("moons-300steps-") and first.suffix == ".onnx"
    assert second != first and second.stem.endswith("-2")
