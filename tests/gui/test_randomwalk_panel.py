"""RandomWalkPanel: histogram, heat kernel, master equation and MSD against core.randomwalk."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from diffview.core import randomwalk as rw
from diffview.gui.panels.randomwalk import PROB_STEPS, RandomWalkPanel


@pytest.fixture
def panel(qtbot, context):
    p = RandomWalkPanel(context)
    qtbot.addWidget(p)
    p.resize(1000, 700)
    yield p
    p.shutdown()


def _click(qtbot, button, times=1):
    for _ in range(times):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_histogram_counts_every_particle_and_matches_the_positions(qtbot, panel):
    panel.controls.n_spin.setValue(3000)
    panel.controls.per_frame_spin.setValue(10)
    _click(qtbot, panel.controls.step_btn, 4)
    assert panel.step == 40
    edges, counts = panel.histogram()
    assert counts.sum() == 3000
    # the plotted step curve is that histogram, one bin per lattice site
    x, y = panel.plots.hist_curve.getData()
    np.testing.assert_array_equal(y, counts)
    np.testing.assert_allclose(np.diff(edges), 1.0)
    centres = 0.5 * (edges[:-1] + edges[1:])
    np.testing.assert_array_equal(counts, [np.sum(panel.positions == c) for c in centres])


def test_sliders_set_p_and_q_and_the_kernel_follows(qtbot, panel):
    panel.controls.n_spin.setValue(20_000)
    panel.controls.p_slider.setValue(round(0.15 / 0.5 * PROB_STEPS))
    panel.controls.q_slider.setValue(round(0.35 / 0.5 * PROB_STEPS))
    assert panel.p == pytest.approx(0.15) and panel.q == pytest.approx(0.35)
    assert panel.D == pytest.approx(0.25) and panel.v == pytest.approx(0.2)
    panel.controls.per_frame_spin.setValue(50)
    _click(qtbot, panel.controls.step_btn, 2)
    t = panel.step
    assert t == 100
    x, y = panel.plots.theory_curve.getData()
    np.testing.assert_allclose(y, 20_000 * rw.heat_kernel(x, t, 0.25, 0.2))
    # particles: mean near v t, variance near the exact per-step variance times t
    pos = panel.positions
    assert pos.mean() == pytest.approx(0.2 * t, abs=5 * np.sqrt(0.46 * t / 20_000))
    assert pos.var() == pytest.approx((0.5 - 0.04) * t, rel=0.05)
    # the master equation curve is core.master_equation from a delta at 0
    sx, sy = panel.plots.master_curve.getData()
    c0 = (np.arange(-502, 503) == 0).astype(float)
    want = rw.master_equation(c0, 0.15, 0.35, t)[-1]
    np.testing.assert_allclose(sy, 20_000 * want[want > 1e-6])
    # histogram close to N * C on a smoothed scale: compare per-10-site sums
    edges, counts = panel.histogram()
    centres = 0.5 * (edges[:-1] + edges[1:])
    expect = 20_000 * want
    blocks = np.add.reduceat(counts, np.arange(0, counts.size, 10))
    eblocks = np.add.reduceat(expect, np.arange(0, expect.size, 10))
    assert centres.size == counts.size
    big = eblocks > 200
    np.testing.assert_allclose(blocks[big], eblocks[big], rtol=0.15)


def test_msd_plot_is_core_msd_of_the_positions(qtbot, panel):
    panel.controls.n_spin.setValue(2000)
    panel.set_pq(0.25, 0.25)
    panel.controls.per_frame_spin.setValue(7)
    _click(qtbot, panel.controls.step_btn, 5)
    hist = panel.history
    assert hist.shape == (36, 2000)
    t, y = panel.plots.msd_item.getData()
    np.testing.assert_allclose(y, rw.msd(hist))
    np.testing.assert_allclose(t, np.arange(36))
    tt, theory = panel.plots.msd_theory_item.getData()
    np.testing.assert_allclose(theory, 2 * 0.25 * tt)       # 2Dt, no drift
    assert y[-1] == pytest.approx(2 * 0.25 * 35, rel=0.1)


def test_play_pause_and_reset(qtbot, panel):
    panel.controls.max_steps_spin.setValue(30)
    panel.controls.per_frame_spin.setValue(3)
    with qtbot.waitSignal(panel.stepped, timeout=3000):
        _click(qtbot, panel.controls.play_btn)
    assert panel.controls.play_btn.isChecked() and panel.controls.play_btn.text() == "Pause"
    qtbot.waitUntil(lambda: panel.step == 30, timeout=5000)
    # stops at Max steps
    qtbot.waitUntil(lambda: not panel.controls.play_btn.isChecked(), timeout=5000)
    assert panel.controls.play_btn.text() == "Play"
    _click(qtbot, panel.controls.reset_btn)
    assert panel.step == 0
    assert np.all(panel.positions == 0)
    assert "0 / 30" in panel.controls.step_label.text()


def test_ou_relaxes_to_its_stationary_gaussian(qtbot, panel):
    panel.controls.mode_combo.setCurrentIndex(panel.controls.mode_combo.findData("ou"))
    panel.controls.n_spin.setValue(20_000)
    panel.controls.gamma_spin.setValue(2.0)
    panel.controls.sigma_spin.setValue(1.0)
    panel.controls.x0_spin.setValue(3.0)
    panel.controls.dt_spin.setValue(0.05)
    panel.controls.per_frame_spin.setValue(50)
    _click(qtbot, panel.controls.step_btn, 2)                 # t = 5: e^{-2 gamma t} ~ 2e-9
    assert panel.time == pytest.approx(5.0)
    s = rw.ou_stationary_std(2.0, 1.0)
    pos = panel.positions
    assert pos.mean() == pytest.approx(0.0, abs=5 * s / np.sqrt(20_000))
    assert pos.std() == pytest.approx(s, rel=0.03)
    edges, counts = panel.histogram()
    assert counts.sum() == 20_000
    width = edges[1] - edges[0]
    centres = 0.5 * (edges[:-1] + edges[1:])
    expect = 20_000 * width * np.exp(-0.5 * (centres / s) ** 2) / (s * np.sqrt(2 * np.pi))
    big = expect > 300
    np.testing.assert_allclose(counts[big], expect[big], rtol=0.15)
    # the variance plot tends to sigma^2 / 2 gamma
    t, var = panel.plots.msd_item.getData()
    assert var[-1] == pytest.approx(s * s, rel=0.05)


def test_state_round_trip(qtbot, panel, context):
    panel.set_pq(0.1, 0.4)
    panel.controls.n_spin.setValue(1500)
    panel.advance(12)
    state = panel.state_dict()
    other = RandomWalkPanel(context)
    qtbot.addWidget(other)
    with qtbot.waitSignal(context.jobs.job_ended, timeout=10000):
        other.load_state(state)             # the 12 steps are replayed on a worker
    assert other.state_dict() == state
    np.testing.assert_array_equal(other.positions, panel.positions)


def test_a_bad_session_is_refused_whole(qtbot, panel):
    panel.set_pq(0.1, 0.4)
    before = panel.state_dict()
    for bad, word in (({"n": "many"}, "randomwalk.n"), ({"step": 1e20}, "randomwalk.step"),
                      ({"p": 0.3, "q": 0.9}, "q must be"), ({"mode": "levy"}, "mode"),
                      ({"max_steps": 50, "step": 60}, "randomwalk.step"), ([1, 2], "object")):
        data = {**before, **bad} if isinstance(bad, dict) else bad
        with pytest.raises(ValueError, match=word):
            panel.load_state(data)
        assert panel.state_dict() == before


def test_a_heavy_session_runs_on_a_worker_in_bounded_memory(qtbot, panel, context):
    from diffview.runs.walk1d import CHUNK_BYTES

    state = {**panel.state_dict(), "n": 100_000, "max_steps": 5000, "step": 300}
    panel.load_state(state)          # returns at once: the steps run on a worker
    assert panel.step == 0 and panel.is_busy()
    with qtbot.waitSignal(context.jobs.job_ended, timeout=60000):
        pass
    assert panel.step == 300 and panel.history is None     # over the history budget
    assert CHUNK_BYTES // (8 * 100_000) >= 1
