"""core.guidance: the guided epsilon is exact at w = 0 and w = 1, is the [HS] combination
elsewhere, and evaluates the conditional and null rows in one network call."""

import numpy as np
import pytest

from diffview.core.guidance import combine, guided, hs_to_w, w_to_hs

NULL = 10


def _net(calls):
    """A conditional eps(x, t, y) that is not linear in y (so a wrong row pairing shows)."""
    def predict(x, t, labels):
        calls.append(x.shape[0])
        y = np.asarray(labels, np.float32).reshape((-1,) + (1,) * (x.ndim - 1))
        tt = np.broadcast_to(np.asarray(t, np.float32), (x.shape[0],))
        return (np.sin(x * (1.0 + y)) + 0.01 * tt.reshape(y.shape) * y ** 2).astype(np.float32)
    return predict


@pytest.fixture
def batch(rng):
    x = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    t = rng.integers(0, 1000, 6)
    labels = np.array([0, 1, 2, 9, 4, 4])
    return x, t, labels


def test_combine_exact_at_the_ends(rng):
    eps_c = rng.standard_normal((50, 7)).astype(np.float32) * 1e3
    eps_u = rng.standard_normal((50, 7)).astype(np.float32) * 1e-3
    assert np.array_equal(combine(eps_c, eps_u, 1.0), eps_c)
    assert np.array_equal(combine(eps_c, eps_u, 0.0), eps_u)
    assert combine(eps_c, eps_u, 3.0).dtype == np.float32


def test_guided_equals_eps_c_at_1_and_eps_u_at_0_exactly(batch):
    x, t, labels = batch
    calls = []
    predict = _net(calls)
    assert np.array_equal(guided(predict, labels, NULL, 1.0)(x, t), predict(x, t, labels))
    null = np.full(6, NULL)
    assert np.array_equal(guided(predict, labels, NULL, 0.0)(x, t), predict(x, t, null))


@pytest.mark.parametrize("w", [-0.5, 0.5, 2.0, 4.0, 7.5])
def test_guided_is_eps_u_plus_w_times_difference_in_one_call(batch, w):
    x, t, labels = batch
    calls = []
    predict = _net(calls)
    eps_c = predict(x, t, labels)
    eps_u = predict(x, t, np.full(6, NULL))
    calls.clear()
    got = guided(predict, labels, NULL, w)(x, t)
    assert calls == [12]  # one network call on the 2B rows
    np.testing.assert_allclose(got, eps_u + w * (eps_c - eps_u), rtol=1e-5, atol=1e-5)


def test_scalar_time_and_row_count_checked(batch):
    x, _, labels = batch
    calls = []
    predict = _net(calls)
    den = guided(predict, labels, NULL, 2.0)
    ref = guided(predict, labels, NULL, 2.0)(x, np.full(6, 40))
    np.testing.assert_array_equal(den(x, 40), ref)
    with pytest.raises(ValueError, match="built for 6 rows, got 3"):
        den(x[:3], 40)
    with pytest.raises(ValueError, match="finite"):
        guided(predict, labels, NULL, float("nan"))


def test_convention_conversions():
    assert w_to_hs(1.0) == 0.0 and hs_to_w(0.0) == 1.0
    assert hs_to_w(w_to_hs(4.0)) == 4.0


def test_class_schedule():
    from diffview.core.guidance import class_schedule

    assert class_schedule("balanced", 6, 3) == (0, 0, 1, 1, 2, 2)
    assert class_schedule("4", 3, 10) == (4, 4, 4)
    assert class_schedule("3,7", 4, 10) == (3, 3, 7, 7)
    r = class_schedule("random", 2000, 10, seed=1)
    assert set(r) == set(range(10)) and r == class_schedule("random", 2000, 10, seed=1)
    for text, n, needle in (("balanced", 15, "multiple of the 10 classes"),
                            ("12", 4, "class 12 is out of range 0..9"),
                            ("1,2,3", 4, "do not divide"), ("cats", 4, "must be balanced")):
        with pytest.raises(ValueError, match=needle):
            class_schedule(text, n, 10)
    with pytest.raises(ValueError, match="unconditional"):
        class_schedule("balanced", 10, 0)
