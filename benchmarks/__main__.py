"""Run named benchmarks and update docs/BENCHMARKS.md.

Usage::

    python -m benchmarks                 # every benchmarks/bench_*.py, in one process
    python -m benchmarks inference       # one or more by name
    python -m benchmarks --list
    python -m benchmarks inference --no-write   # print only

Every run also rewrites two sections at the top of docs/BENCHMARKS.md: "Machine and
versions" (this machine now) and "Summary" (every ``Target:`` line of every section, so the
summary always matches the sections below it, whenever each was measured).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import sys
import time
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


def put_first(text: str, section: str) -> str:
    """Like :func:`replace_section`, but a new section goes before the first ``## `` one."""
    heading = section.splitlines()[0].strip()
    if any(line.strip() == heading for line in text.splitlines()):
        return replace_section(text, section)
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    head = "".join(lines[:first]).rstrip("\n") + "\n\n"
    rest = "".join(lines[first:])
    return head + section.rstrip("\n") + "\n" + ("\n" + rest if rest else "")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_section() -> str:
    """The machine and the versions of what the figures depend on."""
    cpu = platform.processor() or platform.machine()
    mem = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB memory"
                break
    except OSError:
        pass
    ort = _version("onnxruntime-gpu")
    ort = ort if ort != "not installed" else _version("onnxruntime")
    versions = ", ".join(f"{name} {ver}" for name, ver in (
        ("Python", platform.python_version()), ("numpy", _version("numpy")),
        ("onnxruntime", ort), ("torch", _version("torch")),
        ("PySide6", _version("PySide6-Essentials")), ("pyqtgraph", _version("pyqtgraph")),
        ("Pillow", _version("pillow"))))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return ("## Machine and versions\n\n"
            f"Last run of `python -m benchmarks` ({when}): {cpu}, {os.cpu_count()} logical "
            f"CPUs{mem}, {platform.system()} {platform.release()}; {versions}. Each section "
            "below says when it was measured and the load average then.\n")


def summary_section(text: str) -> str:
    """Every ``Target:`` line of the document, under the heading of its section."""
    rows, heading = [], None
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif line.startswith("Target:") and heading not in (None, "Summary"):
            rows.append(f"- {heading}: {line[len('Target:'):].strip()}")
    body = "\n".join(rows) if rows else "No targets measured yet."
    return ("## Summary\n\nThe targets of issues #3, #4, #7 and #13 against the figures in the "
            "sections below.\n\n" + body + "\n")


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
    failed = []
    for name in args.names or names:
        print(f"== benchmark {name}", file=sys.stderr, flush=True)
        try:
            section = importlib.import_module(f"benchmarks.bench_{name}").run()
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not stop the rest
            print(f"error: benchmark {name} failed: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            failed.append(name)
            continue
        print(section)
        if not args.no_write:
            text = DOC.read_text() if DOC.exists() else PREAMBLE
            text = replace_section(text, section)
            text = put_first(text, machine_section())
            text = put_first(text, summary_section(text))
            DOC.write_text(text)
            print(f"(section written to {DOC})", file=sys.stderr)
    if failed:
        print(f"error: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
