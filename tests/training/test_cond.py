"""Class-conditional training: label dropout, a zero-initialised class embedding that starts
the network as the unconditional one, fine-tuning from an unconditional checkpoint, and the
exported three-input ONNX model through the engine."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from diffview.training.checkpoint import CheckpointError
from diffview.training.cond import data_num_classes, drop_labels, load_init_weights
from diffview.training.data import TrainingData
from diffview.training.loop import train
from diffview.training.unet import UNet
from tests.training.conftest import tiny_images


def _labelled(n: int = 32) -> TrainingData:
    data = tiny_images(n)
    labels = np.arange(n, dtype=np.int64) % 3
    return dataclasses.replace(data, class_names=("a", "b", "c"), labels=labels)


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_label_dropout_rate_within_binomial_bounds(p):
    n = 40_000
    labels = np.arange(n, dtype=np.int64) % 10
    out = drop_labels(labels, p, 10, np.random.default_rng(7))
    dropped = int(np.count_nonzero(out == 10))
    sd = math.sqrt(n * p * (1 - p))
    assert abs(dropped - n * p) < 4.5 * sd  # a 4.5-sigma band: fails by chance ~1e-5
    kept = out != 10
    np.testing.assert_array_equal(out[kept], labels[kept])
    assert np.count_nonzero(drop_labels(labels, 0.0, 10, np.random.default_rng(1)) == 10) == 0


def test_zero_class_embedding_starts_as_the_unconditional_network():
    torch.manual_seed(0)
    # 16 channels: GroupNorm(8) has 2 channels a group (with 1 a group it would remove the
    # per-channel time and class bias entirely)
    base = UNet(channels=1, widths=(16, 16, 16), blocks=(1, 1, 1))
    for prm in base.parameters():  # make the zero-initialised output layers non-trivial
        prm.data.normal_(0, 0.2)
    cond = UNet(channels=1, widths=(16, 16, 16), blocks=(1, 1, 1), num_classes=3)
    missing = cond.load_state_dict(base.state_dict(), strict=False).missing_keys
    assert missing == ["class_emb.weight"] and cond.class_emb.weight.shape == (4, 128)
    x, t = torch.randn(4, 1, 8, 8), torch.tensor([0, 10, 500, 999])
    with torch.no_grad():
        want = base(x, t)
        for y in ([0, 1, 2, 3], None):
            got = cond(x, t, None if y is None else torch.tensor(y))
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        cond.class_emb.weight.data.normal_()
        assert not torch.allclose(cond(x, t, torch.tensor([0, 1, 2, 3])), want)


def test_data_num_classes():
    assert data_num_classes(np.array([0, 2, 1]), ()) == 3
    assert data_num_classes(np.array([0, 1]), ("a", "b", "c")) == 3
    with pytest.raises(ValueError, match="needs labelled data"):
        data_num_classes(None, ())
    with pytest.raises(ValueError, match="labels must be in 0..1"):
        data_num_classes(np.array([0, 5]), ("a", "b"))


def _run(config, data, out):
    return list(train(config, out_dir=out, data=data))


def test_fine_tune_from_unconditional_and_export(image_config, tmp_path):
    from diffview.engine.onnx_denoiser import OnnxDenoiser
    from diffview.training.export import export_checkpoint

    data = _labelled()
    uncond_dir = tmp_path / "u"
    base = dataclasses.replace(image_config, widths=(16, 16, 16))  # 2 channels a norm group
    _run(base, data, uncond_dir)
    cfg = dataclasses.replace(base, num_classes=3, p_uncond=0.2,
                              init_from=str(uncond_dir / "checkpoint.pt"), steps=4)
    recs = _run(cfg, data, tmp_path / "c")
    assert recs[-1].step == 4 and all(math.isfinite(r.loss) for r in recs)
    state = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)
    assert state["config"]["num_classes"] == 3
    # the class embedding learned (it gets gradients through the time embedding)
    assert float(state["model"]["class_emb.weight"].abs().sum()) > 0
    res = export_checkpoint(tmp_path / "c" / "checkpoint.pt", tmp_path / "cond.onnx")
    assert res.max_abs_diff < 1e-4
    model = OnnxDenoiser(res.path, device="cpu")
    assert model.label_input == "labels"
    assert (model.info.num_classes, model.info.null_class) == (3, 3)
    assert model.info.class_names == ("a", "b", "c")
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    a = model.predict_eps(x, 20, np.array([0, 1, 3]))
    assert np.array_equal(model.predict_eps(x, 20), model.predict_eps(x, 20, 3))
    assert a.shape == x.shape and np.isfinite(a).all()


def test_init_from_a_different_network_is_one_line(image_config, tmp_path):
    data = _labelled()
    _run(image_config, data, tmp_path / "u")
    other = UNet(channels=1, widths=(8, 8, 8), blocks=(1, 1, 1), num_classes=3)
    with pytest.raises(CheckpointError) as err:
        load_init_weights(other, UNet(channels=1, widths=(8, 8, 8), num_classes=3),
                          tmp_path / "u" / "checkpoint.pt")
    assert "size mismatch" in str(err.value) and "\n" not in str(err.value)


def test_conditional_training_needs_labels(image_config, tmp_path):
    from diffview.training.loop import TrainingError

    cfg = dataclasses.replace(image_config, num_classes=3)
    with pytest.raises(TrainingError, match="needs labelled data"):
        _run(cfg, tiny_images(), tmp_path / "x")
