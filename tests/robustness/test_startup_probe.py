"""The start-up probe the benchmark relies on: the real app, started as the ``diffview``
command is, prints when its window is shown with the model loaded, then exits 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import write_tiny_image_model


def test_startup_probe_reports_the_ready_window_and_quits(tmp_path):
    model = write_tiny_image_model(tmp_path / "probe_model.onnx")
    env = {**os.environ, "DIFFVIEW_STARTUP_PROBE": "1", "QT_QPA_PLATFORM": "offscreen",
           "DIFFVIEW_SETTINGS_DIR": str(tmp_path / "settings")}
    proc = subprocess.run([sys.executable, "-m", "diffview", "--model", str(model)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = re.search(r"^diffview-startup-ready ([0-9.]+) s model=(\S+)$", proc.stdout, re.M)
    assert match, proc.stdout
    assert float(match.group(1)) > 0 and match.group(2) == "probe_model.onnx"
