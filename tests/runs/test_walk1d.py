"""The 1-D walk simulation: chunking does not change the walk, and the runs stop on Cancel."""

import numpy as np
import pytest

from diffview.runs import walk1d
from diffview.runs.base import Cancelled, CancelToken, run_to_end
from diffview.runs.walk1d import Walk1D, WalkSpec, run_play, run_walk


@pytest.mark.parametrize("mode", ["lattice", "ou"])
def test_chunked_steps_give_the_same_walk(monkeypatch, mode):
    spec = WalkSpec(mode=mode, n=500, p=0.2, q=0.3, max_steps=200, seed=3)
    whole = Walk1D(spec)
    whole.advance(120)
    monkeypatch.setattr(walk1d, "CHUNK_BYTES", 8 * 500 * 7)   # 7 steps a chunk
    chunked = Walk1D(spec)
    chunked.advance(120)
    np.testing.assert_array_equal(chunked.positions, whole.positions)
    np.testing.assert_allclose(chunked.msd, whole.msd)
    assert chunked.step == whole.step == 120


def test_run_walk_reaches_the_step_and_caps_at_max_steps():
    spec = WalkSpec(n=200, max_steps=60)
    frames = []
    walk = run_to_end(run_walk(spec, 1000, frame_every=25), frames.append)
    assert walk.step == 60
    assert [f.step for f in frames] == [25, 50, 60] and frames[-1].total == 60


def test_cancel_stops_a_play_run():
    token = CancelToken()
    walk = Walk1D(WalkSpec(n=200, max_steps=5000))
    gen = run_play(walk, 5, token, fps=1000)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)
    assert walk.step == 5


@pytest.mark.parametrize("bad", [dict(n=10), dict(p=0.6), dict(mode="levy"), dict(dt=0.0),
                                 dict(max_steps=True), dict(gamma=float("nan"))])
def test_spec_refuses_out_of_range_values(bad):
    with pytest.raises(ValueError):
        WalkSpec(**bad)
