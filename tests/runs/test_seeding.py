"""One seeding rule: the same spec and seed give the same images in the app, in
``diffview sample`` and in ``python -m diffview.eval.fid``, bit for bit.

The app side is a real run of the sampling panel (its controls set, Run pressed). The model is an
exact-epsilon ONNX network for per-pixel Gaussian 28x28 images (blurry garments)
run through onnxruntime, as every face runs a real model.
"""

from __future__ import annotations

import numpy as np
import pytest

from diffview.core.data import bundled_samples, to_model_range, to_uint8
from diffview.engine import ModelInfo, OnnxDenoiser
from diffview.runs.base import run_to_end
from diffview.runs.sampling import SamplingSpec, Start, build_sampler, run_sampling
from diffview.runs.seeding import PerSampleNoise, image_rng, sample_generators, start_noise
from tests.eval.gaussian_model import save_gaussian_model

SEED, N, STEPS, ETA = 11, 6, 10, 0.5  # eta > 0: the step noise is part of what must agree


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    x = to_model_range(bundled_samples().images).astype(np.float64)  # (N, 1, 28, 28)
    path = tmp_path_factory.mktemp("models") / "blobs.onnx"
    return save_gaussian_model(path, x.mean(0), np.maximum(x.std(0), 0.05))


@pytest.fixture(scope="module")
def model(model_path):
    return OnnxDenoiser(model_path, device="cpu")


@pytest.fixture(scope="module")
def app_final(model):
    """What the app's sampling run gives (the run the GUI's sampling job starts)."""
    spec = SamplingSpec(sampler="ddim", n_steps=STEPS, eta=ETA, seed=SEED, batch=N)
    return run_to_end(run_sampling(spec, model)).final


def test_the_rule_is_seed_sequence_spawned_per_image():
    for i in (0, 3):
        want = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(i,)))
        assert image_rng(SEED, i).standard_normal(4).tolist() == want.standard_normal(4).tolist()
    noise = PerSampleNoise(sample_generators(SEED, 2, 3))
    a = noise.standard_normal((3, 5), dtype=np.float32)
    for row, i in zip(a, (2, 3, 4), strict=True):
        np.testing.assert_array_equal(row, image_rng(SEED, i).standard_normal(5, np.float32))
    with pytest.raises(ValueError, match="B = 3"):
        noise.standard_normal((2, 5))
    with pytest.raises(ValueError, match="seed"):
        image_rng(-1, 0)


def test_a_run_draws_x_T_then_each_steps_noise_from_the_images_generator():
    # eps = 0: a two-step respaced DDPM is x_T scaled plus sigma times the step's noise
    info = ModelInfo(kind="points", sample_shape=(3,), T=10, value_range=(-4.0, 4.0))

    class Zero:
        def __init__(self):
            self.info = info

        def predict_eps(self, x, t):
            return np.zeros_like(x)

    spec = SamplingSpec(sampler="ddpm", n_steps=2, batch=4, seed=SEED)
    frames = []
    r = run_to_end(run_sampling(spec, Zero()), frames.append)
    sampler = build_sampler(spec, info)
    gens = [image_rng(SEED, i) for i in range(4)]
    x_T = np.stack([g.standard_normal(3, np.float32) for g in gens])  # noqa: N806
    z = np.stack([g.standard_normal(3, np.float32) for g in gens])
    np.testing.assert_array_equal(r.x_start, x_T)
    np.testing.assert_array_equal(start_noise(SEED, (3,), 4), x_T)
    expected = sampler.step(x_T, 0, np.zeros_like(x_T), noise=z).prev
    np.testing.assert_array_equal(frames[0].x, expected)


def test_images_depend_on_seed_and_index_only(model, app_final):
    spec = SamplingSpec(sampler="ddim", n_steps=STEPS, eta=ETA, seed=SEED, batch=2,
                        first_image=4)
    np.testing.assert_array_equal(run_to_end(run_sampling(spec, model)).final, app_final[4:])
    other = run_to_end(run_sampling(spec.replace(seed=SEED + 1), model)).final
    assert np.abs(other - app_final[4:]).mean() > 0.05


def test_app_cli_and_eval_give_the_same_images_bit_for_bit(model, model_path, app_final,
                                                           tmp_path, qtbot):
    from diffview.cli import run_cli
    from diffview.eval.generate import generate
    from diffview.gui.context import AppContext
    from diffview.gui.panels.sampling import SamplingPanel

    # a real run of the app's sampling panel, its controls set by hand
    context = AppContext(device="cpu")
    panel = SamplingPanel(context)
    qtbot.addWidget(panel)
    try:
        context.set_image_model(model)
        c = panel.controls
        c.sampler_combo.setCurrentIndex(c.sampler_combo.findData("ddim"))
        c.steps_spin.setValue(STEPS)
        c.eta_spin.setValue(ETA)
        c.batch_spin.setValue(N)
        c.seed_spin.setValue(SEED)
        with qtbot.waitSignal(panel.run_completed, timeout=60000) as blocker:
            panel.run()
        np.testing.assert_array_equal(blocker.args[0].final, app_final)
    finally:
        panel.shutdown()
        context.jobs.shutdown()
        context.deleteLater()

    # python -m diffview.eval.fid generates through eval.generate
    np.testing.assert_array_equal(
        generate(model, N, "ddim", STEPS, ETA, batch=4, seed=SEED), app_final)

    pixels = to_uint8(app_final)
    for batch in ("6", "4"):
        npy = tmp_path / f"cli{batch}.npy"
        assert run_cli(["sample", "--model", str(model_path), "--sampler", "ddim", "--steps",
                        str(STEPS), "--eta", str(ETA), "--n", str(N), "--batch", batch,
                        "--seed", str(SEED), "--quiet", "--out", str(tmp_path / "g.png"),
                        "--npy", str(npy)]) == 0
        np.testing.assert_array_equal(np.load(npy), pixels)

    # the default x0 clipping is the same everywhere: off, the images change
    spec = SamplingSpec(sampler="ddim", n_steps=STEPS, eta=ETA, seed=SEED, batch=N)
    unclipped = run_to_end(run_sampling(spec.replace(clip_x0=False), model)).final
    npy = tmp_path / "noclip.npy"
    assert run_cli(["sample", "--model", str(model_path), "--steps", str(STEPS), "--eta",
                    str(ETA), "--n", str(N), "--seed", str(SEED), "--quiet", "--no-clip-x0",
                    "--out", str(tmp_path / "g.png"), "--npy", str(npy)]) == 0
    np.testing.assert_array_equal(np.load(npy), to_uint8(unclipped))
    assert not np.array_equal(unclipped, app_final)


def test_the_fid_command_samples_the_same_images(model_path, app_final, fashion_dir, tmp_path):
    from diffview.eval.fid import run

    saved = tmp_path / "fid_samples.npy"
    assert run(["--model", str(model_path), "--data", str(fashion_dir), "--n", str(N),
                "--sampler", "ddim", "--steps", str(STEPS), "--eta", str(ETA), "--batch", "5",
                "--seed", str(SEED), "--save-samples", str(saved)]) == 0
    np.testing.assert_array_equal(np.load(saved), to_uint8(app_final))


def test_denoise_from_here_uses_the_same_rule(model, app_final):
    # a run started from its own x_T (e.g. the grid's "re-run this image") is the same run
    spec = SamplingSpec(sampler="ddim", n_steps=STEPS, eta=ETA, seed=SEED, batch=N)
    x_T = start_noise(SEED, (1, 28, 28), N)  # noqa: N806
    again = run_to_end(run_sampling(spec.replace(start=Start(x_T)), model)).final
    np.testing.assert_array_equal(again, app_final)
