"""The manifold map (PCA of the training images and of classifier features) and paths on it."""

from __future__ import annotations

import numpy as np
import pytest

from diffview.core.pca import fit_pca
from diffview.core.schedules import make_schedule
from diffview.eval.classifier import FeatureClassifier, default_classifier_path
from diffview.runs.base import run_to_end
from diffview.runs.manifold import ManifoldSpec, forward_path, run_manifold_map, run_path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFVIEW_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def classifier():
    if not default_classifier_path().is_file():
        pytest.skip("the bundled classifier is not in this checkout")
    return FeatureClassifier()


def test_the_map_is_the_pca_of_the_images_and_is_cached(cache, classifier):
    spec = ManifoldSpec(limit=150)
    frames = []
    m = run_to_end(run_manifold_map(spec, classifier), frames.append)
    assert not m.from_cache and len(list(cache.glob("manifold-*.npz"))) == 1
    x = m.images.reshape(len(m.images), -1) / 127.5 - 1.0
    want = fit_pca(x, k=2)
    np.testing.assert_allclose(m.pixel_pca.explained_variance, want.explained_variance,
                               rtol=1e-8)
    np.testing.assert_allclose(np.abs(m.pixel_xy), np.abs(want.project(x)), atol=1e-4)
    assert m.feature_xy.shape == (150, 2)
    assert any(f.stage == "classifier features" for f in frames)
    again = run_to_end(run_manifold_map(spec, classifier))
    assert again.from_cache
    np.testing.assert_array_equal(again.pixel_xy, m.pixel_xy)
    np.testing.assert_array_equal(again.feature_xy, m.feature_xy)
    (next(cache.glob("manifold-*.npz"))).write_bytes(b"broken")
    rebuilt = run_to_end(run_manifold_map(spec, classifier))
    assert not rebuilt.from_cache
    np.testing.assert_allclose(rebuilt.pixel_xy, m.pixel_xy)


def test_a_forward_path_leaves_the_data(cache, classifier):
    m = run_to_end(run_manifold_map(ManifoldSpec(limit=200), classifier))
    x0 = m.images[7] / np.float32(127.5) - 1
    schedule = make_schedule("linear", 1000)
    noise = np.random.default_rng(0).standard_normal((1, 28, 28)).astype(np.float32)
    xs, steps = forward_path(x0[None], schedule, noise, 40)
    assert steps[0] == 0 and steps[-1] == 1000
    r = run_to_end(run_path(xs, steps, m, classifier))
    assert r.dist[0] == pytest.approx(0.0, abs=1e-6)       # x0 is a training image
    assert r.dist[-1] > 0.9                                  # pure noise is far from them all
    assert np.all(r.conf >= 0.1 - 1e-9) and np.all(r.conf <= 1 + 1e-9)
    assert r.cls[0] == int(np.argmax(classifier.run(m.images[7:8])[0]))
    # the spectrum's high-frequency end rises towards the noise floor (flat, power 1)
    assert r.spec[-1, -3:].mean() > 10 * r.spec[0, -3:].mean()
    np.testing.assert_allclose(r.xy[0], m.pixel_xy[7], atol=1e-4)


def test_bad_paths_are_refused(cache):
    m = run_to_end(run_manifold_map(ManifoldSpec(limit=20, use_cache=False)))
    with pytest.raises(ValueError, match="path"):
        run_to_end(run_path(np.zeros((3, 28, 28)), np.arange(3), m))
    with pytest.raises(ValueError, match="limit"):
        run_to_end(run_manifold_map(ManifoldSpec(limit=1)))
