"""diffview.validate: the checks session parsing is built from (the issue's session examples:
``"panels": [1, 2, 3]``, ``"model_path": 123``, deep nesting, ``"frame": 1e20``, and the
memory estimate of a 100,000-walker x 5,000-step random walk)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from diffview import validate as v
from diffview.validate import (
    BudgetError,
    ValidationError,
    check_budget,
    expect_bool,
    expect_choice,
    expect_dict,
    expect_float,
    expect_int,
    expect_keys,
    expect_list,
    expect_str,
    json_depth,
    load_json_limited,
    optional,
    short_repr,
)


def _message(check, *args, **kw) -> str:
    with pytest.raises(ValidationError) as err:
        check(*args, **kw)
    text = str(err.value)
    assert "\n" not in text and len(text) < 300, text
    return text


@pytest.mark.parametrize(("value", "found"), [
    (1e20, "found 1e+20"),                 # the issue's absurd frame
    (10001, "found 10001"),
    (-1, "found -1"),
    (2.5, "found 2.5"),
    ("7", "found a string '7'"),
    (True, "found a boolean true"),
    (None, "found null"),
    ([1], "found a list [1]"),
    (float("nan"), "found nan"),
])
def test_expect_int_names_the_path_the_range_and_the_value(value, found):
    text = _message(expect_int, value, "panels.sampling.frame", 0, 10000)
    assert text == f"panels.sampling.frame: expected an integer in 0..10000, {found}"


def test_expect_int_accepts_what_it_should():
    assert expect_int(5, "n", 0, 10) == 5
    assert expect_int(3.0, "n") == 3 and isinstance(expect_int(3.0, "n"), int)
    assert expect_int(10**30, "n") == 10**30  # unbounded by default
    assert "expected an integer >= 1" in _message(expect_int, 0, "n", 1)


def test_expect_float():
    assert expect_float(0.5, "x", 0, 1) == 0.5 and expect_float(1, "x") == 1.0
    for bad in (float("inf"), float("nan"), "0.5", True, 2.0):
        assert _message(expect_float, bad, "sde.beta", 0, 1).startswith(
            "sde.beta: expected a finite number in [0, 1]")
    assert "(0, 1]" in _message(expect_float, 0.0, "eta", 0, 1, lo_open=True)


def test_types_of_the_issue_session_examples():
    session = json.loads('{"panels": [1, 2, 3], "model_path": 123}')
    assert _message(expect_dict, session["panels"], "panels") == \
        "panels: expected an object, found a list [1, 2, 3]"
    assert _message(expect_str, session["model_path"], "model_path") == \
        "model_path: expected a string, found 123"


def test_strings_choices_and_booleans():
    assert expect_str("vp", "sde") == "vp"
    assert "at most 10 characters, found 200,000" in _message(expect_str, "x" * 200_000, "n",
                                                              max_len=10)
    assert "non-empty" in _message(expect_str, "", "n", allow_empty=False)
    assert "matching" in _message(expect_str, "a b", "name", pattern=r"\w+")
    assert expect_choice("ddim", "sampler", ("ddpm", "ddim")) == "ddim"
    text = _message(expect_choice, "euler", "panels.sampling.sampler", ("ddpm", "ddim"))
    assert text == "panels.sampling.sampler: expected one of 'ddpm', 'ddim'; found a string 'euler'"
    assert "expected one of 0, 1" in _message(expect_choice, True, "k", (0, 1))
    assert expect_bool(False, "b") is False
    assert "true or false" in _message(expect_bool, 1, "b")


def test_lists_and_objects_with_item_paths():
    assert expect_list([1, 2], "xs", lambda x, w: expect_int(x, w, 0, 5)) == [1, 2]
    text = _message(expect_list, [1, 2, 99], "drawing.points", lambda x, w: expect_int(x, w, 0, 5))
    assert text.startswith("drawing.points[2]: expected an integer in 0..5, found 99")
    assert "expected 0..100,000 items, found 200,000" in _message(
        expect_list, [0] * 200_000, "drawing.points")
    assert "string keys" in _message(expect_dict, {1: 2}, "d")
    obj = {"a": 1, "b": 2}
    assert expect_keys(obj, "s", required=["a"], allowed=["b"]) is obj
    assert _message(expect_keys, obj, "s", required=["a", "c"]) == 's: missing "c"'
    assert 'unknown key(s) "b"' in _message(expect_keys, obj, "s", required=["a"], allowed=[])


def test_optional_settings():
    panel = {"steps": 50, "eta": None}
    assert optional(panel, "steps", "panels.sampling", expect_int, 20, 1, 1000) == 50
    assert optional(panel, "eta", "panels.sampling", expect_float, 0.0) == 0.0
    assert optional(panel, "missing", "panels.sampling", expect_int, 7) == 7
    with pytest.raises(ValidationError, match=r"^panels\.sampling\.steps: expected an integer"):
        optional({"steps": 1e20}, "steps", "panels.sampling", expect_int, 20, 1, 1000)


def test_short_repr_is_short_for_anything():
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    assert len(short_repr(nested)) <= 83
    assert len(short_repr({str(i): "x" * 10_000 for i in range(10_000)})) <= 83
    assert short_repr("x" * 1000).endswith("...")
    assert short_repr([1, 2]) == "[1, 2]"


# -------------------------------------------------------------------------------- JSON files


def test_json_depth_skips_strings_and_counts_nesting():
    assert json_depth('{"a": [1, {"b": "[[[[{{{"}]}') == 3
    assert json_depth("[" * 100_000 + "]" * 100_000) == 100_000
    assert json_depth('"just a string"') == 0


@pytest.mark.parametrize("depth", [100, 100_000, 1_000_000])
def test_deep_nesting_is_refused_without_recursion_error(tmp_path, depth):
    path = tmp_path / "deep.diffview.json"
    path.write_text('{"panels": ' + "[" * depth + "]" * depth + "}")
    text = _message(load_json_limited, path, max_bytes=10**7)
    assert text == f"{path}: nested {depth + 1:,} levels deep, more than the 32 allowed"


def test_a_nesting_just_within_the_limit_loads(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text("[" * 32 + "]" * 32)
    assert load_json_limited(path) is not None


@pytest.mark.parametrize(("content", "words"), [
    (b'{"frame": NaN}', "NaN is not valid JSON"),
    (b'{"frame": Infinity}', "Infinity is not valid JSON"),
    (b'{"frame": 1,}', "not valid JSON: Expecting property name enclosed in double quotes at "
                       "line 1, column 13"),
    (b"\xff\xfe{}", "not UTF-8 text"),
    (b"", "not valid JSON"),
])
def test_malformed_files_are_one_line(tmp_path, content, words):
    path = tmp_path / "s.json"
    path.write_bytes(content)
    assert words in _message(load_json_limited, path)


def test_size_missing_and_folder(tmp_path):
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"points": [[0.0, 0.0]] * 10_000}))
    assert "more than the 1,000 allowed" in _message(load_json_limited, big, max_bytes=1000)
    assert "file not found" in _message(load_json_limited, tmp_path / "nope.json")
    assert "is a folder" in _message(load_json_limited, tmp_path)
    assert load_json_limited(big)["points"][0] == [0.0, 0.0]


def test_a_deep_file_does_not_crash_a_fresh_interpreter(tmp_path):
    """RecursionError can also be a C stack overflow in json's decoder: check in a child."""
    path = tmp_path / "deep.json"
    path.write_text("[" * 2_000_000 + "]" * 2_000_000)
    code = ("import sys\nfrom diffview.validate import load_json_limited, ValidationError\n"
            "try:\n    load_json_limited(sys.argv[1], max_bytes=10**8)\n"
            "except ValidationError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "levels deep" in proc.stdout


# ------------------------------------------------------------------------------------ memory


def test_check_budget_refuses_the_issue_random_walk(monkeypatch):
    monkeypatch.setattr(v, "available_memory", lambda: 23 * 2**30)  # the issue's 23 GB machine
    walkers, steps = 100_000, 5_000
    nbytes = walkers * steps * 8 * 5  # a few float64 arrays of (steps, walkers)
    with pytest.raises(BudgetError) as err:
        check_budget(nbytes, f"a random walk of {walkers:,} walkers x {steps:,} steps")
    text = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in text
    assert text == ("a random walk of 100,000 walkers x 5,000 steps needs about 18.6 GiB of "
                    "memory, more than the 11.5 GiB budget (half of the 23.0 GiB available); "
                    "ask for less")
    check_budget(walkers * 500 * 8, "a walk of 500 steps")  # 0.4 GB: fine


def test_check_budget_with_an_explicit_budget_and_odd_estimates(monkeypatch):
    check_budget(100, "x", budget=100)
    with pytest.raises(BudgetError, match="needs about 191 MiB of memory, more than the 95 MiB"):
        check_budget(200 * 10**6, "a drawing of 200,000 points", budget=100 * 10**6)
    with pytest.raises(BudgetError, match="an unbounded amount"):
        check_budget(float("inf"), "x", budget=10)
    with pytest.raises(TypeError):
        check_budget("lots", "x")
    monkeypatch.setattr(v, "available_memory", lambda: None)
    check_budget(10**15, "unknown machine")  # no information: no refusal


def test_available_memory_reads_meminfo():
    free = v.available_memory()
    assert free is None or free > 0
    budget = v.memory_budget()
    assert budget is None or 0 < budget <= free
