"""``diffview train`` end to end on tiny settings (a toy set and a tiny IDX folder)."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from diffview.cli import run_cli  # noqa: E402


def _write_idx_images(path, images: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, images.ndim)
    header += b"".join(struct.pack(">I", d) for d in images.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + images.astype(np.uint8).tobytes())


def _meta(path) -> dict:
    model = onnx.load(str(path))
    return {p.key: json.loads(p.value) for p in model.metadata_props}


def test_train_toy_set_and_export(tmp_path, capsys):
    out = tmp_path / "moons.onnx"
    code = run_cli(["train", "--data", "toy:moons", "--steps", "20", "--batch", "32",
                    "--hidden", "16", "--layers", "2", "--warmup", "0",
                    "--run-dir", str(tmp_path / "run"), "--out", str(out), "--log-every", "5"])
    assert code == 0
    text = capsys.readouterr().out
    assert "20/20" in text and "exported" in text
    meta = _meta(out)
    assert meta["diffview.kind"] == "points"
    assert meta["diffview.time_kind"] == "continuous"
    assert meta["diffview.sde"]["name"] == "vp"
    assert meta["diffview.training_steps"] == 20
    assert (tmp_path / "run" / "checkpoint.pt").is_file()


def test_train_tiny_idx_folder_then_resume(tmp_path, capsys):
    rng = np.random.default_rng(0)
    folder = tmp_path / "tiny-idx"
    folder.mkdir()
    _write_idx_images(folder / "train-images-idx3-ubyte.gz",
                      rng.integers(0, 256, size=(16, 8, 8)))
    _write_idx_images(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, size=16))
    run_dir = tmp_path / "run"
    common = ["--data", str(folder), "--batch", "4", "--widths", "4,8,8", "--T", "20",
              "--run-dir", str(run_dir), "--quiet"]
    assert run_cli(["train", *common, "--steps", "3"]) == 0
    out = tmp_path / "img.onnx"
    assert run_cli(["train", *common, "--steps", "5", "--resume", str(run_dir / "checkpoint.pt"),
                    "--out", str(out)]) == 0
    meta = _meta(out)
    assert meta["diffview.sample_shape"] == [1, 8, 8]
    assert meta["diffview.T"] == 20
    assert meta["diffview.training_steps"] == 5
    assert meta["diffview.extra"]["widths"] == [4, 8, 8]
    assert "stopped (steps) at step 5" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--data", "toy:moons", "--lr", "-1"], "lr must be in (0, 1]"),
        (["--data", "toy:moons", "--batch", "0"], "batch_size must be an integer >= 1"),
        (["--data", "toy:nowhere", "--steps", "1"], "unknown toy set 'nowhere'"),
        (["--data", "/no/such/folder", "--steps", "1"], "does not exist"),
    ],
)
def test_bad_options_exit_with_a_message(argv, needle, tmp_path, capsys):
    code = run_cli(["train", *argv, "--run-dir", str(tmp_path / "run")])
    assert code in (1, 2)
    assert needle in capsys.readouterr().err


def test_ctrl_c_writes_a_checkpoint_and_exits_130(tmp_path):
    import signal
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "diffview", "train", "--data", "toy:rings", "--steps", "1000000",
         "--batch", "16", "--hidden", "8", "--layers", "1", "--checkpoint-every", "0",
         "--run-dir", str(run_dir), "--log-every", "1", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # wait until training has really started
            if line.startswith("[") and "/1000000" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "writing a checkpoint" in err
    assert "stopped (cancelled)" in out
    from diffview.training.checkpoint import load_checkpoint

    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] >= 1


def test_export_only_writes_the_model_without_training(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_cli(["train", "--data", "toy:spiral", "--steps", "3", "--batch", "8",
                    "--hidden", "8", "--layers", "1", "--run-dir", str(run_dir),
                    "--quiet"]) == 0
    ckpt = run_dir / "checkpoint.pt"
    before = ckpt.read_bytes()
    out = tmp_path / "spiral.onnx"
    assert run_cli(["train", "--data", "toy:spiral", "--resume", str(ckpt), "--export-only",
                    "--out", str(out)]) == 0
    assert ckpt.read_bytes() == before
    assert _meta(out)["diffview.training_steps"] == 3
    assert run_cli(["train", "--data", "toy:spiral", "--export-only"]) == 2
    assert "--export-only needs --resume" in capsys.readouterr().err
    # the checkpoint records its data set: --data may be left out with --resume
    out2 = tmp_path / "again.onnx"
    assert run_cli(["train", "--resume", str(ckpt), "--export-only", "--out", str(out2)]) == 0
    assert out2.read_bytes() == out.read_bytes()
    assert run_cli(["train", "--steps", "3"]) == 2
    assert "--data is required" in capsys.readouterr().err


@pytest.mark.parametrize("exc", [
    RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB"),
    MemoryError(),
])
def test_out_of_memory_is_a_message_not_a_traceback(exc, tmp_path, capsys, monkeypatch):
    import diffview.training.loop as loop

    def fake_train(*_a, **_k):
        raise exc
        yield  # pragma: no cover - a generator like the real one

    monkeypatch.setattr(loop, "train", fake_train)
    code = run_cli(["train", "--data", "toy:moons", "--steps", "5",
                    "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "m.onnx")])
    assert code == 1
    err = capsys.readouterr().err
    assert "out of memory" in err and "lower --batch" in err
    assert "Traceback" not in err


def test_other_runtime_errors_are_not_hidden(tmp_path, monkeypatch):
    import diffview.training.loop as loop

    def fake_train(*_a, **_k):
        raise RuntimeError("a bug")
        yield  # pragma: no cover

    monkeypatch.setattr(loop, "train", fake_train)
    with pytest.raises(RuntimeError, match="a bug"):
        run_cli(["train", "--data", "toy:moons", "--steps", "5",
                 "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "m.onnx")])


def test_without_torch_train_says_so(tmp_path, capsys, monkeypatch):
    import diffview.cli.train as train_cli

    monkeypatch.setattr(train_cli, "torch_available", lambda: False)
    code = run_cli(["train", "--data", "toy:moons", "--steps", "3",
                    "--run-dir", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert "training needs PyTorch" in err and "pip install" in err
    assert not (tmp_path / "run").exists()
