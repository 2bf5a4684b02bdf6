"""Scrub latency of the forward panel against the memory-bandwidth floor.

A scrub step is ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` with x0 and eps fixed:
``core.forward.q_sample_step(..., out=...)`` reads two arrays and writes one, so no
implementation can beat ``3 * nbytes / bandwidth``. The bandwidth is measured here with
numpy's ``np.add(a, b, out=c)`` (the same three streams), twice: on 64 MB arrays, far larger
than the caches (the DRAM floor), and on arrays of the image's own size (the floor for a
working set that stays in cache, as it does while the user scrubs: 9 MB for 512x512 RGB fits
the 32 MB L3 of the development machine; for 28x28 this "floor" is numpy's call overhead).

Measured: (1) the computation alone, as the panel calls it (display layout, float32, into a
preallocated array); (2) one whole slider move of the ForwardPanel, ``slider.setValue``,
which runs the computation, ``ImageItem.setImage``, the histogram and the schedule cursors
synchronously; (3) the same plus a synchronous repaint of the panel (offscreen raster).

Run alone: ``.venv/bin/python -m benchmarks.bench_scrub``.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

TARGETS_MS = {"28x28 gray": 1.0, "512x512 RGB": 10.0}
SHAPES = {"28x28 gray": (28, 28), "512x512 RGB": (512, 512, 3)}


def memory_bandwidth(n_bytes: int = 64 * 2**20, repeats: int = 15) -> float:
    """Sustained bandwidth in GB/s of ``c = a + b`` on float32 arrays of ``n_bytes`` each
    (two reads, one write), the median over ``repeats``."""
    n = max(1, n_bytes // 4)
    n_bytes = 4 * n
    a = np.ones(n, np.float32)
    b = np.ones(n, np.float32)
    c = np.empty(n, np.float32)
    np.add(a, b, out=c)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.add(a, b, out=c)
        times.append(time.perf_counter() - t0)
    return 3 * n_bytes / float(np.median(times)) / 1e9


def _timed(fn, repeats: int) -> np.ndarray:
    times = np.empty(repeats)
    for k in range(repeats):
        t0 = time.perf_counter()
        fn(k)
        times[k] = time.perf_counter() - t0
    return times


def _ms(t: np.ndarray) -> str:
    lo, hi = np.percentile(t, [10, 90]) * 1e3
    return f"{np.median(t) * 1e3:.3f} ({lo:.3f}-{hi:.3f})"


def compute_times(shape, repeats: int) -> np.ndarray:
    from diffview.core.forward import q_sample_step
    from diffview.core.schedules import make_schedule

    rng = np.random.default_rng(0)
    schedule = make_schedule("linear", 1000)
    x0 = rng.uniform(-1, 1, shape).astype(np.float32)
    noise = rng.standard_normal(shape, dtype=np.float32)
    out = np.empty_like(x0)
    steps = rng.integers(1, 1001, repeats)
    for s in steps[:10]:
        q_sample_step(x0, schedule, int(s), noise, out=out)
    return _timed(lambda k: q_sample_step(x0, schedule, int(steps[k]), noise, out=out), repeats)


def panel_times(shape, repeats: int, repaint: bool) -> np.ndarray:
    from PySide6.QtWidgets import QApplication

    from diffview.gui.context import AppContext
    from diffview.gui.panels.forward import ForwardPanel

    app = QApplication.instance() or QApplication([])
    ctx = AppContext(device="cpu")
    panel = ForwardPanel(ctx)
    panel.resize(1200, 800)
    panel.show()
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-1, 1, shape).astype(np.float32)
    x0 = x0[None] if x0.ndim == 2 else np.moveaxis(x0, -1, 0)  # (C, H, W)
    panel.set_image(np.ascontiguousarray(x0), "benchmark")
    app.processEvents()
    steps = rng.integers(1, panel.slider.maximum() + 1, repeats + 10)

    def move(k):
        panel.slider.setValue(int(steps[k]))
        if repaint:
            panel.repaint()

    for k in range(10):
        move(k)
        app.processEvents()
    times = []
    for k in range(10, repeats + 10):
        t0 = time.perf_counter()
        move(k)
        times.append(time.perf_counter() - t0)
        app.processEvents()
    panel.shutdown()
    panel.close()
    panel.deleteLater()
    app.processEvents()
    return np.array(times)


def run(repeats_small: int = 3000, repeats_large: int = 300, repeats_panel: int = 60) -> str:
    """Measure; return the markdown section."""
    load_before = os.getloadavg()[0]
    bw = memory_bandwidth()
    rows, checks = [], []
    for label, shape in SHAPES.items():
        nbytes = int(np.prod(shape)) * 4
        floor_ms = 3 * nbytes / (bw * 1e9) * 1e3
        bw_here = memory_bandwidth(nbytes, repeats=2001 if nbytes < 2**20 else 201)
        cache_floor_ms = 3 * nbytes / (bw_here * 1e9) * 1e3
        n = repeats_small if nbytes < 2**20 else repeats_large
        t_compute = compute_times(shape, n)
        t_panel = panel_times(shape, repeats_panel, repaint=False)
        t_paint = panel_times(shape, max(10, repeats_panel // 2), repaint=True)
        med = float(np.median(t_compute)) * 1e3
        rows.append(f"| {label} | {nbytes / 1024:,.0f} KB | {floor_ms:.4f} | "
                    f"{cache_floor_ms:.4f} | {_ms(t_compute)} | {med / cache_floor_ms:.1f}x | "
                    f"{_ms(t_panel)} | {_ms(t_paint)} |")
        target = TARGETS_MS[label]
        checks.append(f"Target: a scrub step computes in under {target:g} ms for a {label} "
                      f"image: **{'met' if med < target else 'not met'}** ({med:.3f} ms; the "
                      f"whole slider move {np.median(t_panel) * 1e3:.2f} ms).")
    load_after = os.getloadavg()[0]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join([
        "## Scrub latency (forward panel)",
        "",
        f"Command: `.venv/bin/python -m benchmarks scrub`. Measured {when}; load average "
        f"(1 min) {load_before:.2f} before, {load_after:.2f} after. Memory bandwidth measured "
        f"here: **{bw:.1f} GB/s** from DRAM (`np.add` on 64 MB float32 arrays, 2 reads + 1 "
        "write). Floor = 3 x array bytes / bandwidth (read x0 and eps, write x_t): with the "
        "DRAM bandwidth, and with `np.add` timed on arrays of the image's own size (in cache, "
        "as during a scrub; for 28x28 this is numpy's call overhead). Times in ms: median "
        "(10th-90th percentile). Compute = `q_sample_step(..., out=)` as the panel calls it; "
        "slider move = `ForwardPanel.slider.setValue` (compute, setImage, histogram, cursors); "
        "+ repaint = the same and a synchronous repaint of the 1200x800 panel.",
        "",
        "| image | array | DRAM floor ms | in-cache floor ms | compute ms "
        "| compute / in-cache floor | slider move ms | + repaint ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        *checks,
        "",
    ])


if __name__ == "__main__":
    print(run())
