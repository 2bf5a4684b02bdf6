"""Training on a point array: PointCloud sampling and points_training_data."""

from __future__ import annotations

import numpy as np
import pytest

from diffview.training.data import TrainingDataError, points_training_data
from diffview.training.toy import PointCloud, sample_points


def test_without_jitter_batches_are_rows_of_the_array():
    pts = np.array([[0.0, 1.0], [2.0, -3.0], [5.0, 5.0]])
    x = sample_points(PointCloud(pts), 3000, np.random.default_rng(0))
    assert x.dtype == np.float32 and x.shape == (3000, 2)
    rows, counts = np.unique(x, axis=0, return_counts=True)
    np.testing.assert_array_equal(rows, pts.astype(np.float32))   # already in row order
    # uniform over the rows: each count ~ Binomial(3000, 1/3), sd ~ 26
    assert np.all(np.abs(counts - 1000) < 130)


def test_jitter_makes_it_a_sample_of_the_kernel_density():
    """Rows at (+-1, 0) with jitter s: mean 0, var_x = 1 + s^2, var_y = s^2, cov 0."""
    s = 0.3
    cloud = PointCloud(np.array([[-1.0, 0.0], [1.0, 0.0]]), jitter=s)
    x = cloud.sample(200_000, np.random.default_rng(1)).astype(np.float64)
    # standard errors at n = 2e5: mean ~0.0024, variances ~0.004 and ~0.0003
    np.testing.assert_allclose(x.mean(axis=0), [0.0, 0.0], atol=0.012)
    cov = np.cov(x.T)
    np.testing.assert_allclose(cov, [[1 + s * s, 0.0], [0.0, s * s]], atol=0.015)


def test_points_training_data_describes_the_cloud():
    data = points_training_data(np.zeros((4, 2)), jitter=0.1, name="points:drawing")
    assert data.kind == "points" and data.sample_shape == (2,)
    assert data.dataset == "points:drawing" and data.images is None
    assert isinstance(data.toy, PointCloud) and data.toy.jitter == pytest.approx(0.1)


@pytest.mark.parametrize(("points", "jitter", "words"), [
    (np.zeros(5), 0.0, "(N, d)"),
    (np.zeros((0, 2)), 0.0, "N >= 1"),
    (np.array([[0.0, np.nan]]), 0.0, "NaN"),
    (np.zeros((3, 2)), -0.5, "jitter"),
    (np.zeros((3, 2)), float("inf"), "jitter"),
])
def test_bad_point_arrays_are_refused_with_a_reason(points, jitter, words):
    with pytest.raises(TrainingDataError, match=words.replace("(", r"\(").replace(")", r"\)")):
        points_training_data(points, jitter=jitter)


def test_train_uses_the_points():
    """A few hundred steps of a tiny MLP on a cloud far from the origin: the EMA preview
    (probability-flow samples from N(0, I)) moves onto the cloud."""
    pytest.importorskip("torch")
    from diffview.training.config import TrainConfig
    from diffview.training.loop import train

    data = points_training_data(np.array([[3.0, 3.0], [3.5, 2.5]]), jitter=0.1, name="test")
    config = TrainConfig(data="points:test", steps=300, batch_size=128, lr=1e-2, warmup=20,
                         hidden=32, layers=2, fourier=0, ema=0.9, checkpoint_every=0)
    last = list(train(config, data=data))[-1]
    assert last.done and last.preview is not None
    np.testing.assert_allclose(last.preview.mean(axis=0), [3.25, 2.75], atol=0.3)
