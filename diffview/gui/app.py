"""Start the desktop application, or render it offscreen to a PNG (``--screenshot``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

__all__ = ["build_parser", "run_gui"]

log = logging.getLogger("diffview")

# The panels --panel can name (checked before Qt starts; a test keeps it equal to the
# main window's PANEL_MODULES).
PANEL_NAMES = ("forward", "sampling", "grid", "sde2d", "randomwalk", "likelihood", "cold",
               "training")

# --screenshot waits at most this long for the model, then for the demo state's jobs.
SCREENSHOT_WAIT_S = 60.0


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT such as 1280x800, got {text!r}") from None
    if not (100 <= w <= 8000 and 100 <= h <= 8000):
        raise argparse.ArgumentTypeError("width and height must be between 100 and 8000")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="diffview",
        description="See diffusion models at work. Without arguments, opens the main window. "
                    "Command-line tools: diffview train|sample|info --help.")
    p.add_argument("--model", type=Path, help="ONNX image model to load instead of the default")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the model runs (default: auto, CUDA when it works)")
    p.add_argument("--screenshot", type=Path, metavar="PATH",
                   help="render offscreen after loading and a short demo, write a PNG, exit")
    p.add_argument("--panel", metavar="NAME",
                   help="with --screenshot: only this panel (" + ", ".join(PANEL_NAMES) + ")")
    p.add_argument("--size", type=_size, default=(1280, 800), metavar="WxH",
                   help="with --screenshot: window or panel size (default 1280x800)")
    p.add_argument("--theme", choices=("system", "light", "dark"), default=None,
                   help="light or dark look (default: the saved choice, else follow the system)")
    # handled in diffview.__main__ before the GUI loads; listed here so --help shows it
    p.add_argument("--self-test", action="store_true",
                   help="check this install (model, window, a short train) and exit; "
                        "options: diffview --self-test --help")
    return p


def _install_excepthook(context) -> None:
    """Exceptions escaping a Qt slot reach the user as a dialog instead of only stderr."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        log.error("unexpected error", exc_info=(exc_type, exc, tb))
        try:
            context.report_error("Unexpected error", f"{exc_type.__name__}: {exc}")
        except Exception:  # noqa: BLE001 - never fail inside the hook
            previous(exc_type, exc, tb)

    sys.excepthook = hook


# Messages Qt's offscreen platform prints for things it cannot do; harmless for a screenshot.
_IGNORED_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",
                        "This plugin does not support raise()")


def _install_qt_message_handler() -> None:
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}
    qt_log = logging.getLogger("diffview.qt")

    def handler(mode, _context, message):
        if any(message.startswith(m) for m in _IGNORED_QT_MESSAGES):
            return
        qt_log.log(levels.get(mode, logging.WARNING), "%s", message)

    qInstallMessageHandler(handler)


def run_gui(argv: list[str] | None = None) -> int:
    """Entry point of ``diffview`` without a sub-command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.panel and not args.screenshot:
        print("diffview: --panel only applies with --screenshot", file=sys.stderr)
        return 2
    if args.screenshot:
        # Fail fast, before Qt starts, on what can be checked from the arguments alone.
        known = PANEL_NAMES
        if args.panel and args.panel not in known:
            print(f"diffview: no panel {args.panel!r} (choose from {', '.join(known)})",
                  file=sys.stderr)
            return 2
        if args.model is not None and not args.model.is_file():
            print(f"diffview: cannot load model {args.model}: no such file", file=sys.stderr)
            return 1
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from PySide6.QtWidgets import QApplication

    _install_qt_message_handler()
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "diffview"])
    app.setApplicationName("diffview")
    app.setOrganizationName("diffview")
    app.setApplicationDisplayName("diffview")

    from diffview.gui.context import AppContext
    from diffview.gui.style import apply_style

    context = AppContext(device=args.device)
    theme = args.theme or str(context.settings.value("ui/theme", "system"))
    apply_style(app, theme)

    from diffview.gui.main_window import MainWindow

    # Background tabs are built after the window is shown (start-up time); a screenshot
    # builds everything first.
    window = MainWindow(context, restore_layout=not args.screenshot,
                        model=args.model if args.model is not None else "default",
                        defer_hidden=not args.screenshot)
    # A screenshot uses the default layout and must not overwrite the user's saved one.
    window.persist_layout = not args.screenshot
    _install_excepthook(context)
    if theme == "system":
        # Follow the desktop when it switches between light and dark while we run.
        app.styleHints().colorSchemeChanged.connect(
            lambda _scheme: window.apply_theme(
                str(context.settings.value("ui/theme", "system"))))

    if args.screenshot:
        code = _screenshot(app, window, args)
    else:
        window.show()
        if os.environ.get("DIFFVIEW_STARTUP_PROBE"):
            _startup_probe(app, window)
        code = app.exec()
    _tear_down(app, window)
    return code


def process_age() -> float | None:
    """Seconds since this process started (Linux only, 10 ms resolution), else None."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _startup_probe(app, window) -> None:
    """For the start-up benchmark (``DIFFVIEW_STARTUP_PROBE=1``): once the window is shown and
    the model has loaded (or failed), print the seconds since process start; once the
    background tabs have been built too, print that time and quit."""
    from PySide6.QtCore import QTimer

    ready = []

    def check():
        if not ready and window.isVisible() and not window.model_busy():
            ready.append(True)
            model = window.context.image_model
            name = Path(model.path).name if model is not None else "none"
            print(f"diffview-startup-ready {process_age() or -1.0:.3f} s model={name}",
                  flush=True)
        if ready and not window.deferred_pending():
            timer.stop()
            print(f"diffview-startup-all-panels {process_age() or -1.0:.3f} s", flush=True)
            app.quit()

    timer = QTimer(window)
    timer.setInterval(5)
    timer.timeout.connect(check)
    timer.start()


def _tear_down(app, window) -> None:
    """Stop the workers and delete the widgets while the QApplication still exists."""
    window.shutdown()
    window.close_error_boxes()
    window.close()
    window.deleteLater()
    app.processEvents()
    app.sendPostedEvents(None, 0)  # run the deleteLater


def _wait(app, condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.01)
    return True


def _screenshot(app, window, args) -> int:
    """Render after the model and the demo state have settled, save the PNG, return 0/1."""
    target = window
    if args.panel:
        if args.panel not in window.panels:
            known = ", ".join(window.panels) or "none"
            print(f"diffview: no panel {args.panel!r} (available: {known})", file=sys.stderr)
            return 2
    window.resize(*args.size)
    window.show()
    ok = _wait(app, lambda: not window.model_busy(), SCREENSHOT_WAIT_S)
    if args.model is not None and (not ok or window.context.image_model is None):
        print(f"diffview: cannot load model {args.model}: "
              f"{window.model_load_failed_message or 'timed out'}", file=sys.stderr)
        return 1
    window.demo_state(args.panel)
    _wait(app, lambda: not window.busy(), SCREENSHOT_WAIT_S)
    if args.panel:
        # The panel alone, exactly --size: lift it out of its dock's scroll area.
        scroll = window.docks[args.panel].widget()
        target = scroll.takeWidget()
        target.setParent(None)
        target.resize(*args.size)
        target.show()
        window._screenshot_panel = (scroll, target)  # keeps it alive until teardown
    # A few more turns of the event loop so that layouts and plots have painted; the dock
    # tab bars are placed by a deferred layout pass, so ask for it explicitly too.
    for _ in range(5):
        window.layout().activate()
        app.sendPostedEvents()
        app.processEvents()
        time.sleep(0.03)
    path = Path(args.screenshot)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"diffview: cannot create {path.parent}: {exc}", file=sys.stderr)
        return 1
    from diffview.fileio import write_via

    ok = write_via(path, lambda tmp: target.grab().save(tmp, "PNG"))  # atomic
    if not ok:
        print(f"diffview: could not write {path}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
