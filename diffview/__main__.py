"""Entry point: ``diffview`` (GUI), ``diffview train|sample|info`` (command line) and
``diffview --self-test``.

Heavy imports (Qt, onnxruntime, torch) happen inside the branch that needs them so that
``diffview --help`` and the CLI stay quick and the GUI never loads torch at start-up.
"""

from __future__ import annotations

import sys

CLI_COMMANDS = ("train", "sample", "info", "nll")


def _fix_frozen_streams() -> None:
    # A windowed PyInstaller build has no console: sys.stdout/stderr are None and any print
    # (ours or a library's) would raise. Send them to the null device instead.
    import os

    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the app


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
    from diffview.gui.app import run_gui

    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
