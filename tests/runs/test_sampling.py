"""runs.sampling / runs.race / runs.generate against exact scores of Gaussian data.

The AnalyticDenoiser gives the exact epsilon of a Gaussian, so a good sampler must return the
data's moments; everything else (resuming, cancelling, keeping, racing) is checked against a
plain run of the same spec, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from diffview.core.mixtures import GaussianMixture
from diffview.engine.analytic import AnalyticDenoiser
from diffview.engine.metadata import ModelInfo
from diffview.runs.base import Cancelled, CancelToken, run_to_end
from diffview.runs.generate import generate, run_generate
from diffview.runs.race import run_race
from diffview.runs.sampling import (
    SamplingFrame,
    SamplingSpec,
    Start,
    build_sampler,
    keep_count,
    run_batch,
    run_sampling,
)
from diffview.runs.seeding import start_noise

MU = np.array([1.0, -0.5])
STD = np.array([0.5, 0.3])


def gaussian(mu=MU, std=STD) -> GaussianMixture:
    return GaussianMixture(np.array([1.0]), np.array([mu]), np.array([np.diag(np.square(std))]))


@pytest.fixture(scope="module")
def exact():
    """Exact eps of N(MU, diag(STD^2)) on a 100-step linear schedule."""
    return AnalyticDenoiser(gaussian(), T=100)


def run(spec, model, token=None, frames=None):
    return run_to_end(run_sampling(spec, model, token),
                      None if frames is None else frames.append)


def assert_moments(x, mu, std, bias=0.03):
    """Mean within 4 standard errors; std within ``bias`` (discretisation) + 4 standard errors."""
    n = len(x)
    np.testing.assert_array_less(np.abs(x.mean(0) - mu), 4 * std / np.sqrt(n))
    np.testing.assert_array_less(np.abs(x.std(0) - std), bias * std + 4 * std / np.sqrt(2 * n))


def test_ddpm_full_chain_draws_the_data_distribution(exact):
    r = run(SamplingSpec(sampler="ddpm", batch=2000, seed=1, keep=0), exact)
    assert r.nfe == 100 and r.xs.shape == (101, 0, 2) and r.final.shape == (2000, 2)
    assert_moments(r.final, MU, STD)


@pytest.mark.parametrize("sampler, steps, bias", [("ddim", 100, 0.05), ("dpm++2m", 25, 0.1)])
def test_deterministic_samplers_reach_the_data_moments(sampler, steps, bias):
    model = AnalyticDenoiser(gaussian(), T=1000)
    r = run(SamplingSpec(sampler=sampler, n_steps=steps, batch=2000, seed=2, keep=0), model)
    assert r.nfe == steps
    assert_moments(r.final, MU, STD, bias)


def test_frames_and_result_describe_the_run(exact):
    frames = []
    r = run(SamplingSpec(sampler="ddim", n_steps=10, batch=20, seed=3, eta=0.5), exact,
            frames=frames)
    assert [f.step for f in frames] == list(range(1, 11))
    assert all(isinstance(f, SamplingFrame) and f.total == 10 for f in frames)
    assert frames[-1].x.shape == (16, 2) and frames[-1].nfe == 10  # the mosaic rows only
    np.testing.assert_array_equal(frames[-1].x, r.final[:16])
    np.testing.assert_array_equal(r.t_indices, [f.t_index for f in frames])
    np.testing.assert_array_equal(r.t_indices, build_sampler(
        SamplingSpec(sampler="ddim", n_steps=10), exact.info).timesteps)
    assert r.xs.shape == r.x0s.shape == (11, 20, 2)
    np.testing.assert_array_equal(r.xs[-1], r.final)
    np.testing.assert_array_equal(r.x0s[-1], r.final)
    np.testing.assert_array_equal(r.xs[0], r.x_start)
    np.testing.assert_allclose(r.norms["‖x_t‖ rms"][-1], np.sqrt(np.mean(r.final ** 2)))
    assert "DDIM η=0.5" in r.description and "10 steps" in r.description
    assert "clipped" not in r.description  # a point model is never clipped by default
    assert not r.cancelled


def test_starting_from_step_k_runs_exactly_the_remaining_steps(exact):
    spec = SamplingSpec(sampler="ddpm", n_steps=40, batch=6, seed=4)  # stochastic: noise matters
    full = run(spec, exact)
    for k in (1, 17, 39):
        tail = run(spec.replace(start=Start(full.xs[k], int(full.t_indices[k]))), exact)
        assert tail.nfe == 40 - k
        np.testing.assert_array_equal(tail.t_indices, full.t_indices[k:])
        np.testing.assert_array_equal(tail.xs, full.xs[k:])
        np.testing.assert_array_equal(tail.final, full.final)
    # a t index between two table entries starts at the next lower entry
    ts = full.t_indices
    r = run(spec.replace(start=Start(full.xs[5][0], int(ts[5]) + 1)), exact)
    np.testing.assert_array_equal(r.t_indices, ts[5:])
    assert r.xs.shape == (36, 6, 2)
    np.testing.assert_array_equal(r.xs[0], np.repeat(full.xs[5][:1], 6, axis=0))


def test_a_given_x_T_is_the_same_run_as_its_noise(exact):
    spec = SamplingSpec(sampler="ddim", n_steps=20, eta=1.0, batch=5, seed=9)
    a = run(spec, exact)
    b = run(spec.replace(start=Start(a.x_start)), exact)
    np.testing.assert_array_equal(a.final, b.final)
    c = run(spec.replace(start=Start(a.x_start), seed=10), exact)  # other step noise
    assert not np.allclose(a.final, c.final)


def test_a_cancelled_run_returns_a_replayable_prefix(exact):
    spec = SamplingSpec(sampler="ddpm", n_steps=30, batch=4, seed=5)
    full = run(spec, exact)
    token = CancelToken()
    gen = run_sampling(spec, exact, token)
    for _ in range(12):
        next(gen)
    token.cancel()
    with pytest.raises(StopIteration) as stop:
        gen.throw(Cancelled())  # what the GUI's worker does at a yield
    part = stop.value.value
    assert part.cancelled and part.nfe == 12
    assert part.xs.shape == part.x0s.shape == (13, 4, 2)
    np.testing.assert_array_equal(part.xs, full.xs[:13])
    np.testing.assert_array_equal(part.x0s[:12], full.x0s[:12])
    np.testing.assert_array_equal(part.t_indices, full.t_indices[:12])
    np.testing.assert_array_equal(part.final, full.xs[12])
    # resumed from where it stopped, the run ends where the uncancelled one did
    rest = run(spec.replace(start=Start(part.final, int(full.t_indices[12]))), exact)
    np.testing.assert_array_equal(rest.final, full.final)


class CountingModel:
    """Exact eps that cancels ``token`` during its ``cancel_at``-th call."""

    def __init__(self, model, token, cancel_at):
        self.info, self.model, self.token, self.cancel_at = model.info, model, token, cancel_at
        self.calls = 0

    def predict_eps(self, x, t):
        self.calls += 1
        if self.calls == self.cancel_at:
            self.token.cancel()
        return self.model.predict_eps(x, t)


def test_a_cancel_inside_a_network_call_stops_before_the_next_one(exact):
    token = CancelToken()
    model = CountingModel(exact, token, cancel_at=5)
    frames = []
    r = run(SamplingSpec(sampler="ddim", n_steps=20, batch=3, seed=0), model, token, frames)
    assert r.cancelled and model.calls == 5
    assert len(frames) == 5 and r.xs.shape[0] == 6 and r.nfe == 5


def test_keep_count_and_byte_budget(exact):
    assert keep_count(100, 10, 9) == 64                       # KEEP_MAX
    assert keep_count(100, 10, 9, keep=5) == 5
    assert keep_count(100, 10, 9, budget=2 * 10 * 10 * 7) == 7
    assert keep_count(100, 10, 9, budget=100) == 0              # not even one fits
    spec = SamplingSpec(sampler="ddim", n_steps=10, batch=40, seed=1)
    budget = 2 * 8 * 11 * 13 + 5  # bytes for 13 trajectories of a (2,) float32 sample
    r = run(spec.replace(keep_bytes=budget), exact)
    assert r.xs.shape[1] == 13 and r.xs.nbytes + r.x0s.nbytes <= budget
    assert r.final.shape == (40, 2)
    np.testing.assert_array_equal(r.xs[:, :13], run(spec, exact).xs[:, :13])
    assert run(spec.replace(keep=3), exact).xs.shape == (11, 3, 2)
    b = run_to_end(run_batch(spec, exact))
    assert b.xs.shape == (11, 0, 2) and b.x_start.shape == (40, 2)


def test_race_steps_the_fewest_nfe_and_equals_single_runs(exact):
    spec = SamplingSpec(batch=4, seed=6, eta=0.5)
    racers = [("ddim", 10), ("dpm++2m", 4), ("ddpm", None)]
    frames = []
    r = run_to_end(run_race(spec, exact, racers), frames.append)
    assert r.nfe == [10, 4, 100] and not r.cancelled
    assert r.labels == ["DDIM 10", "DPM-Solver++ (2M) 4", "DDPM 100"]
    assert len(frames) == 114 and frames[-1].step == frames[-1].total == 114
    nfe = [0, 0, 0]
    for f in frames:
        active = [j for j in range(3) if nfe[j] < r.nfe[j]]
        assert nfe[f.racer] == min(nfe[j] for j in active)  # the one furthest behind steps
        nfe[f.racer] = f.nfe
    for j, (name, steps) in enumerate(racers):
        one = run(spec.replace(sampler=name, n_steps=steps,
                               eta=spec.eta if name == "ddim" else 0.0), exact)
        np.testing.assert_array_equal(r.finals[j], one.final)


def test_a_cancelled_race_returns_what_each_racer_has(exact):
    token = CancelToken()
    gen = run_race(SamplingSpec(batch=2, seed=1), exact, [("ddim", 10), ("ddpm", None)], token)
    for _ in range(7):
        next(gen)
    token.cancel()
    with pytest.raises(StopIteration) as stop:
        gen.throw(Cancelled())
    r = stop.value.value
    assert r.cancelled and sum(r.nfe) == 7 and all(f.shape == (2, 2) for f in r.finals)
    # cancelled before every racer started: those not started are at their initial noise
    gen = run_race(SamplingSpec(batch=2, seed=1), exact, [("ddim", 10), ("ddpm", None)])
    next(gen)
    with pytest.raises(StopIteration) as stop:
        gen.throw(Cancelled())
    r = stop.value.value
    assert r.nfe == [1, 0]
    np.testing.assert_array_equal(r.finals[1], start_noise(1, (2,), 2))


def test_generate_is_run_sampling_image_by_image_whatever_the_chunk(exact):
    spec = SamplingSpec(sampler="ddpm", n_steps=20, batch=7, seed=8)
    whole = run(spec, exact).final
    for chunk in (1, 3, 7, 64):
        np.testing.assert_array_equal(generate(exact, spec, chunk=chunk), whole)
    frames = []
    res = run_to_end(run_generate(spec, exact, chunk=3), frames.append)
    assert res.samples.shape == (7, 2) and res.nfe == 20
    assert frames[-1].step == frames[-1].total == 3 * 20 and frames[-1].images_done == 6
    first = run(spec.replace(batch=3, first_image=4), exact).final
    np.testing.assert_array_equal(first, whole[4:])


@pytest.mark.parametrize("sampler, steps", [("ode", 100), ("sde", 300)])
def test_continuous_time_model_reaches_the_data_moments(sampler, steps):
    model = AnalyticDenoiser(gaussian(), sde={"name": "vp", "beta_min": 0.1, "beta_max": 20.0,
                                              "T": 1.0})
    x = generate(model, SamplingSpec(sampler=sampler, n_steps=steps, batch=1500, seed=3),
                 chunk=500)
    assert x.shape == (1500, 2) and x.dtype == np.float32
    assert_moments(x, MU, STD, bias=0.06)


def test_generate_cancel_keeps_the_finished_chunks(exact):
    token = CancelToken()
    gen = run_generate(SamplingSpec(sampler="ddim", n_steps=5, batch=9, seed=0), exact, 4, token)
    for _ in range(7):  # chunk 0 done after 5 steps, chunk 1 part-way
        frame = next(gen)
    token.cancel()
    with pytest.raises(StopIteration) as stop:
        next(gen)
    res = stop.value.value
    assert frame.images_done == 4 and res.cancelled and res.samples.shape == (4, 2)


class ConditionalEps:
    """eps = 0.1 x + 0.05 (label + 1), a stand-in for a class-conditional network."""

    def __init__(self):
        self.info = ModelInfo(kind="points", sample_shape=(2,), T=50, num_classes=3,
                              null_class=3, value_range=(-4.0, 4.0))
        self.labels = []

    def predict_eps(self, x, t, labels):
        self.labels.append(np.array(labels))
        return (0.1 * x + 0.05 * (np.asarray(labels, np.float32)[:, None] + 1)).astype(np.float32)


class FixedEps:
    def __init__(self, info, fn):
        self.info, self.fn = info, fn

    def predict_eps(self, x, t):
        return self.fn(x).astype(np.float32)


def test_class_labels_and_guidance_reach_a_conditional_model():
    model = ConditionalEps()
    spec = SamplingSpec(sampler="ddim", n_steps=5, batch=3, seed=0, classes=(0, 2, 1))
    a = run(spec, model)
    np.testing.assert_array_equal(model.labels[0], [0, 2, 1])
    same = FixedEps(model.info, lambda x: 0.1 * x + 0.05 * np.array([[1.0], [3.0], [2.0]]))
    np.testing.assert_array_equal(a.final, run(spec.replace(classes=None), same).final)
    model.labels.clear()
    g = run(spec.replace(classes=(1,), guidance=3.0), model)
    # one network call per step on the conditional rows, then the null rows (core.guidance)
    assert g.nfe == 10 and {tuple(v) for v in model.labels} == {(1, 1, 1, 3, 3, 3)}
    # eps_u + w (eps_c - eps_u) with eps_c = 0.1 x + 0.1, eps_u = 0.1 x + 0.2, w = 3
    guided = FixedEps(model.info, lambda x: 0.1 * x + 0.2 + 3.0 * (0.1 - 0.2))
    np.testing.assert_allclose(g.final, run(spec.replace(classes=None), guided).final,
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("changes, needle", [
    ({"sampler": "euler"}, "sampler must be one of"),
    ({"sampler": "dpm++2m", "eta": 0.5}, "eta applies to the ddim sampler only"),
    ({"eta": 1.5}, "eta must be in [0, 1]"),
    ({"n_steps": 101}, "at most the model's T = 100"),
    ({"n_steps": 0}, "n_steps must be an integer >= 1"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"batch": 0}, "batch must be an integer >= 1"),
    ({"classes": (1,)}, "the model is unconditional"),
    ({"guidance": 2.0}, "needs class labels"),
    ({"clip_x0": -1.0}, "clip_x0 must be a positive number"),
    ({"start": Start(np.zeros((3, 3)))}, "the start sample has shape"),
    ({"start": Start(np.zeros(2), 100)}, "start t_index must be in 0..99"),
])
def test_bad_specs_are_refused_with_a_message(exact, changes, needle):
    with pytest.raises(ValueError, match=None) as err:
        run(SamplingSpec(batch=2).replace(**changes), exact)
    assert needle in str(err.value)


def test_a_continuous_model_is_refused_by_run_sampling_but_not_generate():
    model = AnalyticDenoiser(gaussian(), sde={"name": "vp"})
    with pytest.raises(ValueError, match="continuous SDE time"):
        run(SamplingSpec(batch=2), model)
    with pytest.raises(ValueError, match="continuous SDE time"):
        generate(model, SamplingSpec(sampler="ddim", batch=2))
    with pytest.raises(ValueError, match="clip_x0 applies"):
        generate(model, SamplingSpec(sampler="ode", batch=2, clip_x0=1.0))
    assert generate(model, SamplingSpec(sampler="ode", n_steps=3, batch=2)).shape == (2, 2)


def test_ddpm_with_t_or_more_steps_is_the_full_chain(exact):
    for steps in (None, 100, 500):
        assert len(build_sampler(SamplingSpec(sampler="ddpm", n_steps=steps), exact.info)) == 100
    assert len(build_sampler(SamplingSpec(sampler="ddim"), exact.info)) == 50
    assert len(build_sampler(SamplingSpec(sampler="dpm++2m"), exact.info)) == 20
