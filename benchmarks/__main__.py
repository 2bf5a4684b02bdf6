"""Run named benchmarks and update docs/BENCHMARKS.md.

Usage::

    python -m benchmarks                 # every benchmarks/bench_*.py
    python -m benchmarks inference       # one or more by name
    python -m benchmarks --list
    python -m benchmarks inference --no-write   # print only
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "BENCHMARKS.md"
PREAMBLE = (
    "# Benchmarks\n\n"
    "Measured on the development machine and written by `python -m benchmarks [NAME ...]`;\n"
    "each section is replaced when its benchmark is run again. Figures from different\n"
    "machines or from a loaded CPU are not comparable: each section says where and when.\n"
)


def available() -> list[str]:
    """Names of the benchmarks: ``bench_<name>.py`` files beside this one."""
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def replace_section(text: str, section: str) -> str:
    """Put ``section`` (starting with a ``## `` heading) into ``text``, replacing the section
    with the same heading (up to the next ``## `` heading), or appending it."""
    heading = section.splitlines()[0].strip()
    if not heading.startswith("## "):
        raise ValueError(f"a benchmark section must start with '## ', found {heading!r}")
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    body = section.rstrip("\n") + "\n"
    if start is None:
        return text.rstrip("\n") + "\n\n" + body
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + body + ("\n" + tail if tail else "")


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: "
                                                  f"{', '.join(names)})")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--no-write", action="store_true",
                        help=f"print only; do not update {DOC.relative_to(HERE.parent)}")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(names))
        return 0
    unknown = [n for n in args.names if n not in names]
    if unknown:
        print(f"error: unknown benchmark {', '.join(unknown)}; available: {', '.join(names)}",
              file=sys.stderr)
        return 2
    for name in args.names or names:
        section = importlib.import_module(f"benchmarks.bench_{name}").run()
        print(section)
        if not args.no_write:
            text = DOC.read_text() if DOC.exists() else PREAMBLE
            DOC.write_text(replace_section(text, section))
            print(f"(section written to {DOC})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
