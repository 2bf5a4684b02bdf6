"""``python -m diffview.eval.fid`` end to end on an exact per-pixel Gaussian model of 28x28 images.

That model draws every pixel independently from a normal fitted to real garments: blurry blobs
that no classifier mistakes for clothes, so its FID must sit far above the real-data floor.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffview.core.data import bundled_samples, to_model_range
from diffview.eval.fid import run
from tests.eval.gaussian_model import save_gaussian_model


@pytest.fixture(scope="module")
def blob_model(tmp_path_factory):
    x = to_model_range(bundled_samples().images).astype(np.float64)  # (N, 1, 28, 28)
    path = tmp_path_factory.mktemp("models") / "blobs.onnx"
    return save_gaussian_model(path, x.mean(0), np.maximum(x.std(0), 0.02))


def test_generated_blobs_score_far_above_the_real_floor(blob_model, fashion_dir, tmp_path,
                                                        capsys):
    out = tmp_path / "fid.json"
    samples = tmp_path / "s.npy"
    code = run(["--model", str(blob_model), "--data", str(fashion_dir), "--n", "40",
                "--steps", "5", "--seed", "3", "--json", str(out),
                "--save-samples", str(samples)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["n_test"] == 10_000 and sum(result["class_histogram"]) == 40
    assert result["fid"] > 3 * result["fid_floor_real_train"] > 0
    assert np.load(samples).shape == (40, 28, 28)
    text = capsys.readouterr().out
    assert "FID" in text and "Ankle boot" in text and "floor" in text


def test_real_images_as_samples_score_near_the_floor(fashion_dir, tmp_path):
    real = bundled_samples().images[:100]  # test images: same distribution as the reference
    np.save(tmp_path / "real.npy", real)
    out = tmp_path / "fid.json"
    assert run(["--samples", str(tmp_path / "real.npy"), "--data", str(fashion_dir),
                "--n", "100", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["fid"] < 2 * result["fid_floor_real_train"]
    assert (np.array(result["class_histogram"]) > 0).sum() == 10


def test_errors_exit_2(tmp_path, capsys):
    assert run(["--samples", "x.npy", "--data", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    np.save(tmp_path / "f.npy", np.zeros((5, 28, 28), np.float32))
    assert run(["--samples", str(tmp_path / "f.npy"), "--data", str(tmp_path)]) == 2
    assert "uint8" in capsys.readouterr().err
    (tmp_path / "empty.npy").write_bytes(b"")
    assert run(["--samples", str(tmp_path / "empty.npy"), "--data", str(tmp_path)]) == 2
    assert "not a readable .npy" in capsys.readouterr().err
