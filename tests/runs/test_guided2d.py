"""runs.guided2d: guided samples from the exact guided score differ from samples of
p(x|c)^w p(x)^(1-w) at w = 4 (Ho and Salimans 2022, fig. 2), and match at w = 1."""

import numpy as np
import pytest

from diffview.runs.base import CancelToken, run_to_end
from diffview.runs.guided2d import GuidedSpec, run_guided2d


def test_guided_points_are_not_samples_of_the_tilted_density():
    res = run_to_end(run_guided2d(GuidedSpec(dataset="two_component", w=4.0, n_points=2000,
                                             n_steps=200)))
    # The floor is two independent tilted samples of the same size; guidance at w = 4 lands
    # far outside it: pushed away from the other class and narrower than the tilted density.
    assert res.sw > 10 * res.sw_floor
    assert res.samples[:, 0].mean() < res.tilted[:, 0].mean() - 0.4
    assert res.samples[:, 0].std() < 0.8 * res.tilted[:, 0].std()
    assert np.isfinite(res.samples).all() and not res.cancelled


def test_w1_samples_the_class_distribution():
    res = run_to_end(run_guided2d(GuidedSpec(w=1.0, n_points=2000, n_steps=200)))
    assert res.sw < 2 * res.sw_floor + 0.01
    np.testing.assert_allclose(res.samples.mean(0), [-1.5, 0.0], atol=0.06)


def test_frames_and_cancel():
    token = CancelToken()
    gen = run_guided2d(GuidedSpec(n_points=100, n_steps=50, method="sde"), token)
    frames = [next(gen) for _ in range(3)]
    assert [f.step for f in frames] == [1, 2, 3] and frames[0].total == 50
    assert frames[0].x.shape == (100, 2)
    token.cancel()
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value.cancelled


@pytest.mark.parametrize("changes, needle", [({"dataset": "nope"}, "dataset must be one of"),
                                             ({"method": "pc"}, "method must be ode or sde"),
                                             ({"n_points": 0}, "n_points must be")])
def test_bad_spec(changes, needle):
    with pytest.raises(ValueError, match=needle):
        GuidedSpec(**changes)
