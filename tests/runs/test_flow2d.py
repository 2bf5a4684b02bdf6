"""Flow-matching runs on 2-D points with exact fields: samples match the data, flow matching
and the VP probability-flow ODE make the same map, a network seen through the Denoiser seam
gives the same run as the field it computes, and cancellation hands back a partial result."""

import numpy as np
import pytest

from diffview.core.flow import flow_velocity
from diffview.core.mixtures import sliced_wasserstein
from diffview.core.toy2d import toy_mixture
from diffview.engine.metadata import ModelInfo
from diffview.runs.base import CancelToken, run_to_end
from diffview.runs.flow2d import (
    ArrowSpec,
    CompareSpec,
    FlowFrame,
    FlowSampleSpec,
    MeshSpec,
    NfeSweepSpec,
    mesh_lines,
    model_velocity,
    run_flow_sample,
    run_flow_vs_diffusion,
    run_mesh_transport,
    run_nfe_sweep,
    run_velocity_arrows,
    sample_flow_model,
)


class ExactVelocityModel:
    """A Denoiser whose raw output is the exact velocity (what a perfect network returns)."""

    provider = "analytic"

    def __init__(self, name="moons", prediction="velocity"):
        self.mix = toy_mixture(name)
        self.info = ModelInfo(kind="points", sample_shape=(2,), time_kind="continuous",
                              sde=None, prediction=prediction, value_range=(-4.0, 4.0),
                              T=1000) if prediction == "velocity" else ModelInfo(
            kind="points", sample_shape=(2,), time_kind="continuous",
            sde={"name": "vp", "beta_min": 0.1, "beta_max": 20.0, "T": 1.0})
        self.calls = 0

    def predict_eps(self, x, t):
        self.calls += 1
        assert x.dtype == np.float32 and t.dtype == np.float32 and t.shape == (len(x),)
        return flow_velocity(self.mix, x, t.astype(np.float64)).astype(np.float32)


def _null(name, n, seed=11):
    mix = toy_mixture(name)
    rng = np.random.default_rng(seed)
    return max(sliced_wasserstein(mix.sample(n, rng), mix.sample(n, rng), rng, p=1)
               for _ in range(3))


def _frames(run):
    frames = []
    result = run_to_end(run, frames.append)
    return frames, result


def test_exact_flow_samples_match_the_data_and_frames_are_consistent():
    spec = FlowSampleSpec(dataset="moons", n=2000, seed=3, method="heun", n_steps=10)
    frames, result = _frames(run_flow_sample(spec))
    assert [f.step for f in frames] == list(range(1, 11))
    assert all(isinstance(f, FlowFrame) and f.total == 10 for f in frames)
    assert [f.nfe for f in frames] == [2 * k for k in range(1, 11)] and result.nfe == 20
    np.testing.assert_allclose(result.times, np.linspace(1, 0, 11))
    assert result.path.shape == (11, 2000, 2) and not result.cancelled
    np.testing.assert_array_equal(result.points, frames[-1].points)
    ref = toy_mixture("moons").sample(2000, np.random.default_rng(99))
    sw = sliced_wasserstein(result.points, ref, np.random.default_rng(5), p=1)
    assert sw < 1.5 * _null("moons", 2000)
    assert result.straightness > 1.0
    # the seed alone decides the run
    again = run_to_end(run_flow_sample(spec))
    np.testing.assert_array_equal(again.points, result.points)


def test_a_velocity_network_through_the_denoiser_seam_gives_the_exact_run():
    spec = FlowSampleSpec(dataset="moons", n=300, seed=1, method="rk4", n_steps=5)
    model = ExactVelocityModel()
    learned = run_to_end(run_flow_sample(spec, model))
    exact = run_to_end(run_flow_sample(spec))
    assert model.calls == 20
    np.testing.assert_allclose(learned.points, exact.points, atol=1e-4)
    np.testing.assert_allclose(sample_flow_model(model, 300, seed=1, n_steps=5),
                               exact.points, atol=1e-4)


def test_an_eps_model_is_refused_with_a_message():
    with pytest.raises(ValueError, match="not a flow-matching velocity"):
        model_velocity(ExactVelocityModel(prediction="eps"))
    with pytest.raises(ValueError, match="diffusion sampler"):
        sample_flow_model(ExactVelocityModel(), 10, sampler="ddim")


def test_cancel_returns_the_steps_done():
    token = CancelToken()
    run = run_flow_sample(FlowSampleSpec(n=50, n_steps=10, method="euler"), token=token)
    seen = 0
    try:
        while True:
            next(run)
            seen += 1
            if seen == 3:
                token.cancel()
    except StopIteration as stop:
        result = stop.value
    assert result.cancelled and result.path.shape == (4, 50, 2) and result.nfe == 3
    np.testing.assert_allclose(result.times, np.linspace(1, 0, 11)[:4])


def test_flow_matching_and_vp_probability_flow_make_the_same_map():
    spec = CompareSpec(dataset="8gaussians", n=1500, seed=2, method="rk4", n_steps=40)
    frames, r = _frames(run_flow_vs_diffusion(spec))
    assert len(frames) == 40 and frames[-1].nfe == 160 == r.nfe
    np.testing.assert_array_equal(r.vp_path[0], r.fm_path[0])  # the same starting noise
    assert r.vp_times[0] == 1.0 and r.vp_times[-1] == pytest.approx(spec.vp_t_end)
    assert r.fm_times[-1] == 0.0
    # The two ODEs differ only in the path (core.flow's docstring), so the end points agree
    # up to the VP prior (m(1) = 0.007 of the data left out) and its t_end.
    diff = np.linalg.norm(r.vp_path[-1] - r.fm_path[-1], axis=1)
    assert np.median(diff) < 0.02 and np.mean(diff) < 0.05
    # ... while in the middle the VP cloud is scaled by m + s (up to 1.41)
    mid = 20
    ratio = np.linalg.norm(r.vp_path[mid]) / np.linalg.norm(r.fm_path[mid])
    assert abs(ratio - 1.0) > 0.05
    assert r.vp_sw < 1.5 * r.null_sw and r.fm_sw < 1.5 * r.null_sw
    assert r.vp_straightness >= 1.0 and r.fm_straightness >= 1.0


def test_nfe_sweep_error_falls_to_the_sampling_floor():
    spec = NfeSweepSpec(dataset="moons", n=1500, seed=4, method="heun", nfes=(2, 8, 32))
    frames, r = _frames(run_nfe_sweep(spec))
    assert [(f.process, f.nfe) for f in frames] == [
        ("vp", 2), ("vp", 8), ("vp", 32), ("fm", 2), ("fm", 8), ("fm", 32)]
    assert r.sw.shape == (2, 3) and np.all(np.isfinite(r.sw))
    for row in r.sw:
        assert row[0] > 3 * r.null_sw  # one Heun step is far off
        assert row[-1] < 1.5 * r.null_sw
    with pytest.raises(ValueError, match="nfe"):
        NfeSweepSpec(method="rk4", nfes=(2,))


def test_mesh_transport_moves_the_grid_with_the_flow():
    spec = MeshSpec(dataset="moons", lines=5, points_per_line=21, extent=2.0, n_steps=8)
    frames, r = _frames(run_mesh_transport(spec))
    grid = mesh_lines(5, 21, 2.0)
    assert grid.shape == (10, 21, 2)
    np.testing.assert_array_equal(grid[0, :, 1], -2.0)   # the first horizontal line
    np.testing.assert_array_equal(grid[5, :, 0], -2.0)   # the first vertical line
    assert r.lines.shape == (9, 10, 21, 2) and len(frames) == 8
    np.testing.assert_array_equal(r.lines[0], grid)
    # every vertex is a particle of the flow: the same as sampling from those points
    pts = grid.reshape(-1, 2)
    sample = run_to_end(run_flow_sample(
        FlowSampleSpec(dataset="moons", n=len(pts), n_steps=8, method="rk4"), noise=pts))
    np.testing.assert_allclose(r.lines[-1].reshape(-1, 2), sample.points, atol=1e-12)
    vp = run_to_end(run_mesh_transport(MeshSpec(dataset="moons", process="vp", lines=5,
                                                points_per_line=21, extent=2.0, n_steps=40)))
    fm = run_to_end(run_mesh_transport(MeshSpec(dataset="moons", lines=5, points_per_line=21,
                                                extent=2.0, n_steps=40)))
    gap = np.linalg.norm(vp.lines[-1] - fm.lines[-1], axis=-1)
    assert np.median(gap) < 0.03


def test_velocity_arrows_at_the_ends():
    spec = ArrowSpec(dataset="8gaussians", times=(0.0, 0.5, 1.0), grid=7, extent=3.0)
    frames, r = _frames(run_velocity_arrows(spec))
    assert r.velocities.shape == (3, 49, 2) and len(frames) == 3
    pos = r.positions
    np.testing.assert_allclose(pos[:7, 1], -3.0)  # first row, x varying fastest
    np.testing.assert_allclose(r.velocities[0], -pos, atol=1e-12)
    np.testing.assert_allclose(r.velocities[2], pos - toy_mixture("8gaussians").mean(),
                               atol=1e-12)


@pytest.mark.parametrize(("cls", "kw", "match"), [
    (FlowSampleSpec, {"n": 0}, "n must"),
    (FlowSampleSpec, {"method": "midpoint"}, "method"),
    (FlowSampleSpec, {"t_start": 0.2, "t_end": 0.5}, "t_end"),
    (FlowSampleSpec, {"n_steps": 0}, "n_steps"),
    (CompareSpec, {"vp_t_end": 1.0}, "vp_t_end"),
    (MeshSpec, {"process": "ve"}, "process"),
    (ArrowSpec, {"times": (1.5,)}, "times"),
])
def test_specs_refuse_bad_values(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        cls(**kw)


def test_an_exact_field_needs_a_toy_set():
    with pytest.raises(ValueError, match="dataset must be one of"):
        run_to_end(run_flow_sample(FlowSampleSpec(dataset="my_drawing", n=5)))


def _bundled(suffix):
    from diffview.paths import resource

    return resource("models", f"toy2d_fm_moons{suffix}.onnx")


@pytest.mark.skipif(not all(_bundled(s).exists() for s in ("", "_ot", "_reflow")),
                    reason="the bundled flow-matching models are missing")
def test_bundled_flow_models_ot_and_reflow_paths_are_straighter():
    # Measured on the shipped models (deterministic): OT pairs and one reflow round straighten
    # the learned flow, and the reflow model gets the data in one Euler step.
    from diffview.engine import OnnxDenoiser

    spec = FlowSampleSpec(dataset="moons", n=500, seed=0, method="euler", n_steps=50)
    models = {k: OnnxDenoiser(_bundled(s), device="cpu")
              for k, s in (("independent", ""), ("ot", "_ot"), ("reflow", "_reflow"))}
    assert all(m.info.prediction == "velocity" for m in models.values())
    st = {k: run_to_end(run_flow_sample(spec, m)).straightness for k, m in models.items()}
    exact = run_to_end(run_flow_sample(spec)).straightness
    assert abs(st["independent"] - exact) < 0.1  # the learned field follows the exact one
    assert st["ot"] < st["independent"] - 0.2
    assert st["reflow"] < 1.05
    one = FlowSampleSpec(dataset="moons", n=2000, seed=0, method="euler", n_steps=1)
    ref = toy_mixture("moons").sample(2000, np.random.default_rng(99))
    sw_reflow = sliced_wasserstein(run_to_end(run_flow_sample(one, models["reflow"])).points,
                                   ref, np.random.default_rng(5), p=1)
    sw_ind = sliced_wasserstein(run_to_end(run_flow_sample(one, models["independent"])).points,
                                ref, np.random.default_rng(5), p=1)
    assert sw_reflow < 2 * _null("moons", 2000) < sw_ind
