"""OnnxDenoiser: the model contract on tiny generated models, and every malformed model refused."""

import numpy as np
import pytest
from onnx import TensorProto

from diffview.engine import Denoiser, ModelError, ModelInfo
from diffview.engine.onnx_denoiser import OnnxDenoiser, default_model_path, load_default
from tests.engine import onnx_models as om

POINTS_INFO = ModelInfo(kind="points", sample_shape=(2,), T=50, schedule="cosine",
                        dataset="moons")


@pytest.fixture
def image_model(tmp_path):
    return OnnxDenoiser(om.save(om.eps_model(), tmp_path / "img.onnx"), device="cpu")


# ------------------------------------------------------------------------------ the contract


@pytest.mark.parametrize("time_type", [TensorProto.INT64, TensorProto.FLOAT])
@pytest.mark.parametrize("dims", [("B", 1, 4, 4), ("B", 3, 2, 5), ("B", 2), (4, 3)])
def test_eps_matches_formula(tmp_path, rng, dims, time_type):
    model = OnnxDenoiser(om.save(om.eps_model(dims, time_type), tmp_path / "m.onnx"))
    batch = dims[0] if isinstance(dims[0], int) else 3
    x = rng.standard_normal((batch, *dims[1:])).astype(np.float32)
    t = rng.integers(0, 1000, batch)
    eps = model.predict_eps(x, t)
    assert eps.dtype == np.float32 and eps.shape == x.shape
    np.testing.assert_allclose(eps, om.expected_eps(x, t), rtol=1e-6, atol=1e-5)
    assert model.info.sample_shape == tuple(dims[1:])
    assert model.info.kind == ("image" if len(dims) == 4 else "points")


def test_is_a_denoiser(image_model):
    assert isinstance(image_model, Denoiser)


def test_scalar_t_is_broadcast(image_model, rng):
    x = rng.standard_normal((5, 1, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(image_model.predict_eps(x, 7), om.expected_eps(x, 7), atol=1e-6)
    np.testing.assert_allclose(image_model.predict_eps(x, np.int64(7)),
                               image_model.predict_eps(x, np.full(5, 7)))


def test_float64_input_and_float_indices_are_cast(image_model, rng):
    x = rng.standard_normal((2, 1, 4, 4))
    eps = image_model.predict_eps(x, np.array([3.0, 9.0]))
    assert eps.dtype == np.float32
    np.testing.assert_allclose(eps, om.expected_eps(x, [3, 9]), atol=1e-5)


def test_inputs_found_by_rank_not_name_or_order(tmp_path, rng):
    # Timestep listed first in the graph.
    model = om.eps_model(("B", 2))
    model.graph.input.reverse()
    path = om.save(model, tmp_path / "rev.onnx")
    den = OnnxDenoiser(path)
    assert den.input_names == ("x", "t") and den.output_name == "eps"
    x = rng.standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(den.predict_eps(x, 2), om.expected_eps(x, 2), atol=1e-6)


def test_fixed_batch_model_is_fed_in_chunks(tmp_path, rng):
    den = OnnxDenoiser(om.save(om.eps_model((2, 1, 4, 4)), tmp_path / "fixed.onnx"))
    assert den.fixed_batch == 2
    x = rng.standard_normal((5, 1, 4, 4)).astype(np.float32)
    t = np.arange(5)
    np.testing.assert_allclose(den.predict_eps(x, t), om.expected_eps(x, t), atol=1e-6)


def test_metadata_is_read(tmp_path):
    den = OnnxDenoiser(om.save(om.eps_model(("B", 2), info=POINTS_INFO), tmp_path / "p.onnx"))
    assert den.info == POINTS_INFO
    assert den.metadata_warnings == []


def test_missing_metadata_gives_defaults_from_inputs(tmp_path):
    den = OnnxDenoiser(om.save(om.eps_model(("B", 3, 8, 8)), tmp_path / "m.onnx"))
    assert den.info.kind == "image" and den.info.sample_shape == (3, 8, 8)
    assert den.info.T == 1000 and den.info.schedule == "linear"
    assert len(den.metadata_warnings) == 1 and "no diffview metadata" in den.metadata_warnings[0]


def test_symbolic_image_dims_default_to_28(tmp_path):
    den = OnnxDenoiser(om.save(om.eps_model(("B", "C", "H", "W")), tmp_path / "m.onnx"))
    assert den.info.sample_shape == (1, 28, 28)
    den.info = den.info.replace(sample_shape=(3, 16, 16))  # the user may change them
    assert den.predict_eps(np.zeros((1, 3, 16, 16)), 0).shape == (1, 3, 16, 16)


def test_metadata_that_contradicts_the_inputs_is_overridden(tmp_path):
    info = ModelInfo(sample_shape=(3, 32, 32), T=200)
    den = OnnxDenoiser(om.save(om.eps_model(("B", 1, 4, 4), info=info), tmp_path / "m.onnx"))
    assert den.info.sample_shape == (1, 4, 4) and den.info.T == 200
    assert any("does not fit" in w for w in den.metadata_warnings)
    with pytest.raises(ValueError, match="differs from the sample input"):
        den.info = info
    with pytest.raises(ValueError, match="ModelInfo.T"):
        den.info = den.info.replace(T=0)


def test_continuous_metadata_with_int_timestep_becomes_index(tmp_path):
    info = ModelInfo(kind="points", sample_shape=(2,), time_kind="continuous",
                     sde={"name": "vp", "beta_min": 0.1, "beta_max": 20.0, "T": 1.0})
    den = OnnxDenoiser(om.save(om.eps_model(("B", 2), info=info), tmp_path / "m.onnx"))
    assert den.info.time_kind == "index"
    assert any("int64" in w for w in den.metadata_warnings)


def test_continuous_time_float_input(tmp_path, rng):
    info = ModelInfo(kind="points", sample_shape=(2,), time_kind="continuous",
                     sde={"name": "vp", "beta_min": 0.1, "beta_max": 20.0, "T": 1.0})
    path = om.save(om.eps_model(("B", 2), TensorProto.FLOAT, info=info), tmp_path / "c.onnx")
    den = OnnxDenoiser(path)
    x = rng.standard_normal((3, 2)).astype(np.float32)
    np.testing.assert_allclose(den.predict_eps(x, 0.25), om.expected_eps(x, 0.25), atol=1e-6)


# ------------------------------------------------------------------------------ predict_eps errors


def test_wrong_x_shape_is_explained(image_model):
    with pytest.raises(ValueError, match=r"x has shape \(2, 1, 5, 4\), expected \(B, 1, 4, 4\)"):
        image_model.predict_eps(np.zeros((2, 1, 5, 4)), 0)
    with pytest.raises(ValueError, match="expected"):
        image_model.predict_eps(np.zeros((1, 4, 4)), 0)


def test_wrong_t_shape_and_range(image_model):
    x = np.zeros((3, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"t has shape \(2,\), expected \(\) or \(3,\)"):
        image_model.predict_eps(x, [1, 2])
    with pytest.raises(ValueError, match="out of range 0..999"):
        image_model.predict_eps(x, 1000)
    with pytest.raises(ValueError, match="out of range"):
        image_model.predict_eps(x, -1)
    with pytest.raises(ValueError, match="must be integers"):
        image_model.predict_eps(x, 2.5)


def test_nan_output_raises(tmp_path):
    den = OnnxDenoiser(om.save(om.unary_model("Sqrt"), tmp_path / "sqrt.onnx"))  # fine at zero
    assert np.all(den.predict_eps(np.ones((1, 1, 4, 4)), 0) == 1.0)
    x = np.ones((2, 1, 4, 4), np.float32)
    x[1, 0, 0, :3] = -1.0
    with pytest.raises(ModelError, match=r"sqrt.onnx: model returned non-finite values \(3 of 32"):
        den.predict_eps(x, 0)


def test_inf_output_raises(tmp_path):
    den = OnnxDenoiser(om.save(om.unary_model("Exp"), tmp_path / "exp.onnx"))
    with pytest.raises(ModelError, match="non-finite"):
        den.predict_eps(np.full((1, 1, 4, 4), 1000.0), 0)


# ------------------------------------------------------------------------------ malformed models


def _expect(path, *needles):
    with pytest.raises(ModelError) as info:
        OnnxDenoiser(path, device="cpu")
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message, message
    return message


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.onnx", "not found")


def test_folder(tmp_path):
    _expect(tmp_path, "folder")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    _expect(path, "empty file (0 bytes)")


def test_text_file(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("These are my notes, not a model.\n")
    _expect(path, "not an ONNX model", "text", "These are my notes")


def test_zip_file(tmp_path):
    path = tmp_path / "ckpt.onnx"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    _expect(path, "not an ONNX model", "zip")


def test_random_binary(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(bytes([0xFF, 0x00, 0x13]) * 50)
    _expect(path, "not an ONNX model", "0x08", "0xff")


def test_truncated_file(tmp_path):
    data = om.eps_model(info=ModelInfo(sample_shape=(1, 4, 4))).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    _expect(path, "corrupt or truncated")


def test_model_onnxruntime_refuses(tmp_path):
    _expect(om.save(om.unknown_op_model(), tmp_path / "op.onnx"),
            "onnxruntime refused", "NoSuchOperator")


def test_three_inputs(tmp_path):
    _expect(om.save(om.three_input_model(), tmp_path / "three.onnx"),
            "rank 1 (class labels)", "found 'x' [B, 1, 4, 4]")


def test_one_input(tmp_path):
    _expect(om.save(om.one_input_model(), tmp_path / "one.onnx"), "expected 2 or 3 inputs",
            "found 1")


def test_int_sample_input(tmp_path):
    model = om.unary_model("Identity")
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.INT32
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.INT32
    _expect(om.save(model, tmp_path / "int.onnx"), "expected a float32 sample", "tensor(int32)")


def test_timestep_of_rank_2(tmp_path):
    path = om.save(om.eps_model(time_dims=("B", 1)), tmp_path / "t2.onnx")
    _expect(path, "rank 1 (timestep)", "'t' [B, 1]")


def test_sample_of_rank_3(tmp_path):
    path = om.save(om.eps_model(("B", 4, 4)), tmp_path / "r3.onnx")
    _expect(path, "rank 4 or 2 (sample)", "'x' [B, 4, 4]")


def test_float64_timestep(tmp_path):
    path = om.save(om.eps_model(time_type=TensorProto.DOUBLE), tmp_path / "td.onnx")
    _expect(path, "int64 or float32 timestep", "tensor(double)")


def test_int8_output(tmp_path):
    model = om.unary_model("Cast", out_type=TensorProto.INT8, to=TensorProto.INT8)
    _expect(om.save(model, tmp_path / "i8.onnx"), "expected a float output", "tensor(int8)")


def test_output_of_different_rank(tmp_path):
    model = om.unary_model("Flatten", out_dims=("B", 16))
    _expect(om.save(model, tmp_path / "flat.onnx"), "rank 4", "rank 2")


def test_output_of_different_static_shape(tmp_path):
    model = om.unary_model("ReduceMean", out_dims=("B", 1, 4, 1), axes=[3], keepdims=1)
    _expect(om.save(model, tmp_path / "mean.onnx"), "expected a float output of shape [B, 1, 4, 4]")


def test_symbolic_output_with_wrong_shape_caught_by_probe(tmp_path):
    msg = _expect(om.save(om.wrong_shape_symbolic_model(), tmp_path / "sym.onnx"), "probe")
    assert "[2, 1, 28, 28]" in msg and "[2, 1, 28, 1]" in msg


def test_nan_on_probe(tmp_path):
    model = om.unary_model("Log")  # log(0) = -inf on the zero probe
    _expect(om.save(model, tmp_path / "log.onnx"), "non-finite", "probe")


# ------------------------------------------------------------------------------ providers, misc


def test_provider_is_cpu_here(tmp_path):
    import onnxruntime

    path = om.save(om.eps_model(), tmp_path / "m.onnx")
    for device in ("cpu", "auto", "cuda"):
        den = OnnxDenoiser(path, device=device)
        if device == "cpu":
            assert den.provider_note == ""
        if "CUDA" not in den.provider:
            assert den.provider == "CPU"
            assert den._session.get_providers()[0] == "CPUExecutionProvider"
            if device == "cuda":
                assert "CUDA was requested" in den.provider_note and "CPU" in den.provider_note
    assert onnxruntime.get_device() in ("CPU", "GPU")


def test_cuda_fallback_prints_nothing(tmp_path, capfd):
    path = om.save(om.eps_model(), tmp_path / "m.onnx")
    OnnxDenoiser(path, device="cuda")
    captured = capfd.readouterr()
    assert "onnxruntime" not in captured.err and "Failed to load" not in captured.err


def test_bad_device_and_threads(tmp_path):
    path = om.save(om.eps_model(), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="device must be one of"):
        OnnxDenoiser(path, device="tpu")
    with pytest.raises(ValueError, match="threads"):
        OnnxDenoiser(path, threads=0)
    assert OnnxDenoiser(path, threads=1).threads == 1


def test_describe(tmp_path):
    den = OnnxDenoiser(om.save(om.eps_model(("B", 2), info=POINTS_INFO), tmp_path / "p.onnx"),
                       device="cpu")
    d = den.describe()
    assert d["provider"] == "CPU"
    assert d["inputs"] == [{"name": "x", "shape": ["B", 2], "dtype": "tensor(float)"},
                           {"name": "t", "shape": ["B"], "dtype": "tensor(int64)"}]
    assert d["outputs"][0]["name"] == "eps"
    assert d["info"]["T"] == 50 and d["info"]["dataset"] == "moons"
    assert d["metadata"]["diffview.schedule"] == '"cosine"'


def test_default_model_paths_and_missing_default(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFVIEW_RESOURCES", str(tmp_path))
    assert default_model_path() == tmp_path / "models" / "fashion_unet.onnx"
    assert default_model_path("moons") == tmp_path / "models" / "toy2d_moons.onnx"
    with pytest.raises(ModelError, match="toy2d_moons.onnx.*not found"):
        load_default("moons")
    (tmp_path / "models").mkdir()
    om.save(om.eps_model(("B", 2), info=POINTS_INFO), tmp_path / "models" / "toy2d_moons.onnx")
    assert load_default("moons", device="cpu").info.dataset == "moons"
