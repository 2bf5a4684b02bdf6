"""Command-line interface: ``diffview train``, ``diffview sample`` and ``diffview info``.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; the module is imported only when its command is used, so that
``diffview info`` never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

_COMMANDS = {
    "train": "Train an epsilon network (images or 2-D points) and export it to ONNX.",
    "sample": "Draw samples from a model and save them as a PNG grid (and .npy).",
    "info": "Show a model's metadata, inputs, outputs and execution provider.",
    "nll": "Bits/dim of the first N images of a data set: the ELBO term by term or the ODE.",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffview", description="diffview command line")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in _COMMANDS.items():
        if command is not None and name != command:
            # Register a stub so `diffview --help` lists every command without importing it.
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(f"diffview.cli.{name}")
        module.add_parser(sub, help_text)
    return parser


def run_cli(argv: list[str]) -> int:
    command = argv[0] if argv else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    module = importlib.import_module(f"diffview.cli.{args.command}")
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `diffview info X | head` closed the pipe early: not an error worth a traceback.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
