import json
from dataclasses import replace

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from diffview.training.export import ExportError, export_checkpoint, export_module  # noqa: E402
from diffview.training.loop import CHECKPOINT_NAME, build_model, train  # noqa: E402


@pytest.fixture
def image_checkpoint(image_config, image_data, tmp_path):
    for _ in train(replace(image_config, steps=2), out_dir=tmp_path / "run", data=image_data):
        pass
    return tmp_path / "run" / CHECKPOINT_NAME


def _metadata(path):
    return {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}


def test_image_export_matches_torch_and_carries_metadata(image_checkpoint, tmp_path):
    out = tmp_path / "m.onnx"
    result = export_checkpoint(image_checkpoint, out)
    assert result.max_abs_diff <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "run"]
    meta = _metadata(out)
    assert meta["diffview.kind"] == "image"
    assert meta["diffview.sample_shape"] == [1, 8, 8]
    assert meta["diffview.schedule"] == "linear" and meta["diffview.T"] == 50
    assert meta["diffview.time_kind"] == "index"
    assert meta["diffview.dataset"] == "squares"
    assert meta["diffview.class_names"] == ["square"]
    assert meta["diffview.training_steps"] == 2
    assert meta["diffview.extra"]["exported_weights"] == "ema"
    assert meta["diffview.extra"]["seed"] == 3

    # The file stands on its own: same answer as the EMA net for a new batch size, int64 time.
    state = torch.load(image_checkpoint, weights_only=True)
    from diffview.training.config import TrainConfig

    net = build_model(TrainConfig.from_dict(state["config"]), (1, 8, 8))
    net.load_state_dict(state["ema"])
    net.eval()
    x = np.random.default_rng(1).standard_normal((7, 1, 8, 8)).astype(np.float32)
    t = np.arange(7, dtype=np.int64) * 7
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x, "t": t})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(x), torch.from_numpy(t)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert not onnx.load(str(out)).graph.initializer[0].external_data


def test_point_export_has_a_float_time_input(point_config, tmp_path):
    for _ in train(replace(point_config, steps=2), out_dir=tmp_path / "run"):
        pass
    out = tmp_path / "p.onnx"
    export_checkpoint(tmp_path / "run" / CHECKPOINT_NAME, out)
    model = onnx.load(str(out))
    t_input = [i for i in model.graph.input if i.name == "t"][0]
    assert t_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    meta = _metadata(out)
    assert meta["diffview.time_kind"] == "continuous"
    assert meta["diffview.sde"] == {"name": "vp", "beta_min": 0.1, "beta_max": 20.0, "T": 1.0}
    assert meta["diffview.dataset"] == "toy:moons"


def test_cancelled_export_leaves_no_file_and_keeps_an_old_one(image_checkpoint, tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"older model")
    calls = []

    def cancel_on_second_poll():
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(ExportError, match="cancelled"):
        export_checkpoint(image_checkpoint, out, should_cancel=cancel_on_second_poll)
    assert out.read_bytes() == b"older model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "run"]


class _Noisy(torch.nn.Module):
    """eps(x, t) that adds fresh random noise: torch and onnxruntime can never agree."""

    def forward(self, x, t):
        return x + torch.randn_like(x) + 0.0 * t[:, None]


def test_parity_failure_raises_and_writes_nothing(tmp_path):
    out = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match="differ by .* above the tolerance"):
        export_module(_Noisy(), (2,), out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
