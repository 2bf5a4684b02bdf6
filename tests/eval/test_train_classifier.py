"""The classifier's torch definition and ONNX export agree (tiny, no training)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from diffview.eval.classifier import FEATURE_DIM, FeatureClassifier


def test_export_round_trip_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from diffview.eval.train_classifier import build_net, export

    torch.manual_seed(0)
    net = build_net().eval()
    path = tmp_path / "clf.onnx"
    export(net, path, {"diffview.test_accuracy": "0"})
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    logits, feats = FeatureClassifier(path).run(images)
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)[:, None]
    with torch.no_grad():
        ref_logits, ref_feats = net(x)
    assert feats.shape == (5, FEATURE_DIM)
    np.testing.assert_allclose(logits, ref_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(feats, ref_feats.numpy(), atol=1e-4)
    assert FeatureClassifier(path).metadata["diffview.test_accuracy"] == "0"


def test_fid_and_sampling_modules_do_not_import_torch():
    code = ("import sys\n"
            "import diffview.eval, diffview.eval.fid, diffview.eval.generate\n"
            "import diffview.eval.classifier, diffview.cli.sample\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
