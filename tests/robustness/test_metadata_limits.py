"""Metadata is validated once, at load, with the same limits everywhere.

``diffview info`` and ``diffview sample`` print the same warning for an out-of-range value
(T = 10^9, T = 1, an absurd sample shape, an unknown SDE) and use the same fallback; a
malformed value is quoted by at most 80 characters plus "..."; training's config and the
metadata agree on the range of T.
"""

from __future__ import annotations

import json

import pytest

from diffview.cli import run_cli
from diffview.engine import ModelInfo, OnnxDenoiser
from diffview.engine.metadata import (
    MAX_SAMPLE_VALUES,
    MAX_T,
    MIN_T,
    SDE_NAMES,
    info_to_metadata,
    metadata_to_info,
    quote,
    validate_info,
)
from tests.engine import onnx_models as om

QUOTE_MAX = 80 + len("...") + 2  # the prefix, the ellipsis and repr's quotes


def _props(**changes: str) -> dict[str, str]:
    props = info_to_metadata(ModelInfo(sample_shape=(1, 4, 4)))
    props.update({f"diffview.{k}": v for k, v in changes.items()})
    return props


def _model_with(tmp_path, **changes: str):
    model = om.eps_model()
    om.helper.set_model_props(model, _props(**changes))
    return om.save(model, tmp_path / "m.onnx")


@pytest.mark.parametrize(("value", "words"), [
    ("1000000000", "1000000000"),
    ("1", "found 1;"),
    ("0", "found 0;"),
    ("-5", "found -5;"),
    (str(MAX_T + 1), str(MAX_T + 1)),
    ("1e9", "1000000000.0"),
])
def test_an_out_of_range_T_is_replaced_with_a_warning(value, words):
    info, warnings = metadata_to_info(_props(T=value), ModelInfo(sample_shape=(1, 4, 4)))
    assert info.T == 1000
    assert len(warnings) == 1
    assert f"expected a positive integer in {MIN_T}..{MAX_T}" in warnings[0]
    assert words in warnings[0]


@pytest.mark.parametrize("T", [MIN_T, 1000, MAX_T])
def test_the_ends_of_the_range_are_accepted(T):  # noqa: N803
    info, warnings = metadata_to_info(_props(T=str(T)))
    assert info.T == T and warnings == []


@pytest.mark.parametrize("value", ["1000000000", "1"])
def test_info_and_sample_say_the_same_thing(tmp_path, capsys, value):
    path = _model_with(tmp_path, T=value)
    assert run_cli(["info", str(path)]) == 0
    info_out = capsys.readouterr().out
    shown = [ln.split("warning", 1)[1].strip() for ln in info_out.splitlines()
             if ln.startswith("warning")]
    assert len(shown) == 1 and f"found {value};" in shown[0]
    assert "index 0..999" in info_out  # the fallback T is what info reports
    out = tmp_path / "g.png"
    assert run_cli(["sample", "--model", str(path), "--out", str(out), "--n", "2",
                    "--steps", "3", "--quiet"]) == 0
    sample_err = capsys.readouterr().err
    assert f"warning: {shown[0]}" in sample_err.splitlines()
    assert out.is_file()


def test_the_model_setter_and_the_writer_use_the_same_limits(tmp_path):
    for bad in (ModelInfo(T=10**9), ModelInfo(T=1), ModelInfo(sample_shape=(1, 10**5, 10**5)),
                ModelInfo(value_range=(-1e300, 1e300)), ModelInfo(dataset="x" * 5000)):
        with pytest.raises(ValueError, match="ModelInfo"):
            validate_info(bad)
        with pytest.raises(ValueError):
            info_to_metadata(bad)
    model = OnnxDenoiser(om.save(om.eps_model(), tmp_path / "ok.onnx"), device="cpu")
    with pytest.raises(ValueError, match="2..100000"):
        model.info = model.info.replace(T=10**9)


def test_training_and_metadata_agree_on_T():
    from diffview.training.config import ConfigError, TrainConfig

    for T in (MIN_T, MAX_T):  # noqa: N806
        TrainConfig(T=T)
        validate_info(ModelInfo(T=T))
    for T in (MIN_T - 1, MAX_T + 1):  # noqa: N806
        with pytest.raises(ConfigError):
            TrainConfig(T=T)
        with pytest.raises(ValueError):
            validate_info(ModelInfo(T=T))


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("sample_shape", "[1, 100000, 100000]", "1 x 100000 x 100000 = 10,000,000,000"),
    ("sample_shape", f"[{MAX_SAMPLE_VALUES + 1}]", "16,777,217"),
    ("sde", '{"name": "warp", "T": 1.0}', "'warp'"),
    ("sde", '{"name": "vp", "beta_max": 1e300}', "magnitude at most"),
    ("sde", '{"name": "vp", "T": 0}', "end time T > 0"),
    ("value_range", "[-1e300, 1e300]", "within +-1e+06"),
    ("training_steps", "1e30", "non-negative integer"),
    ("num_classes", "1000001", "0..100000"),
    ("dataset", json.dumps("d" * 5000), "at most 1000 characters"),
    ("class_names", json.dumps(["c"] * 200_000), "200,000 names"),
])
def test_absurd_values_are_named_and_replaced(key, value, needle):
    info, warnings = metadata_to_info(_props(**{key: value}), ModelInfo(sample_shape=(1, 4, 4)))
    assert any(f"diffview.{key}" in w and needle in w for w in warnings), warnings
    assert all(len(w) < 400 for w in warnings)
    validate_info(info)


@pytest.mark.parametrize("value", [
    "x" * 200_000,                                   # not JSON at all
    json.dumps("s" * 200_000),                       # a 200,000-character string
    json.dumps(list(range(40_000))),                 # a long list where a number belongs
    json.dumps({f"k{i}": i for i in range(20_000)}),  # an object where a number belongs
    "[" * 50_000 + "]" * 50_000,                     # deep nesting
])
def test_a_malformed_value_is_quoted_by_a_short_prefix(value):
    info, warnings = metadata_to_info(_props(T=value))
    assert info.T == 1000 and len(warnings) == 1
    warning = warnings[0]
    assert len(warning) < 250, len(warning)
    assert "..." in warning or "nest" in warning or "JSON" in warning


def test_a_value_over_a_megabyte_is_not_even_parsed():
    info, warnings = metadata_to_info(_props(extra=json.dumps({"blob": "z" * 2_000_000})))
    assert info.extra == {}
    assert "characters long, more than 1,000,000" in warnings[0] and len(warnings[0]) < 300


def test_quote_is_safe_for_any_value():
    assert quote("abc") == "'abc'"
    long = quote("a" * 1000)
    assert long.endswith("...") and len(long) <= QUOTE_MAX
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    assert len(quote(nested)) <= QUOTE_MAX  # no RecursionError
    assert len(quote({i: "v" * 500 for i in range(1000)})) <= QUOTE_MAX


def test_info_text_cuts_foreign_metadata_but_json_keeps_it(tmp_path, capsys):
    model = om.eps_model()
    om.helper.set_model_props(model, {**_props(), "producer_notes": "n" * 200_000,
                                      **{f"k{i:03d}": "v" for i in range(120)}})
    path = om.save(model, tmp_path / "m.onnx")
    assert run_cli(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) < 200
    assert "more entries (--json lists them all)" in text
    assert run_cli(["info", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["metadata"]["producer_notes"]) == 200_000


def test_sde_names_agree_with_core():
    from diffview.core.sde import SDES

    assert tuple(SDE_NAMES) == tuple(SDES)
