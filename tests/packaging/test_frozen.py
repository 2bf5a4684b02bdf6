"""The frozen app (PyInstaller, onedir): build it from a clean tree with scripts/build_exe.sh and
run what a user runs. Slow (minutes, ~1 GB on disk): ``pytest -m slow tests/packaging``.

``DIFFVIEW_FROZEN_LIGHT=1`` tests the light build without torch instead of the full one;
``DIFFVIEW_FROZEN_APP=dist/diffview`` tests an app folder built before instead of building one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIGHT = os.environ.get("DIFFVIEW_FROZEN_LIGHT", "") == "1"
PREBUILT = os.environ.get("DIFFVIEW_FROZEN_APP", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("PyInstaller") is None,
                       reason="PyInstaller is not installed (pip install -e '.[freeze]')"),
    pytest.mark.skipif(sys.platform == "win32", reason="scripts/build_exe.sh needs bash"),
]


def _env(tmp: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DIFFVIEW_RESOURCES", "PYTHONPATH", "PYTHONHOME")}
    env.update(QT_QPA_PLATFORM="offscreen", DIFFVIEW_SETTINGS_DIR=str(tmp / "settings"))
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """Build once for the module; returns (app folder, build script output or None, light)."""
    if PREBUILT:
        app = Path(PREBUILT).resolve()
        info = json.loads((app / "_internal" / "diffview_build.json").read_text())
        return app, None, info["variant"] == "light"
    tmp = tmp_path_factory.mktemp("frozen")
    args = ["bash", str(ROOT / "scripts" / "build_exe.sh"), "--dist", str(tmp / "dist"),
            "--work", str(tmp / "work"), "--no-self-test"]
    if LIGHT:
        args.append("--light")
    env = _env(tmp, PYTHON=sys.executable)
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return tmp / "dist" / "diffview", proc.stdout, LIGHT


def run_app(app: Path, tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(app / "diffview"), *args], env=_env(tmp, **env),
                          capture_output=True, text=True, timeout=600, cwd=tmp)


def checks(stdout: str) -> dict[str, str]:
    return {m.group(1): line for line in stdout.splitlines()
            if (m := re.match(r"^(?:ok|FAIL|skip) +(\w+)", line))}


def tiny_resources(tmp: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.gui.conftest import write_tiny_image_model

    res = tmp / "resources"
    (res / "models").mkdir(parents=True, exist_ok=True)
    write_tiny_image_model(res / "models" / "fashion_unet.onnx")
    return res


def test_build_script_reports_the_folder_and_bundles_resources(frozen):
    app, out, light = frozen
    if out is not None:
        assert f"output folder: {app}" in out
        assert re.search(r"^size: \S+ \(\d+ files\)$", out, re.M)
    internal = app / "_internal"
    assert (internal / "resources" / "samples" / "fashion_mnist_samples.npz").is_file()
    assert (internal / "licenses" / "README.txt").is_file()
    info = json.loads((internal / "diffview_build.json").read_text())
    assert info["variant"] == ("light" if light else "full")
    platforms = {p.name for p in (internal / "PySide6" / "Qt" / "plugins" / "platforms").iterdir()}
    assert {"libqoffscreen.so", "libqxcb.so"} <= platforms
    assert not (internal / "tkinter").exists() and not (internal / "PyQt5").exists()
    assert (internal / "torch").is_dir() == (not light)


def test_self_test_of_the_frozen_app(frozen, tmp_path):
    app, _, light = frozen
    proc = run_app(app, tmp_path, "--self-test")
    lines = checks(proc.stdout)
    assert set(lines) == {"model", "kinds", "window", "train"}, proc.stdout + proc.stderr
    if (app / "_internal" / "resources" / "models" / "cold_blur.onnx").is_file():
        # every kind of bundled model samples in the frozen build
        assert lines["kinds"].startswith("ok   kinds (velocity, restoration"), \
            lines["kinds"] + proc.stderr
    variant = "light" if light else "full"
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(),
                        re.M).group(1)
    # The version comes from the bundled package metadata, not a fallback.
    assert proc.stdout.splitlines()[0].startswith(
        f"diffview {version} self-test (frozen {variant} build")
    if (app / "_internal" / "resources" / "models" / "fashion_unet.onnx").is_file():
        assert lines["model"].startswith("ok   model (fashion_unet.onnx"), lines["model"]
    else:
        assert lines["model"].startswith("FAIL model: ") and "not found" in lines["model"]
    from diffview.gui.main_window import PANEL_MODULES

    n_panels = len(PANEL_MODULES)
    assert lines["window"].startswith(f"ok   window (1000x700 on offscreen, {n_panels} panels"), \
        lines["window"] + proc.stderr
    if light:
        assert lines["train"] == "skip train (skipped: torch not bundled (light build))"
    else:
        assert lines["train"].startswith("ok   train (10 steps on toy:moons"), \
            lines["train"] + proc.stderr
    failed = sum(v.startswith("FAIL") for v in lines.values())
    assert proc.returncode == (1 if failed else 0)


def test_frozen_self_test_passes_with_a_model(frozen, tmp_path):
    app, _, light = frozen
    proc = run_app(app, tmp_path, "--self-test", "--check", "model", "--check", "window",
                   "--device", "cpu", DIFFVIEW_RESOURCES=str(tiny_resources(tmp_path)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = checks(proc.stdout)
    assert lines["model"].startswith("ok   model (fashion_unet.onnx on CPU, DDIM 10 steps")
    assert "model loaded" in lines["window"]


def test_frozen_cli_and_screenshot(frozen, tmp_path):
    app, _, light = frozen
    model = tiny_resources(tmp_path) / "models" / "fashion_unet.onnx"
    info = run_app(app, tmp_path, "info", str(model), "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)
    shot = tmp_path / "shot.png"
    proc = run_app(app, tmp_path, "--model", str(model), "--device", "cpu",
                   "--screenshot", str(shot), "--size", "800x600")
    assert proc.returncode == 0, proc.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in proc.stderr


def test_frozen_train_command_as_the_training_panel_runs_it(frozen, tmp_path):
    """The Training panel starts `<exe> train ... --progress-json` in a frozen build."""
    app, _, light = frozen
    out = tmp_path / "moons.onnx"
    proc = run_app(app, tmp_path, "train", "--data", "toy:moons", "--steps", "5",
                   "--batch", "32", "--hidden", "16", "--layers", "2", "--warmup", "0",
                   "--run-dir", str(tmp_path / "run"), "--out", str(out), "--progress-json")
    assert "Traceback" not in proc.stderr, proc.stderr
    if light:
        assert proc.returncode == 2
        assert "training needs PyTorch" in proc.stderr and "light build" in proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert events, proc.stdout
    assert out.is_file() and out.stat().st_size > 1000
