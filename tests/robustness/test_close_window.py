"""Closing the window while work runs: the process exits quickly and cleanly, nothing is
left half-written.

Each case starts the real app (``run_gui``, as the ``diffview`` command does) in a
subprocess through ``close_driver.py``, starts a long job, closes the window while the job
runs and times the exit. "Cleanly": exit status 0 and no "QThread: Destroyed while thread is
still running" (nor any other Qt warning about threads) on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import write_tiny_image_model

DRIVER = Path(__file__).with_name("close_driver.py")
# The target is 3 s: a speed figure, measured on the quiet machine by
# `python -m benchmarks responsiveness`. Here the bound is generous so that the test does not
# fail on a loaded machine (under a load of 5 on the 2 cores, exits took 1.5-3.3 s, half of it
# the interpreter's own teardown); a job that does not stop still fails it (the runner's own
# wait is 3 s per thread, and it logs "did not stop" when that expires).
EXIT_LIMIT_S = 10.0


def run_driver(job: str, out: Path, *app_args: str) -> tuple[float, str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "DIFFVIEW_SETTINGS_DIR": str(out / "settings")}
    proc = subprocess.Popen([sys.executable, str(DRIVER), job, str(out), *app_args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    closing_at = None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("CLOSING "):
            closing_at = time.monotonic()
    proc.wait(timeout=300)
    exited_at = time.monotonic()
    err = proc.stderr.read()
    assert proc.returncode == 0, (proc.returncode, "".join(lines), err[-3000:])
    assert closing_at is not None, "".join(lines)
    assert "busy=True" in "".join(lines), "the job had finished before the window closed"
    return exited_at - closing_at, "".join(lines), err


@pytest.mark.parametrize("job", ["sampling", "race", "grid", "sde2d"])
def test_close_during_a_job_exits_quickly(tmp_path, job):
    seconds, out, err = run_driver(job, tmp_path)
    print(f"{job}: exited {seconds:.2f} s after the close")
    assert "QThread" not in err, err
    assert "did not stop" not in err, err
    assert seconds < EXIT_LIMIT_S, (seconds, out)


def test_close_during_gif_export_leaves_no_partial_file(tmp_path):
    model = write_tiny_image_model(tmp_path / "tiny.onnx")
    seconds, out, err = run_driver("gif", tmp_path, "--model", str(model))
    print(f"gif: exited {seconds:.2f} s after the close")
    assert "QThread" not in err, err
    assert seconds < EXIT_LIMIT_S, (seconds, out)
    assert not list(tmp_path.glob("*.part")), "a temporary GIF was left behind"
    gif = tmp_path / "run.gif"
    if gif.exists():  # finished before the exit: it must be whole
        from PIL import Image

        with Image.open(gif) as im:
            assert im.n_frames == 201
