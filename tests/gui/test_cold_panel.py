"""Cold-diffusion panel: it shows the headless runs' results, takes the forward panel's image,
and keeps a validated state."""

from __future__ import annotations

import numpy as np
import pytest

from diffview.gui.handover import DenoiseRequest
from diffview.gui.panels.cold import ColdPanel
from diffview.runs.base import run_to_end
from diffview.runs.cold import RestorationSpec, degradation_of, run_side_by_side


@pytest.fixture
def panel(qtbot, context):
    p = ColdPanel(context)
    qtbot.addWidget(p)
    p.resize(1100, 700)
    yield p
    p.shutdown()


def test_side_by_side_shows_the_headless_run(qtbot, panel):
    panel.severity_spin.setValue(50)
    panel.steps_spin.setValue(6)
    with qtbot.waitSignal(panel.result_ready, timeout=120000) as got:
        panel.side_button.click()
    assert got.args == ["side_by_side"]
    model = panel.model("blur")
    deg = degradation_of(model)
    x0 = panel.original()
    t = deg.step_for(0.5)
    x_t = deg(x0, t).astype(np.float32)
    want = run_to_end(run_side_by_side(RestorationSpec(t=t, n_steps=6), model, x_t, x0=x0))
    _, shown_xt, r = panel._replay
    np.testing.assert_array_equal(shown_xt, x_t)
    np.testing.assert_allclose(r.improved.final, want.improved.final, rtol=1e-5, atol=1e-6)
    # the timeline replays every step; its last position shows the final images
    assert panel.timeline.maximum() == want.naive.xs.shape[0] - 1
    panel.timeline.setValue(0)
    np.testing.assert_allclose(panel.view.tiles[2][0].image, x_t[0, 0], atol=1e-6)
    x, y = panel.view.curves[1].getData()
    np.testing.assert_allclose(y, want.psnr2[:, 0], rtol=1e-5)
    assert "Algorithm 2" in panel.summary.text()


def test_restore_from_here_takes_the_forward_image(qtbot, panel, context):
    x0 = np.linspace(-1, 1, 28 * 28, dtype=np.float32).reshape(1, 28, 28)
    request = DenoiseRequest(x0, 300, x0=x0, degradation="pixelate", severity=0.3)
    with qtbot.waitSignal(panel.result_ready, timeout=120000):
        context.restore_requested.emit(request)
    assert panel.kind == "pixelate" and panel.severity_spin.value() == 30
    np.testing.assert_array_equal(panel.original()[0], x0)


def test_generation_from_the_blur_start(qtbot, panel):
    panel.n_spin.setValue(2)
    panel.steps_spin.setValue(4)
    with qtbot.waitSignal(panel.result_ready, timeout=120000) as got:
        panel.gen_button.click()
    assert got.args == ["generate"]
    assert "fitted to" in panel.summary.text()


def test_state_round_trip_and_bad_state(qtbot, panel):
    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("mask"))
    panel.severity_spin.setValue(40)
    state = panel.state_dict()
    panel.load_state({**state, "seed": 7})
    assert panel.state_dict() == {**state, "seed": 7}
    before = panel.state_dict()
    for bad in ({"degradation": "smudge"}, {"severity": 0}, {"n_generate": 1e9}):
        with pytest.raises(ValueError, match="cold"):
            panel.load_state({**state, **bad})
        assert panel.state_dict() == before
