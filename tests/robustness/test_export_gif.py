"""A GIF export that is cancelled or fails leaves no file and no temporary behind, and an
existing file of that name is untouched."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from diffview.gui.export import write_gif
from diffview.gui.workers import JobCancelled


def frames(n=12):
    rng = np.random.default_rng(0)
    return [rng.uniform(-1, 1, (1, 28, 28)).astype(np.float32) for _ in range(n)]


def test_complete_gif_replaces_the_old_file(tmp_path):
    out = tmp_path / "a.gif"
    out.write_bytes(b"old")
    write_gif(frames(), out)
    with Image.open(out) as im:
        assert im.n_frames == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]
    assert out.stat().st_mode & 0o777 == 0o644


def test_cancel_between_frames_writes_nothing(tmp_path):
    out = tmp_path / "a.gif"
    out.write_bytes(b"old")
    polls = []

    def cancelled():
        polls.append(1)
        return len(polls) > 5

    with pytest.raises(JobCancelled):
        write_gif(frames(), out, cancelled=cancelled)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]


def test_failure_while_encoding_leaves_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "a.gif"
    out.write_bytes(b"old")

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"GIF89a half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_gif(frames(), out)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]


def test_cancel_from_the_status_bar(qtbot, window, tmp_path):
    """Cancel in the status bar stops an export: no file, the progress bar goes away."""
    out = tmp_path / "forward.gif"
    with qtbot.waitSignal(window.context.jobs.job_ended, timeout=30000,
                          check_params_cb=lambda name, how: how == "cancelled"):
        window.export_gif("forward", out)
        window.cancel_jobs()
    qtbot.waitUntil(window.progress.isHidden, timeout=5000)
    assert not out.exists() and not list(tmp_path.glob("*.part"))
