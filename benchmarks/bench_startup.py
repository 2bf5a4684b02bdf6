"""App start-up time: from process start to the main window shown with the default model
loaded and ready (issue #4: under 2 s warm), from source and from the frozen build.

Each start runs the real ``diffview`` command with ``DIFFVIEW_STARTUP_PROBE=1``: once the
window is shown and the model has loaded, the app prints the seconds since its process began
(from /proc, 10 ms resolution) and quits. The launcher's own clock (from just before the
process is spawned to the printed line) is reported beside it. One cold-ish start comes
first and is reported apart; the warm figure is the median of the following starts.

The frozen build is not built here (``scripts/build_exe.sh --light`` takes minutes): the
benchmark uses ``dist/diffview/diffview`` when it exists, or the executable named by
``DIFFVIEW_FROZEN_EXE``, and says so when there is none.

Run alone: ``.venv/bin/python -m benchmarks.bench_startup``.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "dist" / "diffview" / "diffview"
TARGET_S = 2.0
READY = re.compile(r"^diffview-startup-ready ([0-9.\-]+) s model=(\S+)$", re.M)
ALL_PANELS = re.compile(r"^diffview-startup-all-panels ([0-9.\-]+) s$")


def start_once(cmd: list[str], timeout_s: float = 120.0) -> tuple[float, float, str, float]:
    """Start the app once; returns (seconds by the app's /proc clock, seconds by the
    launcher's clock, model name, seconds until the background tabs were built too).
    Raises RuntimeError when no ready line comes within
    ``timeout_s`` (the process is then killed)."""
    env = {**os.environ, "DIFFVIEW_STARTUP_PROBE": "1", "QT_QPA_PLATFORM": "offscreen",
           "DIFFVIEW_SETTINGS_DIR": tempfile.mkdtemp(prefix="diffview_startup_")}
    lines: queue.Queue = queue.Queue()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)

    def read():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        while True:
            left = timeout_s - (time.monotonic() - t0)
            try:
                line = lines.get(timeout=max(0.01, left))
            except queue.Empty:
                break
            if line is None:
                break
            match = READY.match(line.strip())
            if match:
                seen = time.monotonic() - t0
                all_panels = float("nan")  # builds older than the deferred panels say nothing
                try:
                    while (rest := lines.get(timeout=30)) is not None:
                        done = ALL_PANELS.match(rest.strip())
                        if done:
                            all_panels = float(done.group(1))
                except queue.Empty:
                    pass
                proc.wait(timeout=30)
                return float(match.group(1)), seen, match.group(2), all_panels
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    raise RuntimeError(f"{cmd[0]} printed no start-up line within {timeout_s:.0f} s "
                       f"(exit {proc.returncode})")


def measure(cmd: list[str], repeats: int) -> dict:
    first = start_once(cmd)
    runs = [start_once(cmd) for _ in range(repeats)]
    app = np.array([r[0] for r in runs])
    seen = np.array([r[1] for r in runs])
    every = np.array([r[3] for r in runs])
    return {"first": first, "app": app, "seen": seen, "model": runs[-1][2], "all": every}


def _fmt(values: np.ndarray) -> str:
    lo, hi = np.percentile(values, [10, 90]) if values.size > 2 else (values.min(), values.max())
    return f"{np.median(values):.2f} s ({lo:.2f}-{hi:.2f})"


def _row(label: str, r: dict) -> str:
    every = _fmt(r["all"]) if np.isfinite(r["all"]).all() else "not reported"
    return (f"| {label} | {_fmt(r['app'])} | {_fmt(r['seen'])} | {every} | "
            f"{r['first'][0]:.2f} s | {r['app'].size} | {r['model']} |")


def frozen_executable() -> Path | None:
    named = os.environ.get("DIFFVIEW_FROZEN_EXE")
    path = Path(named) if named else FROZEN
    return path if path.is_file() and os.access(path, os.X_OK) else None


def run(repeats: int = 7) -> str:
    """Measure; return the markdown section."""
    load_before = os.getloadavg()[0]
    rows, notes = [], []
    source = measure([sys.executable, "-m", "diffview"], repeats)
    rows.append(_row("from source (`python -m diffview`)", source))
    exe = frozen_executable()
    frozen = None
    if exe is None:
        notes.append(f"Frozen build: none found at {FROZEN.relative_to(ROOT)} (build one with "
                     "`bash scripts/build_exe.sh --light`, or set DIFFVIEW_FROZEN_EXE), so "
                     "its start-up was not measured.")
    else:
        built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(exe.stat().st_mtime))
        try:
            frozen = measure([str(exe)], repeats)
            shown = exe.relative_to(ROOT) if exe.is_relative_to(ROOT) else exe
            rows.append(_row(f"frozen (`{shown}`, built {built})", frozen))
        except RuntimeError as exc:
            notes.append(f"Frozen build {exe} (built {built}) gave no start-up line: {exc}. "
                         "A build older than the DIFFVIEW_STARTUP_PROBE hook cannot report it; "
                         "rebuild with `bash scripts/build_exe.sh --light`.")
    load_after = os.getloadavg()[0]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    med = float(np.median(source["app"]))
    verdict = "met" if med < TARGET_S else "not met"
    lines = [
        "## App start-up",
        "",
        f"Command: `.venv/bin/python -m benchmarks startup`. Measured {when}; load average "
        f"(1 min) {load_before:.2f} before, {load_after:.2f} after. From process start to the "
        "main window shown with the default model loaded and ready (offscreen Qt), printed by "
        "the app itself (`DIFFVIEW_STARTUP_PROBE=1`, /proc clock, 10 ms resolution) and timed "
        "by the launcher from just before the spawn to the printed line. Warm = median "
        f"(10th-90th percentile) of {repeats} starts after a first one, which is shown apart. "
        "The panels that open as background tabs are built after the window is shown; the "
        "app prints when the last of them exists too (\"all panels built\").",
        "",
        "| start | warm, app clock | warm, launcher clock | all panels built, app clock "
        "| first start | starts | model |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
        f"Target: start-up under {TARGET_S:.0f} s warm (from source): **{verdict}** "
        f"({med:.2f} s).",
    ]
    if frozen is not None:
        fmed = float(np.median(frozen["app"]))
        lines.append(f"Target: frozen start-up under {TARGET_S:.0f} s warm: "
                     f"**{'met' if fmed < TARGET_S else 'not met'}** ({fmed:.2f} s).")
    lines += ["", *notes] if notes else []
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
