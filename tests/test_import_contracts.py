"""Layering: core is pure numpy, engine has no Qt and no torch (checked in a fresh interpreter).

pyproject's import-linter contracts check the import statements; these tests check what
actually lands in ``sys.modules``, which also catches heavy imports pulled in indirectly.
"""

import json
import pkgutil
import subprocess
import sys

import diffview.core
import diffview.engine

QT_AND_FRIENDS = ("PySide6", "pyqtgraph", "torch", "onnxruntime", "scipy")


def _modules(package) -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(package.__path__, package.__name__ + ".")]
    assert names, f"no modules found in {package.__name__}"
    return [package.__name__, *names]


def _loaded_after_import(modules: list[str], forbidden) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {list(forbidden)!r} if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_core_is_pure_numpy():
    modules = _modules(diffview.core)
    assert "diffview.core.data" in modules and "diffview.core.schedules" in modules
    assert _loaded_after_import(modules, QT_AND_FRIENDS) == []


def test_engine_has_no_qt_and_no_torch():
    modules = _modules(diffview.engine)
    assert "diffview.engine.onnx_denoiser" in modules
    assert _loaded_after_import(modules, ("PySide6", "pyqtgraph", "torch", "scipy")) == []


def test_importing_engine_is_cheap():
    # onnx and onnxruntime load only when a model is opened.
    assert _loaded_after_import(["diffview.engine"], ("onnxruntime", "onnx", "PIL")) == []


def test_the_detector_sees_a_forbidden_import():
    # The helper itself must be able to fail: json is always loaded by the probe script.
    assert _loaded_after_import(["diffview.core"], ("json",)) == ["json"]


def test_runs_are_headless():
    import diffview.runs

    modules = _modules(diffview.runs)
    assert "diffview.runs.base" in modules
    assert _loaded_after_import(modules, ("PySide6", "pyqtgraph", "torch")) == []
