"""``diffview --self-test`` from source: one summary line per check, exit 0 only when none fails.

The bundled default model may not exist yet in a checkout; the model check must then fail with a
message naming the missing file, and pass with a model (a tiny ONNX file via DIFFVIEW_RESOURCES).
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

from diffview import selftest
from diffview.gui.main_window import PANEL_MODULES

ROOT = Path(__file__).resolve().parents[2]
HAS_TORCH = importlib.util.find_spec("torch") is not None
OK = re.compile(r"^ok   (\w+) \((.+), (\d+\.\d\d) s\)$")


def run_self_test(tmp_path, *args, resources: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["DIFFVIEW_SETTINGS_DIR"] = str(tmp_path / "settings")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("DIFFVIEW_RESOURCES", None)
    if resources is not None:
        env["DIFFVIEW_RESOURCES"] = str(resources)
    return subprocess.run([sys.executable, "-m", "diffview", "--self-test", *args], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


def lines_by_check(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^(?:ok|FAIL|skip) +(\w+)", line)
        if m:
            out[m.group(1)] = line
    return out


def tiny_resources(tmp_path: Path) -> Path:
    from tests.gui.conftest import write_tiny_image_model

    res = tmp_path / "resources"
    (res / "models").mkdir(parents=True)
    write_tiny_image_model(res / "models" / "fashion_unet.onnx")
    return res


def test_self_test_from_source_reports_every_check(tmp_path):
    proc = run_self_test(tmp_path)
    lines = lines_by_check(proc.stdout)
    assert proc.stdout.splitlines()[0].startswith("diffview ") and "from source" in proc.stdout
    assert set(lines) == {"model", "kinds", "window", "train"}, proc.stdout + proc.stderr

    from diffview.engine import default_model_path

    if default_model_path().is_file():
        assert OK.match(lines["model"]), lines["model"]
        assert "DDIM 10 steps" in lines["model"]
    else:
        # No bundled model in this checkout: the check must fail, naming the file.
        assert lines["model"].startswith("FAIL model: ")
        assert "fashion_unet.onnx" in lines["model"] and "not found" in lines["model"]

    window = OK.match(lines["window"])
    assert window, lines["window"]
    assert "1000x700 on offscreen" in window.group(2)
    n_panels = len(PANEL_MODULES)  # every registered panel, the Training panel included
    assert f"{n_panels} panels" in window.group(2)

    if HAS_TORCH:
        train = OK.match(lines["train"])
        assert train, lines["train"]
        assert "10 steps on toy:moons" in train.group(2) and "ONNX" in train.group(2)
    else:
        assert lines["train"] == "skip train (skipped: torch not installed)"

    failed = sum(line.startswith("FAIL") for line in lines.values())
    assert f"{failed} failed" in proc.stdout.splitlines()[-1]
    assert proc.returncode == (1 if failed else 0), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_model_check_passes_with_a_model_and_exits_zero(tmp_path):
    proc = run_self_test(tmp_path, "--check", "model", "--check", "window", "--device", "cpu",
                         resources=tiny_resources(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = lines_by_check(proc.stdout)
    m = OK.match(lines["model"])
    assert m, lines["model"]
    assert "fashion_unet.onnx on CPU" in m.group(2) and "4x1x28x28" in m.group(2)
    assert OK.match(lines["window"]) and "model loaded" in lines["window"], lines["window"]
    assert proc.stdout.splitlines()[-1].startswith("self-test: 2 passed, 0 failed, 0 skipped")


def test_a_corrupt_model_fails_with_a_message_and_exits_one(tmp_path):
    res = tmp_path / "resources"
    (res / "models").mkdir(parents=True)
    (res / "models" / "fashion_unet.onnx").write_text("not a model\n")
    proc = run_self_test(tmp_path, "--check", "model", "--check", "window", resources=res)
    assert proc.returncode == 1
    lines = lines_by_check(proc.stdout)
    assert lines["model"].startswith("FAIL model: ModelError: ")
    assert "not an ONNX model" in lines["model"]
    # The window opens, but must not pass while it could not load the model it was given.
    assert lines["window"].startswith(
        "FAIL window: RuntimeError: the window did not load the default model: "), lines["window"]
    assert "not an ONNX model" in lines["window"]
    assert "Traceback" not in proc.stdout  # (the GUI's worker logs its traceback to stderr)


def test_unknown_check_is_a_usage_error(tmp_path):
    proc = run_self_test(tmp_path, "--check", "nope")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


# ---- the train check's decision without torch, in process (no Qt, no torch needed)


def _train_line(capsys) -> tuple[str, list]:
    results = selftest.run_checks(["train"])
    return capsys.readouterr().out.strip(), results


def test_train_is_skipped_when_torch_is_not_installed(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec("torch") is then None
    line, results = _train_line(capsys)
    assert line == "skip train (skipped: torch not installed)"
    assert results[0].status == "skip"


def _pretend_frozen(monkeypatch, tmp_path, variant: str) -> None:
    (tmp_path / selftest.BUILD_INFO_NAME).write_text(json.dumps({"variant": variant}))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)


def test_light_frozen_build_skips_train(monkeypatch, tmp_path, capsys):
    _pretend_frozen(monkeypatch, tmp_path, "light")
    line, _ = _train_line(capsys)
    assert line == "skip train (skipped: torch not bundled (light build))"
    assert selftest.build_info()["variant"] == "light"


def test_full_frozen_build_without_torch_fails(monkeypatch, tmp_path, capsys):
    _pretend_frozen(monkeypatch, tmp_path, "full")
    line, results = _train_line(capsys)
    assert line.startswith("FAIL train: ") and "torch is missing" in line
    assert results[0].status == "FAIL"


def test_exit_status_counts_failures_not_skips(monkeypatch, capsys):
    monkeypatch.setitem(selftest.CHECKS, "a", lambda device: "fine")

    def skip(device):
        raise selftest.Skipped("not here")

    def boom(device):
        raise ValueError("broken\nsecond line")

    monkeypatch.setitem(selftest.CHECKS, "b", skip)
    monkeypatch.setitem(selftest.CHECKS, "c", boom)
    assert selftest.main(["--self-test", "--check", "a", "--check", "b"]) == 0
    assert selftest.main(["--self-test", "--check", "a", "--check", "c"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert OK.match(next(line for line in out if line.startswith("ok   a")))
    assert "skip b (skipped: not here)" in out
    assert "FAIL c: ValueError: broken" in out


@pytest.mark.parametrize("argv", [["--self-test"], ["--self-test", "--check", "window"]])
def test_main_dispatches_before_the_gui(monkeypatch, argv):
    calls = []
    monkeypatch.setattr(selftest, "main", lambda a: calls.append(a) or 0)
    from diffview.__main__ import main

    assert main(argv) == 0
    assert calls == [argv]


def test_window_check_fails_when_a_panel_is_missing(tmp_path):
    # As in a build that left a panel module out: the window still opens, the check fails.
    code = ("import sys\n"
            "sys.modules['diffview.gui.panels.grid'] = None\n"
            "from diffview.__main__ import main\n"
            "sys.exit(main(['--self-test', '--check', 'window']))\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               DIFFVIEW_SETTINGS_DIR=str(tmp_path / "settings"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = lines_by_check(proc.stdout)["window"]
    n = len(PANEL_MODULES)
    assert line.startswith(f"FAIL window: RuntimeError: {n - 1} of {n} panels loaded; missing: "
                           "diffview.gui.panels.grid"), line


def test_kinds_check_samples_every_bundled_model_kind(tmp_path):
    proc = run_self_test(tmp_path, "--check", "kinds", "--device", "cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = lines_by_check(proc.stdout)["kinds"]
    assert OK.match(line) and "velocity, restoration" in line, line
