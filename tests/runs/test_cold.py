"""Cold-diffusion runs: restoration, Algorithm 1 against 2, hot against cold, generation, and
``diffview sample`` on a restoration model.

The restoration "models" here are exact: an oracle that returns the true x_0, or the true x_0
plus a known error e. With the blur (linear in the image, D(x, s) = A_s x) Algorithm 2 then ends
at x_0 + (I - A_t) e and Algorithm 1 at x_0 + e (derived in tests/core/test_cold.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from diffview.cli import run_cli
from diffview.core.cold import ColdDegradation, fit_cold_start
from diffview.core.data import bundled_samples, to_model_range
from diffview.core.forward import blur, q_sample
from diffview.core.schedules import make_schedule
from diffview.engine.metadata import ModelInfo
from diffview.runs.base import CancelToken, run_to_end
from diffview.runs.cold import (
    ColdGenerationSpec,
    HotColdSpec,
    RestorationSpec,
    run_cold_generation,
    run_hot_vs_cold,
    run_restoration,
    run_side_by_side,
)
from tests.engine import onnx_models as om

X0 = to_model_range(bundled_samples().images[:4])  # (4, 1, 28, 28)
START = fit_cold_start(blur(to_model_range(bundled_samples().images), 1.0),
                       np.random.default_rng(0), n_components=2)


def _info(deg: ColdDegradation, start=None) -> ModelInfo:
    extra = {"cold_start": start.to_dict()} if start is not None else {}
    return ModelInfo(kind="image", sample_shape=(1, 28, 28), T=deg.T, prediction="x0",
                     degradation=deg.to_dict((1, 28, 28)), extra=extra)


class Restorer:
    """R(x, s) = x0 + error for the images it knows (tiled over a larger batch), or a function
    of its input; records the network indices it was called with."""

    provider = "test"

    def __init__(self, deg, x0=None, error=0.0, fn=None, start=None):
        self.info = _info(deg, start)
        self.x0, self.error, self.fn = x0, error, fn
        self.indices = []

    def predict_eps(self, x, t):
        self.indices.append(int(np.asarray(t).ravel()[0]))
        if self.fn is not None:
            return self.fn(np.asarray(x))
        reps = len(x) // len(self.x0)
        return np.concatenate([self.x0 + self.error] * reps).astype(np.float32)


class EpsOracle:
    """The exact epsilon of x_t for known x_0: eps = (x_t - sqrt(ab) x_0) / sqrt(1 - ab)."""

    provider = "test"

    def __init__(self, x0):
        self.info = ModelInfo(kind="image", sample_shape=(1, 28, 28), T=1000)
        self.sched = make_schedule("linear", 1000)
        self.x0 = x0.astype(np.float64)

    def predict_eps(self, x, t):
        i = int(np.asarray(t).ravel()[0])
        ab = self.sched.alpha_bars[i]
        return ((x - math.sqrt(ab) * self.x0) / math.sqrt(1 - ab)).astype(np.float32)


@pytest.mark.parametrize("name", ["blur", "mask", "pixelate"])
@pytest.mark.parametrize("algorithm", [1, 2])
def test_an_oracle_restores_the_original_exactly(name, algorithm):
    deg = ColdDegradation(name, 10)
    model = Restorer(deg, X0)
    order = np.random.default_rng(0).permutation(784) if name == "mask" else None
    x_t = deg.apply(X0, 7, order)
    run = run_restoration(RestorationSpec(t=7, algorithm=algorithm), model, x_t, order)
    frames = []
    result = run_to_end(run, frames.append)
    assert np.array_equal(result.final, X0)
    assert [f.s for f in frames] == [7, 6, 5, 4, 3, 2, 1] and frames[-1].step == frames[-1].total
    assert model.indices == [6, 5, 4, 3, 2, 1, 0]  # the network sees s - 1
    assert result.xs.shape == (8, 4, 1, 28, 28) and result.x0_hats.shape == (7, 4, 1, 28, 28)
    np.testing.assert_array_equal(result.xs[0], x_t)


def test_side_by_side_with_a_constant_error_ends_at_e_and_at_e_minus_blurred_e():
    deg = ColdDegradation("blur", 12)
    rng = np.random.default_rng(1)
    e = (0.05 * rng.standard_normal(X0.shape)).astype(np.float32)
    model = Restorer(deg, X0, error=e)
    t = 9
    x_t = deg.apply(X0, t)
    result = run_to_end(run_side_by_side(RestorationSpec(t=t), model, x_t, x0=X0))
    np.testing.assert_allclose(result.naive.final - X0, e, atol=1e-5)
    np.testing.assert_allclose(result.improved.final - X0, e - deg.apply(e, t), atol=1e-5)
    assert len(model.indices) == t  # one network call a step for both walks
    assert result.psnr1.shape == result.psnr2.shape == (t + 1, 4)
    want = 10 * np.log10(4 / ((e - deg.apply(e, t)).astype(np.float64) ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(result.psnr2[-1], want, atol=1e-3)


def test_cancel_mid_run_keeps_a_partial_trajectory():
    deg = ColdDegradation("blur", 10)
    token = CancelToken()
    run = run_restoration(RestorationSpec(t=10), Restorer(deg, X0), deg.apply(X0, 10),
                          token=token)
    result = run_to_end(run, lambda f: token.cancel() if f.step == 3 else None)
    assert result.cancelled and result.xs.shape[0] == 4 and result.x0_hats.shape[0] == 3


def test_a_noise_model_is_not_a_restoration_model():
    with pytest.raises(ValueError, match="is not a restoration model"):
        run_to_end(run_restoration(RestorationSpec(t=1), EpsOracle(X0), X0))


def test_hot_and_cold_restorations_are_measured_against_the_original():
    deg = ColdDegradation("blur", 20)
    e = (0.02 * np.random.default_rng(2).standard_normal(X0.shape)).astype(np.float32)
    spec = HotColdSpec(severity=0.5, hot_steps=20, seed=3)
    lanes = []
    result = run_to_end(run_hot_vs_cold(spec, EpsOracle(X0), Restorer(deg, X0, error=e), X0),
                        lambda f: lanes.append(f.lane))
    assert result.cold_step == 10 and result.hot_t_index == 499
    noise = np.stack([np.random.default_rng(np.random.SeedSequence(3, spawn_key=(i,)))
                      .standard_normal((1, 28, 28), dtype=np.float32) for i in range(4)])
    np.testing.assert_allclose(result.x_hot, q_sample(X0, make_schedule("linear", 1000), 499,
                                                      noise), atol=1e-6)
    np.testing.assert_array_equal(result.x_cold, deg.apply(X0, 10))
    assert lanes == ["hot"] * result.hot_nfe + ["cold"] * result.cold_nfe
    assert result.cold_nfe == 10 and 1 <= result.hot_nfe <= 20
    assert np.all(result.mse_hot < 1e-8)  # DDIM with the exact epsilon returns x_0
    want = ((e - deg.apply(e, 10)).astype(np.float64) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(result.mse_cold, want, rtol=1e-3)


def _identity_restorer(deg, start=START):
    return Restorer(deg, fn=lambda x: x, start=start)


def test_generation_draws_each_image_from_its_own_seed_whatever_the_batch():
    deg = ColdDegradation("blur", 6)
    a = run_to_end(run_cold_generation(ColdGenerationSpec(n=5, seed=7, batch=2),
                                       _identity_restorer(deg)))
    b = run_to_end(run_cold_generation(ColdGenerationSpec(n=5, seed=7, batch=5),
                                       _identity_restorer(deg)))
    assert a.samples.shape == (5, 1, 28, 28) and a.nfe == 6
    np.testing.assert_allclose(a.samples, b.samples, atol=1e-6)
    rng = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(3,)))
    np.testing.assert_allclose(a.starts[3], START.sample(1, rng, 0.002)[0], atol=1e-7)
    assert "principal coordinates" in a.fitted_to


def test_a_mask_model_cannot_generate():
    model = _identity_restorer(ColdDegradation("mask", 6), start=None)
    with pytest.raises(ValueError, match="every fully masked image is the same constant"):
        run_to_end(run_cold_generation(ColdGenerationSpec(n=2), model))


def _onnx_restorer(tmp_path, deg, start):
    """A real ONNX file with restoration metadata; its network is x + t (shape tests only)."""
    info = _info(deg, start)
    return om.save(om.eps_model(sample_dims=("B", 1, 28, 28), scale=1.0, info=info),
                   tmp_path / f"cold_{deg.name}.onnx")


@pytest.mark.parametrize("algorithm", ["1", "2"])
def test_sample_cli_writes_uint8_images_for_a_cold_model(tmp_path, algorithm, capsys):
    path = _onnx_restorer(tmp_path, ColdDegradation("blur", 5), START)
    npy, png = tmp_path / "s.npy", tmp_path / "g.png"
    code = run_cli(["sample", "--model", str(path), "--n", "7", "--batch", "3", "--out",
                    str(png), "--npy", str(npy), "--cold-algorithm", algorithm, "--quiet"])
    assert code == 0
    x = np.load(npy)
    assert x.shape == (7, 28, 28) and x.dtype == np.uint8 and png.is_file()
    assert f"algorithm {algorithm}" in capsys.readouterr().out


def test_sample_cli_refuses_to_generate_from_a_mask_model(tmp_path, capsys):
    path = _onnx_restorer(tmp_path, ColdDegradation("mask", 5), None)
    code = run_cli(["sample", "--model", str(path), "--n", "2", "--out",
                    str(tmp_path / "g.png"), "--quiet"])
    assert code == 2
    assert "cannot generate" in capsys.readouterr().err
