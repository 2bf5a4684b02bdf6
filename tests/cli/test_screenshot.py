"""`diffview --screenshot` in a subprocess: the window renders offscreen, writes a PNG, exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_diffview(args, tmp_path, code: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["DIFFVIEW_SETTINGS_DIR"] = str(tmp_path / "settings")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "diffview", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_screenshot_of_the_window_without_torch(tmp_path):
    out = tmp_path / "shot.png"
    code = ("import sys\n"
            "from diffview.__main__ import main\n"
            f"rc = main(['--screenshot', {str(out)!r}, '--size', '1000x700'])\n"
            "assert 'torch' not in sys.modules, 'the GUI imported torch'\n"
            "sys.exit(rc)\n")
    proc = run_diffview(None, tmp_path, code)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 10_000
    assert png_size(out) == (1000, 700)
    assert "Destroyed while thread" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_screenshot_of_one_panel_with_a_model(tmp_path):
    from tests.gui.conftest import write_tiny_image_model

    model = write_tiny_image_model(tmp_path / "tiny.onnx")
    out = tmp_path / "panel.png"
    proc = run_diffview(["--model", str(model), "--device", "cpu", "--screenshot", str(out),
                         "--panel", "sampling", "--size", "800x600"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert png_size(out) == (800, 600)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, code", [
    (["--panel", "nope"], 2),
    (["--model", "missing.onnx"], 1),
])
def test_screenshot_failures_exit_non_zero(tmp_path, args, code):
    out = tmp_path / "x.png"
    proc = run_diffview(["--screenshot", str(out), *args], tmp_path)
    assert proc.returncode == code
    assert proc.stderr.strip()
    assert not out.exists()


def test_every_panel_of_the_window_can_be_named_with_panel():
    from diffview.gui.app import PANEL_NAMES, build_parser
    from diffview.gui.main_window import PANEL_MODULES

    assert set(PANEL_NAMES) == {module.rsplit(".", 1)[1] for module, _cls in PANEL_MODULES}
    assert "training" in build_parser().format_help()
