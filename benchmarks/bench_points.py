"""Frames per second of a moving point cloud: diffview's PointsItem against ScatterPlotItem.

One frame = give the item new coordinates (the cloud moves a little, as in a diffusion
animation) + a synchronous repaint of an 800 x 600 PlotWidget (offscreen).  Reported: the
median frame time as frames/s and the 10th-90th percentile spread.

Run alone: ``.venv/bin/python -m benchmarks.bench_points``.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

SIZES = (10_000, 50_000, 200_000)


def _frame_times(widget, update, n_frames: int, app) -> np.ndarray:
    times = []
    for k in range(n_frames + 2):
        t0 = time.perf_counter()
        update(k)
        widget.viewport().repaint()
        dt = time.perf_counter() - t0
        app.processEvents()
        if k >= 2:  # the first frames pay for allocations and autorange
            times.append(dt)
    return np.array(times)


FPS_TARGET = 30.0
STALL_LIMIT_MS = 50.0
_fps_at_50k: dict[str, float] = {}


def _row(name: str, n: int, times: np.ndarray) -> str:
    med = float(np.median(times))
    if n == 50_000:
        _fps_at_50k[name] = 1.0 / med
    lo, hi = np.percentile(times, [10, 90])
    return (f"| {name} | {n:,} | {1.0 / med:.1f} | {med * 1e3:.1f} | "
            f"{lo * 1e3:.1f} - {hi * 1e3:.1f} | {times.size} |")


def run(sizes=SIZES, frames: int = 30) -> str:
    """Measure both items at each size; return a markdown section."""
    import pyqtgraph as pg

    from diffview.gui.panels.points_item import PointsItem

    app = pg.mkQApp()
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        base = rng.standard_normal((n, 2))
        drift = rng.standard_normal((n, 2))
        clouds = [base + 0.02 * k * drift for k in range(8)]

        for label, threshold in (("PointsItem, drawPoints path", 10**12),
                                 ("PointsItem, numpy raster path", 0)):
            w = pg.PlotWidget()
            w.resize(800, 600)
            w.show()
            item = PointsItem(size=2.0)
            item.raster_threshold = threshold
            w.addItem(item)
            item.setData(clouds[0])
            w.setRange(xRange=(-4, 4), yRange=(-4, 4), padding=0)
            app.processEvents()
            t = _frame_times(w, lambda k, it=item, c=clouds: it.setData(c[k % 8]), frames, app)
            rows.append(_row(label, n, t))
            w.close()

        w = pg.PlotWidget()
        w.resize(800, 600)
        w.show()
        scatter = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(80, 160, 255),
                                     pxMode=True)
        w.addItem(scatter)
        scatter.setData(pos=clouds[0])
        w.setRange(xRange=(-4, 4), yRange=(-4, 4), padding=0)
        app.processEvents()
        # ScatterPlotItem is slow at 200k: fewer frames keep the benchmark under a minute
        n_sc = max(3, frames // 6) if n > 50_000 else max(5, frames // 2)
        t = _frame_times(w, lambda k, sc=scatter, c=clouds: sc.setData(pos=c[k % 8]), n_sc, app)
        rows.append(_row("ScatterPlotItem.setData", n, t))
        w.close()
        app.processEvents()

    rows.extend(_panel_rows(app, frames))
    stall = _heartbeat_during_reverse_run(app)

    head = ("## Point cloud drawing (2-D SDE panel)\n\n"
            "One frame = new coordinates for every point + synchronous repaint of an "
            "800x600 offscreen PlotWidget, 2-pixel points. PointsItem uses the drawPoints "
            f"path below {PointsItem.raster_threshold:,} points and the raster path from "
            "there on; both are measured at every size. Command: "
            "`.venv/bin/python -m benchmarks.bench_points`. The Sde2DPanel rows let the panel "
            "play the closed-form forward process as fast as its timer allows (x_t, labels, "
            "points, painting, and applying overlays that the worker thread computes, at most "
            "10 a second while playing), with 50,000 points of the moons data at 1100x700; a "
            "frame is the time between two shown frames.\n\n"
            "| item | points | frames/s (median) | ms/frame | ms, 10th-90th pct | frames |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: |\n")
    return head + "\n".join(rows) + "\n\n" + stall + "\n" + _targets(rows) + "\n"


def _targets(_rows) -> str:
    """Target lines for the summary: 30 frames/s at 50,000 points, the 2-D run's stall."""
    panel = {k: v for k, v in _fps_at_50k.items() if k.startswith("Sde2DPanel playing")}
    item = {k: v for k, v in _fps_at_50k.items() if k.startswith("PointsItem")}
    lines = []
    if panel:
        worst = min(panel.values())
        lines.append(f"Target: the 2-D animation runs at {FPS_TARGET:.0f} frames/s or more with "
                     f"50,000 points: **{'met' if worst >= FPS_TARGET else 'not met'}** (the "
                     "whole panel playing: "
                     + ", ".join(f"{k.split(', ', 1)[1]} {v:.0f}" for k, v in panel.items())
                     + f" frames/s; the points item alone {max(item.values()):.0f} frames/s).")
    if _stall_ms:
        ok = "met" if _stall_ms[0] <= STALL_LIMIT_MS else "not met"
        lines.append(f"Target: the event loop never stalls more than {STALL_LIMIT_MS:.0f} ms "
                     f"during a 2-D reverse run: **{ok}** (largest gap {_stall_ms[0]:.0f} ms).")
    return "\n".join(lines)


_stall_ms: list[float] = []


def _heartbeat_during_reverse_run(app, n_points: int = 50_000, n_steps: int = 20) -> str:
    """Largest gap of a 10 ms QTimer while the panel streams a reverse run (exact score)."""
    import time as _time

    from PySide6.QtCore import QTimer

    from diffview.gui.context import AppContext
    from diffview.gui.panels.sde2d import Sde2DPanel

    ctx = AppContext()
    panel = Sde2DPanel(ctx)
    panel.resize(1100, 700)
    panel.show()
    panel.n_spin.setValue(n_points)
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("spiral"))
    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("reverse"))
    panel.steps_spin.setValue(n_steps)
    panel.arrows_check.setChecked(True)
    app.processEvents()

    def idle_gaps(seconds: float) -> np.ndarray:
        gaps, last = [], [_time.perf_counter()]

        def beat():
            now = _time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(beat)
        timer.start()
        t0 = _time.perf_counter()
        while _time.perf_counter() - t0 < seconds:
            app.processEvents()
            _time.sleep(0.001)
        timer.stop()
        return np.array(gaps)

    base = idle_gaps(2.0)
    done: list[int] = []
    panel.run_completed.connect(lambda _kind: done.append(1))
    gaps, last = [], [_time.perf_counter()]

    def beat():
        now = _time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(beat)
    timer.start()
    t0 = _time.perf_counter()
    panel.run()
    while not done:
        app.processEvents()
        _time.sleep(0.001)
    run_s = _time.perf_counter() - t0
    timer.stop()
    panel.shutdown()
    panel.close()
    g = np.array(gaps) * 1e3
    b = base * 1e3
    _stall_ms[:] = [float(g.max())]
    return ("GUI heartbeat (10 ms QTimer) while the panel streams a reverse-SDE run of "
            f"{n_points:,} spiral points ({n_steps} steps, exact score, arrows on, "
            f"{run_s:.1f} s): largest gap {g.max():.0f} ms, 99th percentile "
            f"{np.percentile(g, 99):.0f} ms, median {np.median(g):.0f} ms; idle before the run: "
            f"largest {b.max():.0f} ms, 99th percentile {np.percentile(b, 99):.0f} ms.\n")


def _panel_rows(app, frames: int) -> list[str]:
    """The whole 2-D panel playing the forward process with 50k points, timer-driven.

    The play timer's interval is set to 0 so the panel advances as fast as it can; a frame is
    the time between two ``frame_shown`` signals, event processing and painting included.
    """
    import time as _time

    from diffview.gui.context import AppContext
    from diffview.gui.panels.sde2d import Sde2DPanel

    ctx = AppContext()
    panel = Sde2DPanel(ctx)
    panel.resize(1100, 700)
    panel.show()
    panel.n_spin.setValue(50_000)
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("moons"))
    panel._play_timer.setInterval(0)
    rows = []
    for label, view, arrows in (("points", "points", False),
                                ("points + density + score arrows", "both", True)):
        panel.view_combo.setCurrentIndex(panel.view_combo.findData(view))
        panel.arrows_check.setChecked(arrows)
        panel.set_frame(max(0, panel.frame_count() - 3 - max(frames, 10) * 2))
        panel.refresh_overlays_now()
        app.processEvents()
        stamps: list[float] = []
        panel.frame_shown.connect(lambda _i, s=stamps: s.append(_time.perf_counter()))
        panel.set_playing(True)
        while panel.play_btn.isChecked():
            app.processEvents()
        panel.frame_shown.disconnect()
        t = np.diff(np.array(stamps))[2:]
        rows.append(_row(f"Sde2DPanel playing, {label}", 50_000, t))
    panel.shutdown()
    panel.close()
    return rows


if __name__ == "__main__":
    print(run())
