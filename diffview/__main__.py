"""Entry point: ``diffview`` (GUI), ``diffview train|sample|info`` (command line) and
``diffview --self-test``.

Heavy imports (Qt, onnxruntime, torch) happen inside the branch that needs them so that
``diffview --help`` and the CLI stay quick and the GUI never loads torch at start-up.
"""

from __future__ import annotations

import logging
import sys

CLI_COMMANDS = ("train", "sample", "info", "nll")


def _fix_frozen_streams() -> None:
    # A windowed PyInstaller build has no console: sys.stdout/stderr are None and any print
    # (ours or a library's) would raise. Send them to the null device instead.
    import os

    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the app


# The GUI's log file: full tracebacks go here, the terminal gets one line per problem.
LOG_NAME = "diffview.log"
LOG_MAX_BYTES = 256 * 1024
LOG_BACKUPS = 2


class OneLineFormatter(logging.Formatter):
    """``LEVEL name: message`` on one line; an exception adds its type and first line, never
    the traceback (that goes to the log file)."""

    def __init__(self, log_file=None) -> None:
        super().__init__()
        self.log_file = log_file

    def format(self, record) -> str:
        text = record.getMessage().splitlines()[0] if record.getMessage() else ""
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            text += f": {type(exc).__name__}" + (f": {detail}" if detail else "")
            if self.log_file is not None:
                text += f" (details in {self.log_file})"
        return f"{record.levelname} {record.name}: {text}"


def configure_logging(log_dir=None, stream=None):
    """Set up the GUI's logging: warnings and errors with their tracebacks to a small rotating
    file ``<user data>/logs/diffview.log``, one line each on stderr.

    Returns the log file's path, or None when its folder cannot be written (stderr only).
    A root logger that already has handlers is left alone.
    """
    from logging.handlers import RotatingFileHandler
    from pathlib import Path

    from diffview.paths import user_data_dir

    root = logging.getLogger()
    if root.handlers:
        return None
    root.setLevel(logging.WARNING)
    path = Path(log_dir if log_dir is not None else user_data_dir() / "logs") / LOG_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS,
                                      encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    except OSError:
        path = None
    console = logging.StreamHandler(sys.stderr if stream is None else stream)
    console.setFormatter(OneLineFormatter(path))
    root.addHandler(console)
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if getattr(sys, "frozen", False):
        import multiprocessing

        multiprocessing.freeze_support()
        _fix_frozen_streams()
    if argv and argv[0] in CLI_COMMANDS:
        from diffview.cli import run_cli

        return run_cli(argv)
    if "--self-test" in argv:
        # Before the GUI import: the self-test sets up Qt itself (offscreen).
        from diffview.selftest import main as self_test

        return self_test(argv)
    configure_logging()  # before the GUI's own logging.basicConfig, which then does nothing
    from diffview.gui.app import run_gui

    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
