"""Branching a paused sampling run, and inpainting as a run."""

from __future__ import annotations

import numpy as np
import pytest

from diffview.engine import ModelInfo
from diffview.runs.base import run_to_end
from diffview.runs.branch import BranchSpec, InpaintSpec, branch_point, run_branch, run_inpaint
from diffview.runs.sampling import SamplingSpec, run_sampling


class RowwiseDenoiser:
    """eps depends on x nonlinearly, row by row (so batching cannot change a bit)."""

    def __init__(self):
        self.info = ModelInfo(kind="image", sample_shape=(1, 4, 4), schedule="linear", T=200)

    def predict_eps(self, x, t):
        x = np.asarray(x, np.float32)
        return (np.tanh(x) * np.float32(0.7)
                + np.float32(0.001) * t.astype(np.float32)[:, None, None, None])


@pytest.mark.parametrize("sampler,eta", [("ddim", 0.0), ("ddim", 0.6), ("ddpm", 0.0)])
def test_branch_zero_repeats_the_original_continuation_bit_for_bit(sampler, eta):
    model = RowwiseDenoiser()
    spec = SamplingSpec(sampler=sampler, n_steps=20 if sampler == "ddim" else None, eta=eta,
                        seed=11, batch=3, clip_x0=False)
    original = run_to_end(run_sampling(spec, model))
    step, image = 7, 2
    x, t = branch_point(original, step, image)
    got = run_to_end(run_branch(BranchSpec(sampling=spec, x=x, t_index=t, image=image, n=3),
                                model))
    n_left = original.t_indices.size - step
    assert got.t_indices.size == n_left
    np.testing.assert_array_equal(got.t_indices, original.t_indices[step:])
    np.testing.assert_array_equal(got.xs[:, 0], original.xs[step:, image])
    np.testing.assert_array_equal(got.final[0], original.final[image])
    spread = np.abs(got.final[1:] - got.final[0]).max()
    if eta == 0.0 and sampler == "ddim":
        assert spread == 0.0          # deterministic: every branch is the same
    else:
        assert spread > 1e-3          # other noise, other samples


def test_branch_refuses_bad_input():
    model = RowwiseDenoiser()
    spec = SamplingSpec(sampler="ddim", n_steps=5, batch=1)
    with pytest.raises(ValueError, match="branches"):
        run_to_end(run_branch(BranchSpec(sampling=spec, x=np.zeros((1, 4, 4)), t_index=10,
                                         n=0), model))
    with pytest.raises(ValueError, match="shape"):
        run_to_end(run_branch(BranchSpec(sampling=spec, x=np.zeros((4, 4)), t_index=10),
                              model))
    result = run_to_end(run_sampling(spec, model))
    with pytest.raises(ValueError, match="branch step"):
        branch_point(result, 5)


@pytest.mark.parametrize("method", ["replace", "repaint"])
def test_inpainting_keeps_the_known_region(method):
    model = RowwiseDenoiser()
    image = np.linspace(-1, 1, 16, dtype=np.float32).reshape(1, 4, 4)
    mask = np.zeros((4, 4), np.float32)
    mask[:, :2] = 1
    spec = InpaintSpec(sampling=SamplingSpec(sampler="ddim", n_steps=10, eta=0.5, batch=2,
                                             seed=3, clip_x0=False),
                       image=image, mask=mask, method=method, resample=2)
    frames = []
    result = run_to_end(run_inpaint(spec, model), frames.append)
    assert len(frames) == result.steps == 10
    np.testing.assert_array_equal(result.final[:, :, :, :2],
                                  np.repeat(image[None], 2, axis=0)[:, :, :, :2])
    assert np.abs(result.final[0, :, :, 2:] - result.final[1, :, :, 2:]).max() > 1e-3
    again = run_to_end(run_inpaint(spec, model))
    np.testing.assert_array_equal(again.final, result.final)   # the seeding rule
