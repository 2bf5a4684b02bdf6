"""``diffview sample`` and ``diffview train`` with absurd option values.

Each case must end with a one-line message that names the option, a nonzero exit status, no
traceback, and no output file. Most cases run in-process (an exception escaping ``run_cli``
fails the test, so "no traceback" is checked too); one case per command runs the real entry
point in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from diffview.cli import run_cli
from diffview.engine import ModelInfo
from tests.engine import onnx_models as om


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    info = ModelInfo(kind="image", sample_shape=(1, 8, 8))  # with metadata: no warning line
    return om.save(om.eps_model(("B", 1, 8, 8), info=info),
                   tmp_path_factory.mktemp("m") / "tiny.onnx")


SAMPLE_CASES = [
    (["--steps", "0"], "--steps must be at least 1"),
    (["--steps", "-7"], "--steps must be at least 1"),
    (["--n", "-3"], "--n must be at least 1"),
    (["--n", "0"], "--n must be at least 1"),
    (["--eta", "5"], "--eta must be in [0, 1]"),
    (["--eta", "nan"], "--eta must be in [0, 1]"),
    (["--batch", "1000000000"], "--batch must be in 1..4096"),
    (["--batch", "-1"], "--batch must be in 1..4096"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--steps", "1001"], "at most the model's T = 1000"),
    (["--n", str(10**12)], "--n 1000000000000 needs about"),
    (["--clip-x0", "0"], "--clip-x0 must be positive"),
    (["--scale", "100"], "--scale must be in 1..16"),
]


@pytest.mark.parametrize(("args", "needle"), SAMPLE_CASES,
                         ids=[" ".join(a) for a, _ in SAMPLE_CASES])
def test_sample_refuses_absurd_values(tiny_model, tmp_path, capsys, args, needle):
    out = tmp_path / "grid.png"
    code = run_cli(["sample", "--model", str(tiny_model), "--out", str(out), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and needle in err, err
    assert len(err.splitlines()) == 1  # one line, no traceback
    assert not out.exists()


def test_sample_smallest_valid_values_work(tiny_model, tmp_path, capsys):
    """At the limits (1 sample, 1 step, batch 1, eta 1, seed 0) the command succeeds."""
    out = tmp_path / "grid.png"
    assert run_cli(["sample", "--model", str(tiny_model), "--out", str(out), "--quiet",
                    "--n", "1", "--steps", "1", "--batch", "1", "--eta", "1",
                    "--seed", "0"]) == 0
    assert out.stat().st_size > 0


TRAIN_CASES = [
    (["--steps", "0"], "steps must be an integer >= 1"),
    (["--steps", "-4"], "steps must be an integer >= 1"),
    (["--batch", "1000000000"], "batch_size must be at most 65536"),
    (["--batch", "0"], "batch_size must be an integer >= 1"),
    (["--T", "1"], "T must be an integer >= 2"),
    (["--T", "1000000"], "T must be at most 100000"),
    (["--lr", "5"], "lr must be in (0, 1]"),
    (["--ema", "1"], "ema must be in [0, 1)"),
    (["--seed", "-1"], "seed must be an integer >= 0"),
    (["--max-minutes", "0"], "max_minutes must be > 0"),
]


@pytest.mark.parametrize(("args", "needle"), TRAIN_CASES,
                         ids=[" ".join(a) for a, _ in TRAIN_CASES])
def test_train_refuses_absurd_values(tmp_path, capsys, args, needle):
    out = tmp_path / "m.onnx"
    run_dir = tmp_path / "run"
    code = run_cli(["train", "--data", "toy:moons", "--out", str(out), "--run-dir",
                    str(run_dir), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert needle in err, err
    assert "Traceback" not in err
    assert not out.exists()
    assert not (run_dir / "checkpoint.pt").exists()


@pytest.mark.parametrize("argv", [
    ["sample", "--model", "{model}", "--out", "{tmp}/g.png", "--batch", "1000000000"],
    ["train", "--data", "toy:moons", "--out", "{tmp}/m.onnx", "--run-dir", "{tmp}/run",
     "--batch", "1000000000"],
], ids=["sample", "train"])
def test_entry_point_prints_no_traceback(tiny_model, tmp_path, argv):
    argv = [a.format(model=tiny_model, tmp=tmp_path) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "diffview", *argv], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "batch" in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.onnx"))
