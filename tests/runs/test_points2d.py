"""runs.points2d: the 2-D runs against the mixture they sample, frames, cancel, overlays."""

from __future__ import annotations

import numpy as np
import pytest

from diffview.core import sde as sde_mod
from diffview.core.mixtures import mixture_score, sliced_wasserstein
from diffview.core.toy2d import toy_mixture
from diffview.runs.base import CancelToken, Progress, run_to_end
from diffview.runs.points2d import (
    MAX_DRAWN_POINTS,
    CloudFrame,
    ForwardSpec,
    McmcSpec,
    OverlaySpec,
    PlotRequest,
    ReverseSpec,
    compute_overlays,
    density_image,
    exact_score,
    mixture_from_drawing,
    record_stride,
    run_forward,
    run_mcmc,
    run_reverse,
)

MIX = toy_mixture("8gaussians")


def _sw(a, b, seed=0):
    return sliced_wasserstein(a, b, np.random.default_rng(seed), n_projections=64)


@pytest.mark.parametrize("method", ["sde", "ode", "pc"])
def test_reverse_with_the_exact_score_returns_to_the_mixture(method):
    n = 3000
    sde = sde_mod.make_sde("vp")
    x_T = sde.prior_sample((n, 2), np.random.default_rng(1))  # noqa: N806
    rec = run_to_end(run_reverse(ReverseSpec("vp", method, 150, seed=2), x_T,
                                 {"exact": exact_score(MIX, sde)}))
    final = np.asarray(rec.frames["exact"][-1], np.float64)
    ref = MIX.sample(n, np.random.default_rng(3))
    # the sampling noise floor: two independent samples of the same size
    floor = _sw(MIX.sample(n, np.random.default_rng(4)), ref)
    assert _sw(final, ref) < 3 * floor + 0.05
    # and far from where it started
    assert _sw(x_T, ref) > 10 * floor


def test_frames_are_progress_with_their_step_and_total():
    sde = sde_mod.make_sde("vp")
    x_T = sde.prior_sample((500, 2), np.random.default_rng(0))  # noqa: N806
    frames = []
    rec = run_to_end(run_reverse(ReverseSpec("vp", "ode", 40), x_T,
                                 {"exact": exact_score(MIX, sde), "copy": exact_score(MIX, sde)}),
                     frames.append)
    assert all(isinstance(f, (CloudFrame, Progress)) for f in frames)
    assert [f.step for f in frames] == list(range(1, 41)) and {f.total for f in frames} == {40}
    assert frames[-1].trails["exact"].shape == (41, 8, 2)
    # the same start and noise: two series with the same score are the same run
    np.testing.assert_array_equal(rec.frames["exact"][-1], rec.frames["copy"][-1])
    assert rec.times[0] == pytest.approx(sde.T) and rec.times[-1] == pytest.approx(1e-3)
    assert not rec.cancelled and rec.steps[-1] == 40


def test_a_cancelled_run_returns_what_it_did():
    x0 = MIX.sample(800, np.random.default_rng(0))
    rec = _result(ForwardSpec("vp", 100, seed=1), x0, stop_at=7)
    assert rec.cancelled and rec.steps[-1] == 7 and rec.trails["cloud"].shape[0] == 8
    # the partial run is the start of the full one (same noise)
    full = run_to_end(run_forward(ForwardSpec("vp", 100, seed=1), x0))
    np.testing.assert_allclose(rec.trails["cloud"], full.trails["cloud"][:8])


def _result(spec, x0, stop_at):
    token = CancelToken()
    run = run_forward(spec, x0, token)
    while True:
        try:
            frame = next(run)
        except StopIteration as stop:
            return stop.value
        if frame.step == stop_at:
            token.cancel()


def test_forward_euler_maruyama_reaches_the_marginal_at_T():  # noqa: N802
    sde = sde_mod.make_sde("ou")
    x0 = MIX.sample(20_000, np.random.default_rng(0))
    rec = run_to_end(run_forward(ForwardSpec("ou", 400, seed=3), x0))
    x = np.asarray(rec.frames["cloud"][-1], np.float64)
    m, s = float(sde.mean_coef(sde.T)), float(sde.marginal_std(sde.T))
    want_sd = np.sqrt(m * m * np.diag(MIX.covariance()) + s * s)
    np.testing.assert_allclose(x.std(axis=0), want_sd, rtol=0.05)
    np.testing.assert_allclose(x.mean(axis=0), m * MIX.mean(), atol=0.05)


def test_mcmc_chains_move_up_the_density_and_report_acceptance():
    x0 = 2.0 * np.random.default_rng(0).standard_normal((1000, 2))
    rec = run_to_end(run_mcmc(McmcSpec(150, 0.5, seed=1), MIX.log_prob, x0))
    end = np.asarray(rec.frames["cloud"][-1], np.float64)
    assert 0.05 < rec.accept_rate < 0.95
    assert MIX.log_prob(end).mean() > MIX.log_prob(x0).mean() + 1.0


def test_record_stride_keeps_the_frames_within_the_budget():
    for n, steps in ((50_000, 2000), (100, 10), (200_000, 1000)):
        stride = record_stride(n, steps, 2, budget=64 * 2**20)
        kept = len(range(0, steps + 1, stride)) + 1
        assert kept * n * 2 * 4 * 2 <= 64 * 2**20 + n * 2 * 4 * 2 * 2


def test_density_overlay_integrates_to_one_and_arrows_follow_the_score():
    sde = sde_mod.make_sde("vp")
    rect, t, n = (-8.0, -8.0, 16.0, 16.0), 0.2, 128
    xs, ys, dens = density_image(MIX, sde, rect, t, n)
    assert dens.sum() * (16.0 / n) ** 2 == pytest.approx(1.0, abs=1e-3)
    spec = OverlaySpec(rect, t, {"a": PlotRequest("error", "exact")})
    score = exact_score(MIX, sde)
    out = compute_overlays(spec, MIX, sde, {"exact": score, "learned": score})
    a = out.plots["a"]
    assert a.heat_kind == "error" and np.all(a.heat == 0.0)
    seg = np.column_stack(a.arrows).reshape(-1, 6, 2)
    d = seg[:, 1] - seg[:, 0]
    want = mixture_score(MIX, sde, seg[:, 0], t)
    cos = np.sum(d * want, axis=1) / (np.hypot(*d.T) * np.hypot(*want.T) + 1e-300)
    assert np.all(cos[np.hypot(*d.T) > 1e-9] > 0.999)


def test_drawings_are_capped_and_bad_specs_named():
    with pytest.raises(ValueError, match="at most"):
        mixture_from_drawing(np.zeros((MAX_DRAWN_POINTS + 1, 2)), 0.1)
    mix = mixture_from_drawing(np.array([[0.0, 0.0], [0.01, 0.0], [1.0, 1.0]]), 0.1)
    assert mix.n_components == 2                     # the near duplicate is thinned away
    with pytest.raises(ValueError, match="method"):
        ReverseSpec(method="euler")
    with pytest.raises(ValueError, match="n_steps"):
        ForwardSpec(n_steps=0)
    with pytest.raises(ValueError, match="x_T"):
        next(run_reverse(ReverseSpec(), np.zeros((5, 3)), {"exact": exact_score(MIX, None)}))


def test_flow_compare_lands_both_processes_on_the_data():
    from diffview.runs.flow2d import CompareSpec
    from diffview.runs.points2d import run_flow_compare

    frames = []
    rec = run_to_end(run_flow_compare(CompareSpec("8gaussians", 2000, 0, "heun", 40)),
                     frames.append)
    assert [f.step for f in frames] == list(range(1, 41))
    assert rec.kind == "flow" and set(rec.frames) == {"vp", "fm"} and rec.steps[-1] == 40
    ref = MIX.sample(2000, np.random.default_rng(5))
    floor = _sw(MIX.sample(2000, np.random.default_rng(6)), ref)
    for name in ("vp", "fm"):
        assert _sw(np.asarray(rec.frames[name][-1], np.float64), ref) < 3 * floor + 0.1
    # both start from the same noise; a path is never shorter than its chord
    np.testing.assert_array_equal(rec.frames["vp"][0], rec.frames["fm"][0])
    assert all(1.0 - 1e-9 <= v < 5.0 for v in rec.straightness.values())
