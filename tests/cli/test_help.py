"""``diffview --help`` lists every top-level option, including the ones __main__ handles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_self_test_and_the_gui_options(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DIFFVIEW_SETTINGS_DIR=str(tmp_path))
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-m", "diffview", "--help"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for option in ("--self-test", "--screenshot", "--panel", "--size", "--model", "--device"):
        assert option in out.stdout, option
    line = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith("--self-test"))
    assert "check" in line            # the option comes with its one-line help
