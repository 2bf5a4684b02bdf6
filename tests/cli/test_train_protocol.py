"""``diffview train --progress-json``: the events the app reads, --epochs and --device."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from diffview.cli import run_cli  # noqa: E402
from diffview.training.protocol import decode_array, decode_line  # noqa: E402
from tests.gui.test_settings_dialog import write_idx_folder  # noqa: E402


def events(text: str) -> list[dict]:
    out = [decode_line(line) for line in text.splitlines()]
    return [e for e in out if e is not None]


def test_progress_json_reports_every_step_previews_and_the_export(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = run_cli(["train", "--data", "toy:spiral", "--steps", "12", "--batch", "16",
                    "--hidden", "8", "--layers", "1", "--warmup", "0", "--preview-every", "4",
                    "--checkpoint-every", "6", "--run-dir", str(run_dir),
                    "--out", str(tmp_path / "m.onnx"), "--progress-json"])
    assert code == 0
    evs = events(capsys.readouterr().out)
    kinds = [e["event"] for e in evs]
    assert kinds[:2] == ["status", "started"] and kinds[-3:] == ["stopped", "exporting",
                                                                   "exported"]
    started = evs[1]
    assert started["total_steps"] == 12 and started["kind"] == "points"
    assert started["sample_shape"] == [2] and started["config"]["data"] == "toy:spiral"
    steps = [s for e in evs if e["event"] == "progress" for s in e["steps"]]
    assert steps == list(range(1, 13))  # every step's loss, once, in order
    losses = [v for e in evs if e["event"] == "progress" for v in e["losses"]]
    assert all(np.isfinite(losses))
    assert [e["step"] for e in evs if e["event"] == "checkpoint"] == [6, 12]
    previews = [e for e in evs if e["event"] == "preview"]
    assert [e["step"] for e in previews] == [4, 8, 12]
    for e in previews:  # inline samples equal the kept .npy file
        np.testing.assert_array_equal(decode_array(e["samples"]), np.load(e["path"]))
    assert evs[-3] == {"event": "stopped", "reason": "steps", "step": 12,
                       "checkpoint": str((run_dir / "checkpoint.pt").resolve())}
    assert list((run_dir / "previews").glob(".*.tmp")) == []


def test_epochs_become_steps_once_the_images_are_read(tmp_path, capsys):
    folder = write_idx_folder(tmp_path / "idx", n=16, size=8)
    code = run_cli(["train", "--data", str(folder), "--epochs", "0.5", "--batch", "4",
                    "--widths", "4,4,4", "--T", "10", "--run-dir", str(tmp_path / "r"),
                    "--progress-json", "--no-export"])  # exporting is the default now
    assert code == 0
    evs = events(capsys.readouterr().out)
    started = next(e for e in evs if e["event"] == "started")
    assert started["total_steps"] == 2  # ceil(0.5 * 16 / 4)
    assert evs[-1]["event"] == "stopped" and evs[-1]["step"] == 2


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "1"], "toy set draws fresh points"),
    (["--epochs", "0"], "epochs must be a number > 0"),
])
def test_impossible_length_is_refused(tmp_path, capsys, extra, message):
    code = run_cli(["train", "--data", "toy:moons", "--run-dir", str(tmp_path / "r"),
                    "--progress-json", *extra])
    assert code == 2
    captured = capsys.readouterr()
    err = [e for e in events(captured.out) if e["event"] == "error"]
    assert err and err[0]["stage"] == "config" and message in err[0]["message"]
    assert message in captured.err


def test_cuda_without_a_gpu_says_so(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = run_cli(["train", "--data", "toy:moons", "--device", "cuda",
                    "--run-dir", str(tmp_path / "r"), "--progress-json"])
    assert code == 2
    err = [e for e in events(capsys.readouterr().out) if e["event"] == "error"]
    assert "cannot use a CUDA device" in err[0]["message"] and "CPU" in err[0]["message"]


def test_a_failed_export_is_reported_as_an_error_event(tmp_path, capsys, monkeypatch):
    from diffview.training import export as export_mod

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_mod, "export_checkpoint", full_disk)
    out = tmp_path / "m.onnx"
    code = run_cli(["train", "--data", "toy:moons", "--steps", "2", "--batch", "8",
                    "--hidden", "8", "--layers", "1", "--warmup", "0",
                    "--run-dir", str(tmp_path / "r"), "--out", str(out), "--progress-json"])
    assert code == 1
    evs = events(capsys.readouterr().out)
    assert evs[-1]["event"] == "error" and evs[-1]["stage"] == "export"
    assert "export failed" in evs[-1]["message"] and "No space" in evs[-1]["message"]
    assert not out.exists() and list(tmp_path.glob(".m.onnx*")) == []


def test_an_output_path_that_is_a_folder_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "m.onnx"
    blocker.mkdir()
    code = run_cli(["train", "--data", "toy:moons", "--steps", "2", "--batch", "8",
                    "--hidden", "8", "--layers", "1", "--warmup", "0",
                    "--run-dir", str(tmp_path / "r"), "--out", str(blocker), "--progress-json"])
    assert code == 1
    evs = events(capsys.readouterr().out)
    assert evs[-1]["event"] == "error" and evs[-1]["stage"] == "config"
    assert not any(e["event"] == "step" for e in evs)      # nothing was trained
    assert blocker.is_dir()
