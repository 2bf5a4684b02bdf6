"""Drive the real app (``diffview`` without arguments) into a job, then close its window.

Run by test_close_window.py in a subprocess: ``python close_driver.py JOB OUT_DIR [APP ARGS]``
(e.g. ``--model tiny.onnx``). The app
starts through :func:`diffview.gui.app.run_gui` exactly as the ``diffview`` command does; a
timer finds the main window once the default model is loaded, starts ``JOB`` (sampling, race,
grid, sde2d, gif), waits until it is under way, prints ``CLOSING <monotonic seconds>`` and
closes the window as the user's close button would. The process then exits through the
app's own teardown.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _first_frame(frame_signal, start):
    """Call ``start``; return a function telling whether ``frame_signal`` (a runner's
    ``frame_ready`` or a panel's ``frame_shown``) has fired."""
    frames = []
    frame_signal.connect(lambda *_: frames.append(1))
    start()
    return lambda: bool(frames)


def start_job(window, job: str, out: Path):
    """Start ``job``; return a function telling whether it is under way."""
    sampling = window.panels["sampling"]
    if job == "sampling":
        sampling.sampler_combo.setCurrentIndex(sampling.sampler_combo.findData("ddim"))
        sampling.steps_spin.setValue(50)
        sampling.batch_spin.setValue(64)
        return _first_frame(sampling.frame_shown, sampling.run)
    if job == "race":
        sampling.race_edit.setText("ddpm:1000, ddim:50, dpm++2m:20")
        sampling.race_batch.setValue(16)
        return _first_frame(sampling.race_frame_shown, sampling.run_race)
    if job == "grid":
        grid = window.panels["grid"]
        grid.count_spin.setValue(100)
        grid.steps_spin.setValue(200)
        return _first_frame(grid.batch_progressed, grid.new_batch)
    if job == "sde2d":
        panel = window.panels["sde2d"]
        panel.n_spin.setValue(50_000)
        panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("reverse"))
        panel.steps_spin.setValue(1000)
        return _first_frame(panel.live_frame, panel.run)
    if job == "gif":
        # A finished run, then its GIF export: close while the GIF is written.
        sampling.sampler_combo.setCurrentIndex(sampling.sampler_combo.findData("ddim"))
        sampling.steps_spin.setValue(200)
        sampling.batch_spin.setValue(16)
        state = {"exporting": False}

        def export(_result):
            window.export_gif("sampling", out / "run.gif")
            state["exporting"] = True

        sampling.run_completed.connect(export)
        sampling.run()
        return lambda: state["exporting"]
    raise SystemExit(f"unknown job {job!r}")


def main() -> int:
    job, out = sys.argv[1], Path(sys.argv[2])
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from diffview.gui.app import run_gui
    from diffview.gui.main_window import MainWindow

    app = QApplication([sys.argv[0]])
    state = {"phase": "wait-model", "under_way": None, "since": time.monotonic()}

    def tick():
        windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow)]
        if not windows:
            return
        window = windows[0]
        if state["phase"] == "wait-model":
            if (window.model_busy() or window.context.image_model is None
                    or window.deferred_pending()):  # background tabs are built after show
                return
            state["under_way"] = start_job(window, job, out)
            state["phase"] = "wait-job"
        elif state["phase"] == "wait-job" and state["under_way"]():
            state["phase"] = "closing"
            timer.stop()
            QTimer.singleShot(300, lambda: close(window))
        if time.monotonic() - state["since"] > 240:
            print("driver: gave up waiting", flush=True)
            os._exit(3)

    def close(window):
        print(f"CLOSING {time.monotonic():.4f} busy={window.busy()}", flush=True)
        window.close()

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(tick)
    timer.start()
    code = run_gui(sys.argv[3:])
    print(f"EXITED {time.monotonic():.4f} code={code}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
