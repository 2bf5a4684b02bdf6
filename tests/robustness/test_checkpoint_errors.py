"""A damaged checkpoint gives one line naming what is wrong, under ``--resume`` and
``--export-only``: a missing key, a config of the wrong type, a non-integer step, a corrupt
random-generator state, weights that do not fit the network (torch's 17-line message)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from diffview.cli import run_cli  # noqa: E402
from diffview.training.checkpoint import CheckpointError, load_checkpoint  # noqa: E402

NET = ["--hidden", "8", "--layers", "1"]
TRAIN = ["train", "--data", "toy:moons", "--batch", "8", *NET, "--quiet"]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("good")
    assert run_cli([*TRAIN, "--steps", "2", "--run-dir", str(run_dir)]) == 0
    return run_dir / "checkpoint.pt"


def _damaged(good, tmp_path, change) -> object:
    state = torch.load(good, weights_only=True)
    change(state)
    path = tmp_path / "damaged.pt"
    torch.save(state, path)
    return path


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _resume(path, tmp_path, *extra):
    return run_cli([*TRAIN, "--steps", "4", "--resume", str(path),
                    "--run-dir", str(tmp_path / "run"), *extra])


def _export(path, tmp_path):
    return run_cli(["train", "--resume", str(path), "--export-only",
                    "--out", str(tmp_path / "m.onnx")])


def _drop(key):
    return lambda s: s.pop(key)


def _set(key, value):
    return lambda s: s.__setitem__(key, value)


DAMAGE = {
    # name: (change, words in the message, also refused by --export-only)
    "no model": (_drop("model"), "'model'", True),
    "no ema": (_drop("ema"), "'ema' missing", True),
    "no optimizer": (_drop("optimizer"), "'optimizer' missing (needed to resume)", False),
    "no step": (_drop("step"), "'step' missing", True),
    "no numpy_rng": (_drop("numpy_rng"), "'numpy_rng' missing", False),
    "config is a list": (_set("config", [1, 2, 3]), "'config' must be a dict", True),
    "config is text": (_set("config", "toy:moons"), "'config' must be a dict", True),
    "config with a string step count": (
        lambda s: s["config"].__setitem__("steps", "many"), "steps must be an integer", True),
    "config with an unknown option": (
        lambda s: s["config"].__setitem__("wings", 2), "unknown training options: wings", True),
    "config with widths as a number": (
        lambda s: s["config"].__setitem__("widths", 5), "training options are not valid", True),
    "step 2.5": (_set("step", 2.5), "'step' must be a non-negative integer, found 2.5", True),
    "step as text": (_set("step", "3"), "found '3'", True),
    "step True": (_set("step", True), "found True", True),
    "step -1": (_set("step", -1), "found -1", True),
    "numpy_rng a number": (_set("numpy_rng", 42), "'numpy_rng' is not a valid PCG64", False),
    "numpy_rng of another generator": (
        lambda s: s["numpy_rng"].__setitem__("bit_generator", "MT19937"), "PCG64", False),
    "numpy_rng with a text state": (
        lambda s: s["numpy_rng"]["state"].__setitem__("state", "x"), "PCG64", False),
    "torch_gen too short": (
        _set("torch_gen", torch.zeros(10, dtype=torch.uint8)), "'torch_gen' is not a valid",
        False),
    "torch_gen of floats": (
        _set("torch_gen", torch.zeros(5056)), "'torch_gen' is not a valid", False),
    "weights are numbers": (_set("ema", {"w": 1.0}), "'ema' must be a state dict", True),
    "sample_shape of text": (_set("sample_shape", ["2"]), "'sample_shape' must be", True),
    "optimizer without groups": (
        _set("optimizer", {"state": {}, "param_groups": []}), "optimizer", False),
    "elapsed infinite": (_set("elapsed_s", float("inf")), "'elapsed_s' must be", False),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_resume_from_a_damaged_checkpoint_is_one_line(good, tmp_path, capsys, name):
    change, words, _ = DAMAGE[name]
    path = _damaged(good, tmp_path, change)
    assert _resume(path, tmp_path) in (1, 2)
    line = _one_line(capsys)
    assert words in line and str(path) in line, line
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.parametrize("name", [n for n, (_, _, export) in DAMAGE.items() if export])
def test_export_only_from_a_damaged_checkpoint_is_one_line(good, tmp_path, capsys, name):
    change, words, _ = DAMAGE[name]
    path = _damaged(good, tmp_path, change)
    assert _export(path, tmp_path) in (1, 2)
    line = _one_line(capsys)
    assert words in line and str(path) in line, line
    assert not (tmp_path / "m.onnx").exists()


def test_export_only_does_not_need_the_training_state(good, tmp_path, capsys):
    def strip(s):
        for key in ("optimizer", "numpy_rng", "torch_gen"):
            s.pop(key)
    path = _damaged(good, tmp_path, strip)
    assert _export(path, tmp_path) == 0
    assert (tmp_path / "m.onnx").is_file()


def test_a_shape_mismatch_on_resume_is_one_line_not_17(good, tmp_path, capsys):
    assert _resume(good, tmp_path, "--hidden", "16") == 1
    line = _one_line(capsys)
    assert "the model weights do not fit the network" in line
    assert "size mismatch for" in line and "checkpoint [8" in line and "more)" in line
    assert "--hidden" in line


def test_a_shape_mismatch_on_export_is_one_line(good, tmp_path, capsys):
    path = _damaged(good, tmp_path, lambda s: s["config"].__setitem__("layers", 3))
    assert _export(path, tmp_path) == 1
    line = _one_line(capsys)
    assert "the EMA weights do not fit the network" in line and "missing weight(s)" in line


def test_the_api_says_the_same(good, tmp_path):
    path = _damaged(good, tmp_path, _set("step", 2.5))
    with pytest.raises(CheckpointError, match="'step' must be a non-negative integer"):
        load_checkpoint(path, purpose="export")
    with pytest.raises(CheckpointError, match="'step' must be"):
        load_checkpoint(path)  # a field that is there is checked whatever the purpose
    assert load_checkpoint(good, purpose="resume")["step"] == 2
