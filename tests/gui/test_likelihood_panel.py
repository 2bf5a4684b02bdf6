"""Likelihood panel: it shows what runs/likelihood computes, keeps it in sessions, and scores a
user's image; a bad session is refused whole."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from diffview.gui.panels.likelihood import LikelihoodPanel, quantize
from diffview.runs.base import run_to_end
from diffview.runs.likelihood import ElboSpec, run_elbo


@pytest.fixture
def panel(qtbot, context, tiny_denoiser):
    context.set_image_model(tiny_denoiser)
    p = LikelihoodPanel(context)
    qtbot.addWidget(p)
    p.resize(1100, 700)
    yield p
    p.shutdown()


def test_the_bound_shown_is_the_headless_run(qtbot, panel, context, tiny_denoiser):
    panel.n_spin.setValue(3)
    panel.estimator_combo.setCurrentIndex(panel.estimator_combo.findData("fast"))
    with qtbot.waitSignal(panel.result_ready, timeout=120000) as got:
        panel.elbo_button.click()
    assert got.args == ["elbo"]
    spec = ElboSpec(variance="small", estimator="fast", seed=0, target_stderr=0.05)
    want = run_to_end(run_elbo(spec, tiny_denoiser, panel.images(3)))
    shown = panel.state().elbo
    assert shown["bits_per_dim"] == pytest.approx(want.bits_per_dim, rel=1e-9)
    assert shown["n"] == 3
    assert f"{want.bits_per_dim:.3f}" in panel.summary.text()
    x, y = panel.plots.hist_curve.getData()
    assert y.sum() == 3                                     # every image in the histogram
    # the most likely image is the first tile of the strip, the least likely the last
    strip = panel.plots.extremes_item.image
    bpd = np.asarray(want.image_bpd)
    first = panel.images(3)[int(np.argmin(bpd))]
    assert strip is not None and strip.shape[1] == 2 * 28 + 2
    np.testing.assert_allclose(strip[:28, :28], first / 127.5 - 1.0, atol=1e-6)


def test_results_survive_a_session_and_bad_sessions_change_nothing(qtbot, panel, context):
    panel.n_spin.setValue(2)
    with qtbot.waitSignal(panel.result_ready, timeout=120000):
        panel.run_elbo()
    saved = panel.state_dict()
    other = LikelihoodPanel(context)
    qtbot.addWidget(other)
    other.load_state(saved)
    assert other.state_dict() == saved
    assert other.summary.text() == panel.summary.text()
    before = other.state_dict()
    for bad in ({"variance": "medium"}, {"n_images": 1e9}, {"elbo": {"terms_bpd": "x"}},
                {"elbo": {"terms_bpd": [1.0] * 200_000, "image_bpd": []}}, {"seed": -1}):
        with pytest.raises(ValueError, match="likelihood"):
            other.load_state({**saved, **bad})
        assert other.state_dict() == before
    other.shutdown()


def test_a_user_image_is_scored_on_the_8_bit_grid(qtbot, panel, tmp_path):
    path = tmp_path / "mine.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(path)
    with qtbot.waitSignal(panel.result_ready, timeout=120000) as got:
        panel.score_image(path)
    assert got.args == ["user"]
    assert panel.plots.user_line.isVisible()
    assert "Your image" in panel.summary.text()


def test_quantize_puts_values_on_the_grid():
    x = quantize(np.array([-1.2, -1.0, 0.0, 0.3, 1.0, 3.0]))
    levels = (x + 1) * 127.5
    np.testing.assert_allclose(levels, np.rint(levels))
    assert levels.min() == 0 and levels.max() == 255
