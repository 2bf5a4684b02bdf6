"""OnnxDenoiser with a class-label input: conditional models load and run, unconditional ones are
unchanged, and a wrong label input or label is refused with one line."""

import numpy as np
import pytest
from onnx import TensorProto

from diffview.engine import ModelError, ModelInfo
from diffview.engine.onnx_denoiser import OnnxDenoiser
from tests.engine import onnx_models as om

COND = ModelInfo(sample_shape=(1, 4, 4), num_classes=10, null_class=10,
                 class_names=tuple(f"c{k}" for k in range(10)))


def _load(tmp_path, model, name="m.onnx"):
    return OnnxDenoiser(om.save(model, tmp_path / name), device="cpu")


def test_conditional_model_uses_its_labels(tmp_path, rng):
    model = _load(tmp_path, om.cond_eps_model(info=COND))
    assert model.label_input == "labels" and model.input_names == ("x", "t")
    assert model.info.conditional and model.info.null_class == 10
    x = rng.standard_normal((5, 1, 4, 4)).astype(np.float32)
    t = rng.integers(0, 1000, 5)
    y = np.array([0, 3, 9, 10, 1])
    np.testing.assert_allclose(model.predict_eps(x, t, y), om.expected_cond_eps(x, t, y),
                               rtol=1e-6, atol=1e-4)
    # no labels: the null class for every row (the unconditional model)
    np.testing.assert_allclose(model.predict_eps(x, t), om.expected_cond_eps(x, t, 10),
                               rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(model.predict_eps(x, t, 4), om.expected_cond_eps(x, t, 4),
                               rtol=1e-6, atol=1e-4)
    assert model.describe()["label_input"] == "labels"


def test_fixed_batch_conditional_model_chunks_labels(tmp_path, rng):
    model = _load(tmp_path, om.cond_eps_model(sample_dims=(2, 1, 4, 4), info=COND))
    assert model.fixed_batch == 2
    x = rng.standard_normal((5, 1, 4, 4)).astype(np.float32)
    y = np.array([1, 2, 3, 4, 5])
    np.testing.assert_allclose(model.predict_eps(x, 7, y), om.expected_cond_eps(x, 7, y),
                               rtol=1e-6, atol=1e-4)


def test_unconditional_model_unchanged_and_refuses_labels(tmp_path, rng):
    model = _load(tmp_path, om.eps_model())
    assert model.label_input is None and not model.info.conditional
    x = rng.standard_normal((3, 1, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict_eps(x, 5), om.expected_eps(x, 5), atol=1e-5)
    with pytest.raises(ValueError, match="unconditional"):
        model.predict_eps(x, 5, np.zeros(3, np.int64))


def test_class_metadata_on_an_unconditional_graph_is_dropped(tmp_path):
    model = _load(tmp_path, om.eps_model(info=COND))
    assert not model.info.conditional
    assert any("no class-label input" in w for w in model.metadata_warnings)


@pytest.mark.parametrize("bad", [11, -1, 200])
def test_label_out_of_range_refused(tmp_path, bad):
    model = _load(tmp_path, om.cond_eps_model(info=COND))
    x = np.zeros((2, 1, 4, 4), np.float32)
    with pytest.raises(ValueError) as err:
        model.predict_eps(x, 3, np.array([0, bad]))
    text = str(err.value)
    assert f"class label {bad} is out of range 0..10" in text and "\n" not in text


def test_float_labels_refused(tmp_path):
    model = _load(tmp_path, om.cond_eps_model(info=COND))
    with pytest.raises(ValueError, match="class labels must be integers"):
        model.predict_eps(np.zeros((2, 1, 4, 4), np.float32), 3, np.array([0.0, 1.0]))


def test_label_input_of_wrong_dtype_refused(tmp_path):
    path = om.save(om.cond_eps_model(label_type=TensorProto.FLOAT, info=COND),
                   tmp_path / "f.onnx")
    with pytest.raises(ModelError) as err:
        OnnxDenoiser(path, device="cpu")
    text = str(err.value)
    assert "expected int64 class labels" in text and "'labels'" in text
    assert "tensor(float)" in text and "\n" not in text


def test_diffusers_signature_loads_without_metadata(tmp_path, rng):
    """diffusers' UNet2DModel with class embeddings exports sample, timestep, class_labels;
    without diffview metadata the class count comes from the embedding table's rows."""
    model = _load(tmp_path, om.cond_eps_model(rows=5, names=("sample", "timestep",
                                                               "class_labels")))
    assert model.input_names == ("sample", "timestep") and model.label_input == "class_labels"
    assert model.info.num_classes == 4 and model.info.null_class == 4
    assert any("embedding has 5 rows" in w for w in model.metadata_warnings)
    x = rng.standard_normal((3, 1, 4, 4)).astype(np.float32)
    y = np.array([0, 2, 4])
    np.testing.assert_allclose(model.predict_eps(x, 9, y), om.expected_cond_eps(x, 9, y),
                               rtol=1e-6, atol=1e-4)


def test_label_found_by_type_when_names_say_nothing(tmp_path, rng):
    """A float32 time and an int64 input with uninformative names: the int64 one is the label."""
    model = _load(tmp_path, om.cond_eps_model(names=("a", "b", "c"),
                                              time_type=TensorProto.FLOAT, info=COND))
    assert model.input_names == ("a", "b") and model.label_input == "c"


def test_ambiguous_rank1_inputs_refused(tmp_path):
    path = om.save(om.cond_eps_model(names=("a", "b", "c"), info=COND), tmp_path / "amb.onnx")
    with pytest.raises(ModelError, match="cannot tell the timestep from the class-label"):
        OnnxDenoiser(path, device="cpu")
