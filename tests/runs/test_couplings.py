"""Couplings for flow matching: the minibatch OT assignment is optimal and never costs more
than the independent pairing; reflow pairs follow the flow they come from."""

import itertools

import numpy as np
import pytest

from diffview.core.flow import flow_velocity_fn
from diffview.core.mixtures import sliced_wasserstein
from diffview.core.toy2d import sample_toy, toy_mixture
from diffview.runs.base import Cancelled, CancelToken
from diffview.runs.couplings import (
    couple,
    coupling_cost,
    independent_coupling,
    ot_coupling,
    reflow_pairs,
)


@pytest.mark.parametrize("name", ["moons", "8gaussians", "checkerboard"])
def test_ot_cost_is_below_the_independent_cost_on_every_batch(name):
    rng = np.random.default_rng(0)
    gains = []
    for batch in (2, 7, 64, 256):
        for _ in range(10):
            x0 = sample_toy(name, batch, rng)
            eps = rng.standard_normal((batch, 2))
            ind = coupling_cost(*independent_coupling(x0, eps))
            ot = coupling_cost(*ot_coupling(x0, eps))
            assert ot <= ind + 1e-12
            gains.append(ind - ot)
    # and it is a real improvement, not a tie, on batches of more than a few points
    assert np.median(gains) > 0.1


def test_ot_is_a_permutation_of_the_noise_and_optimal():
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((6, 2)) * 2
    eps = rng.standard_normal((6, 2))
    a, b = ot_coupling(x0, eps)
    np.testing.assert_array_equal(a, x0)  # the data keep their order
    assert sorted(map(tuple, b)) == sorted(map(tuple, eps))
    brute = min(coupling_cost(x0, eps[list(p)]) for p in itertools.permutations(range(6)))
    assert coupling_cost(a, b) == pytest.approx(brute, rel=1e-12)


def test_couple_by_name_and_bad_input():
    x0 = np.zeros((4, 2))
    eps = np.ones((4, 2))
    assert couple("independent", x0, eps)[1] is eps
    with pytest.raises(ValueError, match="coupling must be"):
        couple("sinkhorn", x0, eps)
    with pytest.raises(ValueError, match="same shape"):
        ot_coupling(x0, eps[:3])


def test_reflow_pairs_of_the_exact_flow_are_data_and_noise():
    mix = toy_mixture("8gaussians")
    rng = np.random.default_rng(2)
    eps = rng.standard_normal((2000, 2))
    x0, eps_out = reflow_pairs(flow_velocity_fn(mix), eps, n_steps=20)
    np.testing.assert_array_equal(eps_out, eps)
    null = sliced_wasserstein(mix.sample(2000, rng), mix.sample(2000, rng), rng, p=1)
    assert sliced_wasserstein(x0, mix.sample(2000, rng), rng, p=1) < 2 * null + 0.02
    # a deterministic map: the same noise gives the same pairs
    np.testing.assert_array_equal(reflow_pairs(flow_velocity_fn(mix), eps, n_steps=20)[0], x0)


def test_reflow_pairs_cancel():
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        reflow_pairs(lambda x, t: -x, np.zeros((3, 2)), n_steps=4, token=token)
