"""``diffview info``: the report, --json, and exit code 2 with one error line for a bad model."""

import json
import subprocess
import sys

import pytest

from diffview.cli import run_cli
from diffview.engine import ModelInfo
from tests.engine import onnx_models as om

INFO = ModelInfo(sample_shape=(1, 8, 8), schedule="cosine", T=500, dataset="fashion-mnist",
                 class_names=("a", "b", "c"), training_steps=1234, extra={"fid": 42.5})


@pytest.fixture
def model_path(tmp_path):
    return om.save(om.eps_model(("B", 1, 8, 8), info=INFO, props={"author": "tests"}),
                   tmp_path / "m.onnx")


def test_text_report(model_path, capsys):
    assert run_cli(["info", str(model_path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert str(model_path) in out
    assert "provider   CPU (requested cpu)" in out
    assert "x  [B, 1, 8, 8]  float32  (sample)" in out
    assert "t  [B]  int64  (timestep)" in out
    assert "eps  [B, 1, 8, 8]  float32  (epsilon)" in out
    assert "index 0..499, schedule cosine" in out
    assert "fashion-mnist, 3 classes, 1,234 training steps" in out
    assert '"fid": 42.5' in out and "author = tests" in out
    assert "warning" not in out


def test_json_report(model_path, capsys):
    assert run_cli(["info", str(model_path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["provider"] == "CPU"
    assert d["info"]["T"] == 500 and d["info"]["sample_shape"] == [1, 8, 8]
    assert [a["name"] for a in d["inputs"]] == ["x", "t"]
    assert d["outputs"][0]["shape"] == ["B", 1, 8, 8]


def test_missing_metadata_is_a_warning_not_an_error(tmp_path, capsys):
    path = om.save(om.eps_model(("B", 2)), tmp_path / "plain.onnx")
    assert run_cli(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning    the model has no diffview metadata" in out
    assert "kind       points, sample shape (2,)" in out


@pytest.mark.parametrize("content", [None, b"", b"just text\n"])
def test_bad_model_exits_2_with_one_line(tmp_path, capsys, content):
    path = tmp_path / "bad.onnx"
    if content is not None:
        path.write_bytes(content)
    assert run_cli(["info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ")


def test_entry_point_without_torch(model_path):
    code = ("import sys; from diffview.__main__ import main; rc = main(['info', sys.argv[1]]); "
            "assert 'torch' not in sys.modules and 'PySide6' not in sys.modules; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(model_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "(sample)" in proc.stdout
    assert proc.stderr == ""  # no onnxruntime CUDA fallback noise
