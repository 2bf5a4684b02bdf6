"""Training a cold-diffusion restoration network: the L1 objective on x_0 goes down, the export
says what the network is (prediction x0, its degradation and schedule, the start mixture) and
the engine runs it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from PIL import Image  # noqa: E402

from diffview.core.cold import ColdDegradation  # noqa: E402
from diffview.training import cold as tc  # noqa: E402
from diffview.training.config import ConfigError, TrainConfig  # noqa: E402
from diffview.training.export import export_checkpoint  # noqa: E402
from diffview.training.loop import CHECKPOINT_NAME, train  # noqa: E402


@pytest.fixture
def square_folder(tmp_path):
    """40 PNGs of bright 3x3 squares on black, 8x8 px."""
    folder = tmp_path / "squares"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        img = np.zeros((8, 8), np.uint8)
        r, c = rng.integers(0, 5, size=2)
        img[r:r + 3, c:c + 3] = 255
        Image.fromarray(img).save(folder / f"{i:02d}.png")
    return folder


def _config(folder, cold="blur", steps=60, **kw):
    return TrainConfig(data=str(folder), cold=cold, T=6, image_size=8, steps=steps,
                       batch_size=16, lr=3e-3, warmup=5, widths=(8, 8, 16), blocks=(1, 1, 1),
                       seed=1, threads=1, checkpoint_every=0, **kw)


def test_training_lowers_the_l1_loss_on_x0(square_folder, tmp_path):
    losses = [rec.loss for rec in train(_config(square_folder), out_dir=tmp_path / "run")]
    assert len(losses) == 60
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.7 * first


def test_the_first_loss_is_the_l1_distance_of_the_degraded_image():
    """A fresh residual restorer is the identity, so its L1 loss is E |D(x0, s) - x0|."""
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32)
    model = tc.build_cold_model(_config("unused"), (1, 8, 8))
    deg = ColdDegradation("blur", 6)
    steps = np.array([1, 2, 4, 6])
    xs = tc.degrade_batch(deg, x0, steps, rng)
    with torch.no_grad():
        out = model(torch.from_numpy(xs), torch.from_numpy(steps - 1)).numpy()
    np.testing.assert_allclose(out, xs, atol=1e-6)


def test_export_is_a_restoration_model_the_engine_runs(square_folder, tmp_path):
    from diffview.engine import OnnxDenoiser

    for _ in train(_config(square_folder, steps=4), out_dir=tmp_path / "run"):
        pass
    out = tmp_path / "cold_blur.onnx"
    export_checkpoint(tmp_path / "run" / CHECKPOINT_NAME, out)
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(out)).metadata_props}
    assert meta["diffview.prediction"] == "x0" and meta["diffview.T"] == 6
    deg = meta["diffview.degradation"]
    assert deg["name"] == "blur" and deg["T"] == 6 and deg["max_sigma"] == 2.0
    start = meta["diffview.extra"]["cold_start"]
    assert start["image_shape"] == [1, 8, 8] and "fully degraded" in start["fitted_to"]

    model = OnnxDenoiser(out)
    assert model.metadata_warnings == []
    assert model.info.prediction == "x0" and model.info.degradation["name"] == "blur"
    # predict_eps hands back the network's output unchanged: here x0_hat, not an epsilon
    state = torch.load(tmp_path / "run" / CHECKPOINT_NAME, weights_only=False)
    net = tc.build_cold_model(TrainConfig.from_dict(state["config"]), (1, 8, 8))
    net.load_state_dict(state["ema"])
    x = np.random.default_rng(2).uniform(-1, 1, (3, 1, 8, 8)).astype(np.float32)
    t = np.array([0, 2, 5])
    with torch.no_grad():
        want = net.eval()(torch.from_numpy(x), torch.from_numpy(t)).numpy()
    np.testing.assert_allclose(model.predict_eps(x, t), want, atol=1e-4)


def test_a_mask_model_has_no_start_distribution(square_folder, tmp_path):
    for _ in train(_config(square_folder, cold="mask", steps=2), out_dir=tmp_path / "run"):
        pass
    out = tmp_path / "m.onnx"
    export_checkpoint(tmp_path / "run" / CHECKPOINT_NAME, out)
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(out)).metadata_props}
    assert meta["diffview.degradation"]["name"] == "mask"
    assert "cold_start" not in meta["diffview.extra"]


def test_cold_options_are_checked_and_T_defaults_per_degradation(square_folder):
    from diffview.cli import build_parser
    from diffview.cli.train import config_from_args

    with pytest.raises(ConfigError, match="cold must be one of"):
        _config(square_folder, cold="snow")
    with pytest.raises(ConfigError, match="restores images"):
        TrainConfig(data="toy:moons", cold="blur")
    for name, T in (("blur", 50), ("mask", 50), ("pixelate", 27)):  # noqa: N806
        args = build_parser("train").parse_args(["train", "--data", str(square_folder),
                                                 "--cold", name])
        assert config_from_args(args).T == T
    args = build_parser("train").parse_args(["train", "--data", str(square_folder), "--cold",
                                             "blur", "--T", "20"])
    assert config_from_args(args).T == 20
