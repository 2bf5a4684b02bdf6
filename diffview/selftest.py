"""``diffview --self-test``: check that this installation or frozen build can do its main jobs.

Three checks, each printing one line:

- ``model``: load the bundled image model through onnxruntime and sample a small batch with DDIM
  (the app's own sampling run, :func:`diffview.runs.sampling.run_sampling`);
- ``window``: build the main window on Qt's offscreen platform, show it, and grab it to a pixmap
  that must be non-empty and not a single colour; the Qt platform plugins the app needs must be
  present;
- ``kinds``: every other kind of bundled model samples a little through its own run: a
  flow-matching velocity model (ODE), a cold-diffusion restoration model (Algorithm 2 from its
  mixture start) and, when one is shipped, a class-conditional model with guidance;
- ``train``: train a small 2-D point model for a few steps with torch, export it to ONNX and load
  it back through :class:`~diffview.engine.OnnxDenoiser`.

The exit status is 0 only when no check failed. A check is skipped (not failed) only where the
build was made without it on purpose: ``train`` in the light build without torch. The self-test
never reads or writes the user's settings and leaves no files behind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from diffview.training import torch_available

__all__ = ["CHECKS", "CheckResult", "Skipped", "build_info", "main", "run_checks"]

# Batch and steps of the model check: small enough for a few seconds on a 2-core CPU.
SAMPLE_BATCH = 4
SAMPLE_STEPS = 10
WINDOW_SIZE = (1000, 700)
MODEL_WAIT_S = 60.0
TRAIN_STEPS = 10
BUILD_INFO_NAME = "diffview_build.json"


class Skipped(Exception):  # noqa: N818 - it is an outcome, not an error
    """A check that does not apply to this build (the message says why)."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # "ok", "FAIL" or "skip"
    detail: str
    seconds: float

    def line(self) -> str:
        if self.status == "ok":
            return f"ok   {self.name} ({self.detail}, {self.seconds:.2f} s)"
        if self.status == "skip":
            return f"skip {self.name} (skipped: {self.detail})"
        return f"FAIL {self.name}: {self.detail}"


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def build_info() -> dict:
    """What the spec recorded about a frozen build (variant, version), else ``{}``."""
    meipass = getattr(sys, "_MEIPASS", None)
    if not meipass:
        return {}
    try:
        return json.loads((Path(meipass) / BUILD_INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------------------------ checks


def check_model(device: str) -> str:
    """Load the bundled image model and sample a small batch with DDIM through onnxruntime."""
    import numpy as np

    from diffview.engine import load_default
    from diffview.runs.base import run_to_end
    from diffview.runs.sampling import SamplingSpec, run_sampling

    model = load_default(device=device)
    info = model.info
    if info.kind != "image":
        raise RuntimeError(f"{model.path.name} is a {info.kind} model, expected an image model")
    spec = SamplingSpec(sampler="ddim", n_steps=SAMPLE_STEPS, batch=SAMPLE_BATCH, seed=0, keep=0)
    steps = []
    x = run_to_end(run_sampling(spec, model), steps.append).final
    want = (SAMPLE_BATCH, *info.sample_shape)
    if len(steps) != SAMPLE_STEPS:
        raise RuntimeError(f"DDIM ran {len(steps)} steps, expected {SAMPLE_STEPS}")
    if x.shape != want:
        raise RuntimeError(f"samples have shape {x.shape}, expected {want}")
    if not np.isfinite(x).all():
        raise RuntimeError(f"{int(np.count_nonzero(~np.isfinite(x)))} sample values are NaN/inf")
    shape = "x".join(map(str, want))
    return (f"{model.path.name} on {model.provider}, DDIM {SAMPLE_STEPS} steps, {shape}, "
            f"range [{float(x.min()):.2f}, {float(x.max()):.2f}]")


def _finite(name: str, x, shape: tuple) -> None:
    import numpy as np

    if tuple(x.shape) != tuple(shape):
        raise RuntimeError(f"{name}: samples have shape {tuple(x.shape)}, expected {shape}")
    if not np.isfinite(x).all():
        raise RuntimeError(f"{name}: {int(np.count_nonzero(~np.isfinite(x)))} values are NaN/inf")


def check_kinds(device: str) -> str:
    """Sample from each bundled model kind besides the default epsilon model."""
    from diffview.engine import OnnxDenoiser
    from diffview.paths import resource
    from diffview.runs.base import run_to_end
    from diffview.runs.cold import sample_cold_model
    from diffview.runs.flow2d import sample_flow_model
    from diffview.runs.sampling import SamplingSpec, run_sampling

    done = []
    path = resource("models", "toy2d_fm_moons.onnx")
    model = OnnxDenoiser(path, device=device)
    if model.info.prediction != "velocity":
        raise RuntimeError(f"{path.name} does not say it predicts a velocity")
    _finite(path.name, sample_flow_model(model, 64, n_steps=4), (64, 2))
    done.append("velocity")
    path = resource("models", "cold_blur.onnx")
    model = OnnxDenoiser(path, device=device)
    if model.info.prediction != "x0":
        raise RuntimeError(f"{path.name} does not say it is a restoration model")
    x = sample_cold_model(model, 2, seed=0, n_steps=5)
    _finite(path.name, x, (2, *model.info.sample_shape))
    done.append("restoration")
    path = resource("models", "fashion_unet_cond.onnx")
    if path.is_file():
        model = OnnxDenoiser(path, device=device)
        if not model.info.conditional:
            raise RuntimeError(f"{path.name} has no class input")
        spec = SamplingSpec(sampler="ddim", n_steps=5, batch=2, classes=(0, 1), guidance=2.0,
                            keep=0)
        _finite(path.name, run_to_end(run_sampling(spec, model)).final,
                (2, *model.info.sample_shape))
        done.append("conditional")
    return ", ".join(done) + " models sampled"


def _native_platform() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "cocoa"
    return "xcb"


def _plugin_names(folder: Path) -> set[str]:
    # libqxcb.so / qwindows.dll / libqcocoa.dylib -> xcb / windows / cocoa
    names = set()
    for f in folder.glob("*"):
        stem = f.name.split(".")[0]
        stem = stem.removeprefix("lib").removeprefix("q")
        names.add(stem)
    return names


def check_window(device: str) -> str:
    """Build the main window offscreen, show it, grab it and look at the pixels."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    import numpy as np
    from PySide6.QtCore import QLibraryInfo, QSettings
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    found = _plugin_names(plugins)
    missing = {"offscreen", _native_platform()} - found
    if missing:
        raise RuntimeError(f"Qt platform plugin(s) {', '.join(sorted(missing))} missing from "
                           f"{plugins} (found: {', '.join(sorted(found)) or 'none'})")

    from diffview.gui.app import _install_qt_message_handler, process_age

    _install_qt_message_handler()  # drops the offscreen platform's harmless notes
    app = QApplication.instance() or QApplication(["diffview"])
    from diffview.gui.context import AppContext
    from diffview.gui.main_window import PANEL_MODULES, MainWindow
    from diffview.gui.style import apply_style

    with tempfile.TemporaryDirectory(prefix="diffview-selftest-") as tmp:
        settings = QSettings(str(Path(tmp) / "diffview.ini"), QSettings.Format.IniFormat)
        context = AppContext(settings=settings, device=device)
        apply_style(app, "light")
        window = MainWindow(context, restore_layout=False)
        window.persist_layout = False
        try:
            window.resize(*WINDOW_SIZE)
            wants_model = window.load_default_model() is not None  # None: no model file
            window.show()
            app.processEvents()  # the first paint
            shown_at = process_age()
            deadline = time.monotonic() + MODEL_WAIT_S
            while window.model_busy() and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.01)
            for _ in range(5):
                app.processEvents()
                time.sleep(0.02)
            pixmap = window.grab()
            panels = len(window.panels)
            loaded = {type(p).__name__ for p in window.panels.values()}
            model = "model loaded" if context.image_model is not None else "no model"
            model_problem = window.model_load_failed_message or (
                f"still loading after {MODEL_WAIT_S:.0f} s" if window.model_busy() else "")
        finally:
            window.shutdown()
            window.close_error_boxes()
            window.close()
            window.deleteLater()
            app.processEvents()
            app.sendPostedEvents(None, 0)
            context.deleteLater()
            app.sendPostedEvents(None, 0)
            del settings
    if pixmap.isNull() or pixmap.width() == 0 or pixmap.height() == 0:
        raise RuntimeError("grabbing the window gave an empty pixmap")
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB32)
    w, h = image.width(), image.height()
    pixels = np.frombuffer(image.constBits(), np.uint32, count=image.bytesPerLine() // 4 * h)
    pixels = pixels.reshape(h, image.bytesPerLine() // 4)[:, :w]
    colours = np.unique(pixels).size
    if colours < 2:
        raise RuntimeError(f"the {w}x{h} window rendered as a single colour")
    if wants_model and context.image_model is None:
        # The model check loads the same file directly; here it goes through a worker thread.
        raise RuntimeError(f"the window did not load the default model: {model_problem}")
    missing = [module for module, cls in PANEL_MODULES if cls not in loaded]
    if missing:
        # A panel that fails to import is left out of the window (and logged); in a build or
        # an installation that is a packaging fault.
        raise RuntimeError(f"{panels} of {len(PANEL_MODULES)} panels loaded; missing: "
                           f"{', '.join(missing)} (see the log above)")
    shown = sorted(found & {"offscreen", "xcb", "wayland", "windows", "cocoa"})
    when = "" if shown_at is None else f"shown {shown_at:.1f} s after process start, "
    return (f"{w}x{h} on {app.platformName()}, {panels} panels, {colours} colours, {model}, "
            f"{when}platform plugins {', '.join(shown)}")


def check_train(device: str) -> str:
    """Train a small 2-D model with torch, export it to ONNX and load it back."""
    if not torch_available():
        variant = build_info().get("variant")
        if is_frozen() and variant == "light":
            raise Skipped("torch not bundled (light build)")
        if is_frozen():
            raise RuntimeError("torch is missing from this build; the full build must bundle it")
        raise Skipped("torch not installed")
    import numpy as np

    from diffview.engine import OnnxDenoiser
    from diffview.training.config import TrainConfig
    from diffview.training.export import export_checkpoint
    from diffview.training.loop import CHECKPOINT_NAME, train

    config = TrainConfig(data="toy:moons", steps=TRAIN_STEPS, batch_size=128, lr=2e-3,
                         warmup=0, hidden=64, layers=2, checkpoint_every=0, threads=1, seed=0)
    with tempfile.TemporaryDirectory(prefix="diffview-selftest-") as tmp:
        run_dir = Path(tmp) / "run"
        losses = []
        for progress in train(config, out_dir=run_dir):
            losses.append(progress.loss)
        if len(losses) != TRAIN_STEPS:
            raise RuntimeError(f"training yielded {len(losses)} steps, expected {TRAIN_STEPS}")
        if not np.isfinite(losses).all():
            raise RuntimeError(f"the loss was not finite: {losses}")
        onnx_path = Path(tmp) / "toy2d_moons.onnx"
        result = export_checkpoint(run_dir / CHECKPOINT_NAME, onnx_path)
        model = OnnxDenoiser(onnx_path, device="cpu")
        if model.info.kind != "points" or model.info.sample_shape != (2,):
            raise RuntimeError(f"the exported model reads back as {model.info.kind} "
                               f"{model.info.sample_shape}, expected points (2,)")
        x = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32)
        eps = model.predict_eps(x, 0.5)
        if eps.shape != x.shape:
            raise RuntimeError(f"the exported model returned {eps.shape}, expected {x.shape}")
        size_kb = onnx_path.stat().st_size / 1024
    return (f"{TRAIN_STEPS} steps on toy:moons, loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
            f"ONNX {size_kb:.0f} kB, parity {result.max_abs_diff:.1e}")


CHECKS: dict[str, Callable[[str], str]] = {
    "model": check_model,
    "kinds": check_kinds,
    "window": check_window,
    "train": check_train,
}


def run_checks(names, device: str = "cpu", verbose: bool = False,
               out=None) -> list[CheckResult]:
    """Run the named checks in order, printing one line each as it finishes."""
    out = out or sys.stdout
    results = []
    for name in names:
        t0 = time.perf_counter()
        try:
            detail = CHECKS[name](device)
            status = "ok"
        except Skipped as exc:
            status, detail = "skip", str(exc)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a summary line
            status = "FAIL"
            text = str(exc).strip().splitlines()
            detail = f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
            if verbose:
                traceback.print_exc()
        result = CheckResult(name, status, detail, time.perf_counter() - t0)
        print(result.line(), file=out, flush=True)
        results.append(result)
    return results


def _header() -> str:
    from diffview import __version__

    info = build_info()
    where = f"frozen {info.get('variant', '?')} build" if is_frozen() else "from source"
    return (f"diffview {__version__} self-test ({where}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="diffview --self-test",
        description="Check that this build can sample, draw its window and train. "
                    "Prints one line per check; exits 0 when none failed.")
    p.add_argument("--self-test", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--check", action="append", choices=tuple(CHECKS),
                   help="run only this check (repeatable; default: all)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the image model runs (default: auto, CUDA when it works)")
    p.add_argument("--verbose", action="store_true", help="print a traceback for each failure")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = args.check or list(CHECKS)
    print(_header(), flush=True)
    t0 = time.perf_counter()
    results = run_checks(names, device=args.device, verbose=args.verbose)
    failed = sum(r.status == "FAIL" for r in results)
    skipped = sum(r.status == "skip" for r in results)
    passed = len(results) - failed - skipped
    print(f"self-test: {passed} passed, {failed} failed, {skipped} skipped "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)
    return 1 if failed else 0
