"""ModelInfo <-> ONNX metadata: round trip, defaults for missing keys, warnings for bad values."""

import json

import pytest

from diffview.engine.metadata import (
    METADATA_PREFIX,
    ModelInfo,
    info_to_metadata,
    metadata_to_info,
    set_onnx_metadata,
    validate_info,
)

POINTS_SDE = ModelInfo(
    kind="points",
    sample_shape=(2,),
    time_kind="continuous",
    sde={"name": "vp", "beta_min": 0.1, "beta_max": 20.0, "T": 1.0},
    value_range=(-4.0, 4.0),
    dataset="moons",
    training_steps=1234,
    extra={"architecture": "mlp", "hidden": [128, 128]},
)
IMAGE = ModelInfo(
    sample_shape=(3, 32, 32),
    schedule="cosine",
    T=400,
    dataset="fashion-mnist",
    class_names=("T-shirt/top", "Trouser"),
)


@pytest.mark.parametrize("info", [ModelInfo(), POINTS_SDE, IMAGE])
def test_round_trip_is_exact(info):
    props = info_to_metadata(info)
    assert all(k.startswith(METADATA_PREFIX) and isinstance(v, str) for k, v in props.items())
    back, warnings = metadata_to_info(props, ModelInfo())
    assert back == info
    assert warnings == []
    assert isinstance(back.sample_shape, tuple) and isinstance(back.class_names, tuple)


def test_values_are_json():
    props = info_to_metadata(IMAGE)
    assert json.loads(props["diffview.T"]) == 400
    assert json.loads(props["diffview.sample_shape"]) == [3, 32, 32]
    assert json.loads(props["diffview.schedule"]) == "cosine"


def test_no_metadata_gives_fallback_and_one_warning():
    fallback = ModelInfo(kind="points", sample_shape=(3,))
    info, warnings = metadata_to_info({"producer": "someone"}, fallback)
    assert info == fallback
    assert len(warnings) == 1 and "no diffview metadata" in warnings[0]


def test_missing_essential_key_warns_and_uses_fallback():
    props = info_to_metadata(IMAGE)
    del props["diffview.T"]
    del props["diffview.dataset"]  # descriptive only: no warning
    info, warnings = metadata_to_info(props, ModelInfo(T=77, sample_shape=(3, 32, 32)))
    assert info.T == 77 and info.schedule == "cosine" and info.dataset == "unknown"
    assert len(warnings) == 1 and "diffview.T" in warnings[0] and "missing" in warnings[0]


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("T", "0", "positive integer"),
        ("T", "12.5", "positive integer"),
        ("T", "true", "positive integer"),
        ("T", "not json", "not valid JSON"),
        ("schedule", '"wiggly"', "'wiggly'"),
        ("kind", '"voxels"', "'voxels'"),
        ("sample_shape", "[1, -28, 28]", "positive integers"),
        ("sample_shape", "[1, 28]", "1 (points) or 3"),
        ("value_range", "[1, -1]", "low < high"),
        ("value_range", "[0, NaN]", "low < high"),
        ("class_names", "[1, 2]", "list of strings"),
        ("sde", '{"beta_min": 1}', '"name"'),
        ("time_kind", '"sometimes"', "'sometimes'"),
        ("extra", "[1]", "an object"),
    ],
)
def test_bad_value_warns_and_keeps_fallback(key, value, needle):
    props = info_to_metadata(ModelInfo())
    props["diffview." + key] = value
    info, warnings = metadata_to_info(props, ModelInfo())
    assert getattr(info, key) == getattr(ModelInfo(), key)
    assert len(warnings) == 1
    assert f"diffview.{key}" in warnings[0] and needle in warnings[0]


def test_inconsistent_kind_and_shape_falls_back_to_inferred_shape():
    props = info_to_metadata(ModelInfo())
    props["diffview.kind"] = '"points"'  # but sample_shape says (1, 28, 28)
    fallback = ModelInfo(sample_shape=(1, 28, 28))
    info, warnings = metadata_to_info(props, fallback)
    assert info.kind == "image" and info.sample_shape == (1, 28, 28)
    assert any("inconsistent" in w for w in warnings)


def test_continuous_without_sde_falls_back_to_index():
    props = info_to_metadata(ModelInfo())
    props["diffview.time_kind"] = '"continuous"'
    info, warnings = metadata_to_info(props, ModelInfo())
    assert info.time_kind == "index" and info.sde is None
    assert any("needs an sde" in w for w in warnings)


@pytest.mark.parametrize(
    "bad",
    [
        ModelInfo(T=0),
        ModelInfo(schedule="nope"),
        ModelInfo(kind="points"),  # shape is still (1, 28, 28)
        ModelInfo(time_kind="continuous"),
        ModelInfo(extra={"obj": object()}),
    ],
)
def test_writing_invalid_info_raises(bad):
    with pytest.raises(ValueError, match="ModelInfo"):
        info_to_metadata(bad)


def test_validate_accepts_good_info():
    validate_info(POINTS_SDE)
    validate_info(IMAGE)


def test_replace_returns_changed_copy():
    info = ModelInfo()
    other = info.replace(T=10)
    assert other.T == 10 and info.T == 1000


def test_schedule_names_agree_with_core():
    from diffview.core.schedules import SCHEDULES
    from diffview.engine import metadata

    assert set(metadata._SCHEDULES) == set(SCHEDULES)


def test_set_onnx_metadata_replaces_only_diffview_keys():
    onnx = pytest.importorskip("onnx")
    model = onnx.ModelProto()
    onnx.helper.set_model_props(model, {"producer_note": "keep", "diffview.T": "5"})
    set_onnx_metadata(model, IMAGE)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["producer_note"] == "keep"
    assert props["diffview.T"] == "400"
    assert len(model.metadata_props) == len(props)  # no duplicate keys
    assert metadata_to_info(props)[0] == IMAGE


def test_numpy_scalars_are_written_as_numbers():
    import numpy as np

    info = ModelInfo(T=np.int64(200), sample_shape=(np.int64(1), 28, 28),
                     training_steps=np.int32(7), extra={"loss": np.float32(0.5)})
    props = info_to_metadata(info)
    assert props["diffview.T"] == "200" and props["diffview.training_steps"] == "7"
    assert metadata_to_info(props)[0].sample_shape == (1, 28, 28)


def test_deeply_nested_json_is_a_warning():
    props = info_to_metadata(ModelInfo())
    props["diffview.extra"] = "[" * 100000 + "]" * 100000
    info, warnings = metadata_to_info(props)
    assert info.extra == {} and len(warnings) == 1


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from([f"diffview.{f}" for f in ModelInfo.__dataclass_fields__]
                                       + ["other"]),
                       st.one_of(st.text(max_size=30),
                                 st.recursive(st.none() | st.booleans() | st.integers()
                                              | st.floats() | st.text(max_size=5),
                                              lambda c: st.lists(c, max_size=4)
                                              | st.dictionaries(st.text(max_size=4), c,
                                                                max_size=3),
                                              max_leaves=10).map(json.dumps))))
def test_decoder_never_raises_and_always_gives_a_valid_info(props):
    info, warnings = metadata_to_info(props, ModelInfo())
    validate_info(info)
    assert isinstance(warnings, list)
