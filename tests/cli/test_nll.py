"""``diffview nll``: the JSON equals the run it drives, both methods, and one-line errors."""

import json
import struct

import numpy as np
import pytest

from diffview.cli import run_cli
from diffview.engine import ModelInfo, OnnxDenoiser
from diffview.runs.base import run_to_end
from diffview.runs.likelihood import ElboSpec, OdeSpec, run_elbo, run_ode_nll
from tests.engine import onnx_models as om

T = 10
INFO = ModelInfo(sample_shape=(1, 4, 4), schedule="linear", T=T, dataset="tests")
KEYS = {"bits_per_dim", "stderr", "n", "method", "variance", "prior_bpd", "decoder_bpd",
        "terms_bpd"}


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d)
                                                         for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "data"
    folder.mkdir()
    test_images = rng.integers(0, 256, (6, 4, 4), dtype=np.uint8)
    train_images = rng.integers(0, 256, (5, 4, 4), dtype=np.uint8)
    _write_idx(folder / "t10k-images-idx3-ubyte", test_images)
    _write_idx(folder / "train-images-idx3-ubyte", train_images)
    model = om.save(om.eps_model(("B", 1, 4, 4), info=INFO, scale=0.5), tmp_path / "m.onnx")
    return model, folder, test_images, train_images


def _nll(capsys, *args):
    rc = run_cli(["nll", *map(str, args)])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_json_is_the_run_it_drives(setup, capsys):
    model, folder, test_images, _ = setup
    rc, out, err = _nll(capsys, "--model", model, "--data", folder, "--n", 4, "--seed", 3,
                        "--device", "cpu", "--json")
    assert rc == 0, err
    assert err == ""                        # no progress bar when stderr is not a terminal
    d = json.loads(out)
    assert KEYS <= set(d)
    assert d["method"] == "elbo" and d["variance"] == "small" and d["n"] == 4
    assert len(d["terms_bpd"]) == T + 1
    assert sum(d["terms_bpd"]) == pytest.approx(d["bits_per_dim"], rel=1e-9)
    assert d["terms_bpd"][0] == pytest.approx(d["decoder_bpd"])
    assert d["terms_bpd"][-1] == pytest.approx(d["prior_bpd"])
    direct = run_to_end(run_elbo(ElboSpec(seed=3), OnnxDenoiser(model, device="cpu"),
                                 test_images[:4]))
    assert d["bits_per_dim"] == pytest.approx(direct.bits_per_dim, rel=1e-9)
    assert d["stderr"] == pytest.approx(direct.stderr, rel=1e-9)


def test_variance_split_and_estimator_change_the_run(setup, capsys):
    model, folder, _, train_images = setup
    base = ["--model", model, "--data", folder, "--n", 3, "--json", "--device", "cpu"]
    small = json.loads(_nll(capsys, *base)[1])
    large = json.loads(_nll(capsys, *base, "--variance", "large")[1])
    assert large["variance"] == "large" and large["bits_per_dim"] != small["bits_per_dim"]
    train = json.loads(_nll(capsys, *base, "--split", "train")[1])
    direct = run_to_end(run_elbo(ElboSpec(), OnnxDenoiser(model, device="cpu"),
                                 train_images[:3]))
    assert train["bits_per_dim"] == pytest.approx(direct.bits_per_dim, rel=1e-9)
    fast = json.loads(_nll(capsys, *base, "--estimator", "fast", "--passes", 2,
                           "--strata", 4)[1])
    assert fast["estimator"] == "fast" and fast["passes"] == 2
    assert sum(fast["terms_bpd"]) == pytest.approx(fast["bits_per_dim"], rel=1e-9)


def test_ode_method(setup, capsys):
    model, folder, test_images, _ = setup
    rc, out, err = _nll(capsys, "--model", model, "--data", folder, "--n", 2, "--method",
                        "ode", "--steps", 5, "--json", "--device", "cpu")
    assert rc == 0, err
    d = json.loads(out)
    assert KEYS <= set(d) and d["method"] == "ode" and d["terms_bpd"] is None
    direct = run_to_end(run_ode_nll(OdeSpec(n_steps=5, batch=64),
                                    OnnxDenoiser(model, device="cpu"), test_images[:2]))
    assert d["bits_per_dim"] == pytest.approx(direct.bits_per_dim, rel=1e-9)
    rc, out, _ = _nll(capsys, "--model", model, "--data", folder, "--n", 2, "--method", "ode",
                      "--steps", 5, "--device", "cpu")
    assert rc == 0 and out.startswith("ode: ") and "bits/dim" in out


@pytest.mark.parametrize("args, message", [
    (["--n", "0"], "--n must be at least 1"),
    (["--n", "50"], "has only 6 images"),
    (["--n", "2", "--batch", "0"], "--batch"),
    (["--n", "2", "--steps", "0", "--method", "ode"], "--steps"),
    (["--n", "2", "--target-stderr", "-1"], "--target-stderr"),
    (["--n", "2", "--fd-rel", "2"], "--fd-rel"),
])
def test_bad_arguments_give_one_line(setup, capsys, args, message):
    model, folder, _, _ = setup
    rc, out, err = _nll(capsys, "--model", model, "--data", folder, "--device", "cpu", *args)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_bad_model_and_data(setup, capsys, tmp_path):
    model, folder, _, _ = setup
    rc, _, err = _nll(capsys, "--model", tmp_path / "none.onnx", "--data", folder, "--n", 2)
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1
    rc, _, err = _nll(capsys, "--model", model, "--data", tmp_path / "nothing", "--n", 2)
    assert rc == 2 and "not found" in err
    other = tmp_path / "big"
    other.mkdir()
    _write_idx(other / "t10k-images-idx3-ubyte", np.zeros((3, 5, 5), np.uint8))
    rc, _, err = _nll(capsys, "--model", model, "--data", other, "--n", 2, "--device", "cpu")
    assert rc == 2 and "(1, 5, 5)" in err and err.count("\n") == 1
