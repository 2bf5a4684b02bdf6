"""Flow-matching training of the point MLP: the loss approaches the exact field's, OT pairs
are easier to fit, reflow rounds chain, and the export is a velocity model the engine and the
flow runs accept."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from diffview.cli import run_cli  # noqa: E402
from diffview.core.flow import flow_velocity  # noqa: E402
from diffview.core.toy2d import toy_mixture  # noqa: E402
from diffview.training.checkpoint import load_checkpoint  # noqa: E402
from diffview.training.config import ConfigError, TrainConfig  # noqa: E402
from diffview.training.export import export_checkpoint  # noqa: E402
from diffview.training.flow import torch_velocity, train_with_reflow  # noqa: E402
from diffview.training.loop import CHECKPOINT_NAME, build_model, train  # noqa: E402


@pytest.fixture
def fm_config() -> TrainConfig:
    return TrainConfig(data="toy:8gaussians", steps=250, batch_size=128, lr=3e-3, warmup=0,
                       hidden=32, layers=2, fourier=0, seed=2, threads=1, checkpoint_every=0,
                       objective="fm")


def _eval_pairs(n=8192, seed=0):
    rng = np.random.default_rng(seed)
    mix = toy_mixture("8gaussians")
    x0 = mix.sample(n, rng)
    eps = rng.standard_normal((n, 2))
    t = rng.uniform(0, 1, n)
    return mix, x0, eps, t


def _loss(v, x0, eps, t):
    return float(np.mean((v - (eps - x0)) ** 2))


def _model_velocity(state_dict, config, xt, t):
    model = build_model(config, (2,))
    model.load_state_dict(state_dict)
    with torch.no_grad():
        return model(torch.tensor(xt, dtype=torch.float32),
                     torch.tensor(t, dtype=torch.float32)).numpy().astype(np.float64)


def test_fm_training_closes_most_of_the_gap_to_the_exact_field(fm_config, tmp_path):
    # The exact velocity E[eps - x0 | x_t] is the minimiser of the loss; its value is the
    # irreducible floor. A trained net must close most of the gap from its initial loss.
    mix, x0, eps, t = _eval_pairs()
    xt = (1 - t)[:, None] * x0 + t[:, None] * eps
    floor = _loss(flow_velocity(mix, xt, t), x0, eps, t)
    torch.manual_seed(fm_config.seed)
    start = _loss(_model_velocity(build_model(fm_config, (2,)).state_dict(), fm_config, xt, t),
                  x0, eps, t)
    records = list(train(fm_config, out_dir=tmp_path))
    assert records[-1].done and records[-1].preview.shape == (512, 2)
    state = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    end = _loss(_model_velocity(state["model"], fm_config, xt, t), x0, eps, t)
    assert start - floor > 0.5
    assert end - floor < 0.3 * (start - floor)


def test_ot_pairs_are_easier_to_fit_than_independent_ones(fm_config):
    ind = [r.loss for r in train(fm_config)]
    ot = [r.loss for r in train(replace(fm_config, coupling="ot"))]
    # the OT pairs' conditional variance is far lower: the paths hardly cross
    assert np.mean(ot[-50:]) < 0.5 * np.mean(ind[-50:])


def test_reflow_rounds_chain_and_export_a_velocity_model(fm_config, tmp_path):
    from diffview.engine import OnnxDenoiser
    from diffview.runs.base import run_to_end
    from diffview.runs.flow2d import FlowSampleSpec, run_flow_sample

    config = replace(fm_config, steps=40, reflow=1)
    records = list(train_with_reflow(config, out_dir=tmp_path))
    assert [r.step for r in records] == list(range(1, 81))
    assert all(r.total_steps == 80 for r in records)
    assert [r.done for r in records].count(True) == 1 and records[-1].stop_reason == "steps"
    round0 = tmp_path / "round0" / CHECKPOINT_NAME
    final = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert final["config"]["reflow_from"] == str(round0)
    assert final["config"]["extra"]["reflow_round"] == 1 and final["step"] == 40

    out = tmp_path / "fm.onnx"
    result = export_checkpoint(tmp_path / CHECKPOINT_NAME, out)
    meta = {k: json.loads(v) for k, v in result.metadata.items()}
    assert meta["diffview.prediction"] == "velocity"
    assert meta["diffview.time_kind"] == "continuous" and meta["diffview.sde"] is None
    assert meta["diffview.extra"]["reflow_round"] == 1
    model = OnnxDenoiser(out, device="cpu")
    assert model.metadata_warnings == [] and model.info.prediction == "velocity"
    # the ONNX network is the torch network, and the flow run drives it
    net = build_model(TrainConfig.from_dict(final["config"]), (2,))
    net.load_state_dict(final["ema"])
    x = np.random.default_rng(1).standard_normal((16, 2))
    np.testing.assert_allclose(model.predict_eps(x.astype(np.float32), np.full(16, 0.3)),
                               torch_velocity(net)(x, 0.3), atol=1e-4)
    res = run_to_end(run_flow_sample(FlowSampleSpec(dataset="8gaussians", n=64, n_steps=4),
                                     model))
    assert res.points.shape == (64, 2) and np.all(np.isfinite(res.points))


def test_reflow_round_trains_on_the_previous_flows_pairs(fm_config, tmp_path):
    from diffview.training.flow import REFLOW_POOL, _state

    list(train(replace(fm_config, steps=5), out_dir=tmp_path / "a"))
    prev = str(tmp_path / "a" / CHECKPOINT_NAME)
    gen = train(replace(fm_config, steps=5, reflow_from=prev, seed=9))
    next(gen)
    # the loop's state is private; reach it through the generator's frame
    run = gen.gi_frame.f_locals["run"]
    st = _state(run)
    assert st.x0.shape == (REFLOW_POOL, 2) and st.eps.shape == (REFLOW_POOL, 2)
    prev_state = load_checkpoint(prev)
    net = build_model(fm_config, (2,))
    net.load_state_dict(prev_state["ema"])
    from diffview.core.flow import flow_time_grid, integrate

    again = integrate("rk4", torch_velocity(net), st.eps[:100].astype(np.float64),
                      flow_time_grid(32))
    np.testing.assert_allclose(st.x0[:100], again, atol=1e-4)
    gen.close()


def test_config_and_cli_refuse_what_does_not_fit(tmp_path, capsys):
    with pytest.raises(ConfigError, match="toy"):
        TrainConfig(data="some/images", objective="fm")
    with pytest.raises(ConfigError, match="objective fm"):
        TrainConfig(data="toy:moons", coupling="ot")
    with pytest.raises(ConfigError, match="objective"):
        TrainConfig(data="toy:moons", objective="score")
    code = run_cli(["train", "--data", "toy:moons", "--reflow", "1", "--steps", "2",
                    "--run-dir", str(tmp_path / "r")])
    assert code == 2 and "objective fm" in capsys.readouterr().err


def test_cli_trains_and_exports_a_flow_model(tmp_path, capsys):
    out = tmp_path / "fm.onnx"
    code = run_cli(["train", "--data", "toy:moons", "--objective", "fm", "--coupling", "ot",
                    "--steps", "20", "--batch", "32", "--hidden", "16", "--layers", "2",
                    "--warmup", "0", "--run-dir", str(tmp_path / "run"), "--out", str(out),
                    "--log-every", "10"])
    assert code == 0 and "exported" in capsys.readouterr().out
    code = run_cli(["sample", "--model", str(out), "--n", "50", "--steps", "3",
                    "--out", str(tmp_path / "s.png"), "--npy", str(tmp_path / "s.npy"),
                    "--quiet"])
    assert code == 0
    assert np.load(tmp_path / "s.npy").shape == (50, 2)
