"""The Frechet distance against closed forms, and its invariances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diffview.eval.fid import fid_from_features, fit_gaussian, frechet_distance, sqrtm_psd


def _random_cov(rng, d, rank=None):
    a = rng.standard_normal((d, rank or d))
    return a @ a.T / d


def test_identical_gaussians_are_at_distance_zero(rng):
    mu, cov = rng.standard_normal(16), _random_cov(rng, 16)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)


def test_singular_identical_covariances_are_at_distance_zero(rng):
    # Rank 3 in 16 dimensions: the form with a general sqrtm of S1 S2 struggles here.
    mu, cov = rng.standard_normal(16), _random_cov(rng, 16, rank=3)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-7)


def test_diagonal_covariances_match_the_closed_form(rng):
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    a, b = rng.uniform(0.1, 3.0, 8), rng.uniform(0.1, 3.0, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected,
                                                                                rel=1e-10)


def test_one_dimension_is_the_w2_distance_of_normals():
    # W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2
    d = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]]))
    assert d == pytest.approx(9.0 + 1.0)


def test_commuting_covariances_match_their_eigenvalue_form(rng):
    # Same eigenvectors, different eigenvalues: the distance is that of the rotated diagonals.
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    a, b = rng.uniform(0.2, 2.0, 6), rng.uniform(0.2, 2.0, 6)
    cov1, cov2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(np.zeros(6), cov1, np.zeros(6), cov2) == pytest.approx(expected,
                                                                                   rel=1e-9)


def test_is_symmetric_and_invariant_to_feature_permutation(rng):
    mu1, mu2 = rng.standard_normal(12), rng.standard_normal(12)
    cov1, cov2 = _random_cov(rng, 12), _random_cov(rng, 12, rank=5)
    d = frechet_distance(mu1, cov1, mu2, cov2)
    assert d > 0.1
    assert frechet_distance(mu2, cov2, mu1, cov1) == pytest.approx(d, rel=1e-8)
    p = rng.permutation(12)
    assert frechet_distance(mu1[p], cov1[np.ix_(p, p)], mu2[p], cov2[np.ix_(p, p)]) == \
        pytest.approx(d, rel=1e-8)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 10))
def test_symmetric_nonnegative_and_rotation_invariant(seed, d):
    rng = np.random.default_rng(seed)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    cov1, cov2 = _random_cov(rng, d), _random_cov(rng, d)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    value = frechet_distance(mu1, cov1, mu2, cov2)
    assert value >= 0.0
    assert frechet_distance(mu2, cov2, mu1, cov1) == pytest.approx(value, rel=1e-6, abs=1e-9)
    rotated = frechet_distance(q @ mu1, q @ cov1 @ q.T, q @ mu2, q @ cov2 @ q.T)
    assert rotated == pytest.approx(value, rel=1e-6, abs=1e-9)


def test_mean_shift_alone_adds_its_squared_length(rng):
    mu, cov = rng.standard_normal(5), _random_cov(rng, 5)
    shift = np.array([3.0, 0.0, -4.0, 0.0, 0.0])
    assert frechet_distance(mu, cov, mu + shift, cov) == pytest.approx(25.0, rel=1e-8)


def test_sqrtm_psd_squares_back_and_ignores_rounding_negatives(rng):
    cov = _random_cov(rng, 7, rank=4)
    root = sqrtm_psd(cov)
    np.testing.assert_allclose(root @ root, cov, atol=1e-10)
    np.testing.assert_allclose(root, root.T)
    assert np.isfinite(sqrtm_psd(np.diag([1.0, -1e-15]))).all()


def test_fit_gaussian_and_fid_from_features(rng):
    f = rng.standard_normal((500, 3)) * [1.0, 2.0, 3.0] + [0.0, 1.0, 0.0]
    mu, cov = fit_gaussian(f)
    np.testing.assert_allclose(mu, f.mean(0))
    np.testing.assert_allclose(cov, np.cov(f.T))
    g = rng.standard_normal((500, 3)) * [1.0, 2.0, 3.0] + [0.0, 1.0, 0.0]
    near, far = fid_from_features(f, g), fid_from_features(f, g + 2.0)
    assert near < 0.2 < 10.0 < far


@pytest.mark.parametrize("bad", [
    dict(mu2=np.zeros(4)),
    dict(cov2=np.eye(4)),
    dict(mu1=np.full(3, np.nan)),
])
def test_bad_inputs_raise(bad):
    args = dict(mu1=np.zeros(3), cov1=np.eye(3), mu2=np.zeros(3), cov2=np.eye(3))
    args.update(bad)
    with pytest.raises(ValueError):
        frechet_distance(**args)
    with pytest.raises(ValueError):
        fit_gaussian(np.zeros((1, 3)))
