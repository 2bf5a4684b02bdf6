"""MP4 export: write_mp4 frames decode back (PyAV) with the right count, size and content; a
cancelled or failed export leaves nothing; File > Export animation for the three panels."""

from __future__ import annotations

import numpy as np
import pytest

from diffview.gui.export import write_animation, write_mp4
from diffview.gui.workers import JobCancelled

av = pytest.importorskip("av")


def decode(path) -> list[np.ndarray]:
    """Every frame of the video as (H, W, 3) uint8."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def moving_square(n=15, size=28):
    """Gray frames (1, size, size) in [-1, 1]: a bright 6x6 square moving right one pixel
    per frame on a dark ground."""
    out = []
    for k in range(n):
        x = np.full((1, size, size), -1.0, np.float32)
        x[0, 10:16, 2 + k:8 + k] = 1.0
        out.append(x)
    return out


def test_mp4_decodes_to_the_frames_in_order(tmp_path):
    frames = moving_square()
    out = write_mp4(frames, tmp_path / "square.mp4", fps=10)
    got = decode(out)
    assert len(got) == len(frames)
    # 28 px enlarged to at least 256: factor ceil(256 / 28) = 10
    assert got[0].shape == (280, 280, 3)
    for k, (frame, want) in enumerate(zip(got, frames, strict=True)):
        gray = frame.mean(axis=2)
        big = np.repeat(np.repeat((want[0] + 1) * 127.5, 10, axis=0), 10, axis=1)
        assert np.abs(gray - big).mean() < 6.0, k          # lossy, but close to the source
        cols = np.flatnonzero(gray[130] > 128)              # the square's row, in pixels
        assert cols.min() == pytest.approx(10 * (2 + k), abs=3)


def test_rgb_frames_of_odd_size_are_padded_to_even(tmp_path):
    rng = np.random.default_rng(0)
    frames = [np.clip(rng.normal(0, 0.5, (3, 27, 35)), -1, 1).astype(np.float32)
              for _ in range(4)]
    frames[1][:] = np.array([1.0, -1.0, -1.0], np.float32)[:, None, None]   # pure red
    got = decode(write_mp4(frames, tmp_path / "odd.mp4", min_side=1))
    assert len(got) == 4 and got[0].shape == (28, 36, 3)
    r, g, b = got[1][2:-2, 2:-2].reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60                      # colour survives yuv420p


def test_cancel_and_bad_input_leave_no_file(tmp_path):
    out = tmp_path / "x.mp4"
    calls = iter(range(100))
    with pytest.raises(JobCancelled):
        write_mp4(moving_square(), out, cancelled=lambda: next(calls) >= 3)
    with pytest.raises(ValueError, match="no frames"):
        write_mp4([], out)
    with pytest.raises(ValueError, match="first was"):
        write_mp4([np.zeros((1, 28, 28)), np.zeros((1, 30, 28))], out)
    with pytest.raises(ValueError, match=".gif or .mp4"):
        write_animation(moving_square(), tmp_path / "x.avi")
    assert list(tmp_path.iterdir()) == []                     # no file, no temporary


def test_existing_file_is_replaced_only_when_complete(tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"old")
    with pytest.raises(JobCancelled):
        write_mp4(moving_square(), out, cancelled=lambda: True)
    assert out.read_bytes() == b"old"
    write_mp4(moving_square(5), out)
    assert len(decode(out)) == 5


@pytest.fixture
def window(qtbot):
    from diffview.gui.context import AppContext
    from diffview.gui.main_window import MainWindow
    from diffview.gui.panels.forward import ForwardPanel
    from diffview.gui.panels.sde2d import Sde2DPanel

    ctx = AppContext(device="cpu")
    ctx.toy_model = lambda name: None
    w = MainWindow(ctx, panel_classes=[ForwardPanel, Sde2DPanel])
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()


def _export(qtbot, window, panel, path):
    with qtbot.waitSignal(window.context.jobs.job_ended, timeout=60_000,
                          check_params_cb=lambda name, how: name == "Export animation"):
        assert window.export_animation(panel, path) is not None
    return decode(path)


def test_export_animation_menu_offers_the_three_panels(window):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    sub = next(a.menu() for a in menu.actions() if a.menu() and "animation" in a.text())
    assert [a.text() for a in sub.actions()] == ["&Forward scrub…", "&Sampling run…",
                                                 "&2-D run…"]


def test_forward_scrub_as_mp4(qtbot, window, tmp_path):
    forward = window.panels["forward"]
    got = _export(qtbot, window, "forward", tmp_path / "scrub.mp4")
    steps = np.unique(np.linspace(0, forward.schedule.T, 80).round().astype(int))
    assert len(got) == len(steps)
    assert got[0].shape == (280, 280, 3)                    # 28 px, enlarged x10
    # the first frame is the clean image (t = 0), the last nearly pure noise
    clean = np.repeat(np.repeat((forward.x0[0] + 1) * 127.5, 10, 0), 10, 1)
    assert np.abs(got[0].mean(axis=2) - clean).mean() < 6.0
    assert np.abs(got[-1].mean(axis=2) - clean).mean() > 40.0


def test_2d_run_as_mp4_and_gif(qtbot, window, tmp_path):
    from PIL import Image

    from diffview.gui.panels.sde2d.animation import ANIM_SIZE

    panel = window.panels["sde2d"]
    panel.n_spin.setValue(2000)
    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("reverse"))
    # nothing run yet: the user is told what to do, nothing is written
    with qtbot.waitSignal(window.context.error_raised) as blocker:
        assert window.export_animation("sde2d", tmp_path / "none.mp4") is None
    assert "Run" in blocker.args[1]
    window.close_error_boxes()
    panel.steps_spin.setValue(40)
    with qtbot.waitSignal(panel.run_completed, timeout=60_000):
        panel.run()
    n = len(panel.recording)
    got = _export(qtbot, window, "sde2d", tmp_path / "reverse.mp4")
    assert len(got) == n and got[0].shape == (ANIM_SIZE, ANIM_SIZE, 3)
    # the last frame is the data: its brightest pixels sit where the final cloud is densest
    final = np.asarray(panel.recording.frames["exact"][-1])
    r = panel.plot_a.view_rect()
    img = got[-1].astype(float).sum(axis=2)
    row, col = np.unravel_index(np.argmax(img), img.shape)
    x = r.left() + (col + 0.5) / ANIM_SIZE * r.width()
    y = r.top() + r.height() - (row + 0.5) / ANIM_SIZE * r.height()
    assert np.sum(np.hypot(final[:, 0] - x, final[:, 1] - y) < 0.25) > 20
    _export(qtbot, window, "sde2d", tmp_path / "reverse.mp4")   # twice: replaced in place
    with qtbot.waitSignal(window.context.jobs.job_ended, timeout=60_000,
                          check_params_cb=lambda name, how: name == "Export animation"):
        window.export_animation("sde2d", tmp_path / "reverse.gif")
    with Image.open(tmp_path / "reverse.gif") as im:
        assert im.n_frames == n
