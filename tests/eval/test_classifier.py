"""The bundled FID feature classifier, run with onnxruntime on the bundled Fashion-MNIST samples."""

from __future__ import annotations

import numpy as np
import pytest

from diffview.core.data import bundled_samples
from diffview.eval.classifier import (
    FEATURE_DIM,
    FeatureClassifier,
    default_classifier_path,
    images_to_input,
)
from diffview.eval.fid import fid_from_features


@pytest.fixture(scope="module")
def clf():
    return FeatureClassifier()


@pytest.fixture(scope="module")
def samples():
    data = bundled_samples()
    return data.images, data.labels


def test_bundled_model_is_small_and_has_logits_and_features(clf, samples):
    assert default_classifier_path().stat().st_size < 1_000_000
    logits, feats = clf.run(samples[0][:7])
    assert logits.shape == (7, 10) and feats.shape == (7, FEATURE_DIM)
    assert logits.dtype == np.float32 and np.isfinite(feats).all()


def test_classifies_real_test_images(clf, samples):
    images, labels = samples
    assert (clf.predict(images) == labels).mean() > 0.85


def test_batching_does_not_change_the_features(samples):
    images = samples[0][:50]
    a = FeatureClassifier(batch=7).features(images)
    b = FeatureClassifier(batch=50).features(images)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_real_vs_real_is_closer_than_real_vs_noise(clf, samples):
    images = samples[0]
    half = len(images) // 2
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, images[:half].shape, dtype=np.uint8)
    blank = np.zeros_like(images[:half])
    real_a, real_b = clf.features(images[:half]), clf.features(images[half:2 * half])
    real_real = fid_from_features(real_a, real_b)
    assert real_real < 0.5 * fid_from_features(real_a, clf.features(noise))
    assert real_real < 0.5 * fid_from_features(real_a, clf.features(blank + rng.integers(
        0, 8, blank.shape, dtype=np.uint8)))


@pytest.mark.parametrize("bad", [np.zeros((2, 28, 28), np.float32),
                                 np.zeros((2, 32, 32), np.uint8),
                                 np.zeros((2, 3, 28, 28), np.uint8)])
def test_rejects_wrong_images(bad):
    with pytest.raises(ValueError):
        images_to_input(bad)


def test_input_mapping_matches_the_model_range():
    x = images_to_input(np.array([[[0, 255] + [0] * 26] * 28], np.uint8))
    assert x.shape == (1, 1, 28, 28) and x[0, 0, 0, 0] == -1.0 and x[0, 0, 0, 1] == 1.0


def test_missing_model_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        FeatureClassifier(tmp_path / "nope.onnx")
