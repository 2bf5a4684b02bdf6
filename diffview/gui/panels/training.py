"""Training panel: watch a model learn, and scrub through its previews over training time.

The loss curve (every step, and its running average) updates live beside the samples the EMA
weights drew every N steps; a slider moves through every preview kept so far and marks its step
on the curve. Pause, resume, cancel and continue drive the training child process through a
:class:`~diffview.gui.training.session.TrainingSession`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.imaging import X_LEVELS, mosaic, to_display
from diffview.gui.training.session import TrainingSession

__all__ = ["TrainingPanel", "fmt_duration"]

REDRAW_MS = 100  # the loss curve is redrawn at most this often
POINTS_RANGE = 4.5

STATE_TEXT = {
    "idle": "No training run yet. Train… starts one with the Preferences' Training options.",
    "starting": "Starting (loading torch and the data)…",
    "running": "Training",
    "paused": "Paused",
    "stopping": "Stopping after this step and writing a checkpoint…",
    "exporting": "Exporting to ONNX…",
    "validating": "Checking the new model…",
    "finished": "Finished",
    "cancelled": "Cancelled: the last checkpoint is kept",
    "failed": "Failed",
}


def fmt_duration(seconds) -> str:
    """``m:ss`` or ``h:mm:ss``; ``--:--`` for unknown."""
    if seconds is None or not math.isfinite(float(seconds)):
        return "--:--"
    s = int(round(float(seconds)))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class TrainingPanel(QWidget):
    """Loss curve, live statistics and previews of a training run."""

    panel_name = "training"
    title = "Training"

    settings_requested = Signal()  # "Settings…": the main window opens Preferences > Training
    train_requested = Signal()  # "Train": the main window checks torch, then calls start()

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.session = TrainingSession(context, self)
        self._dirty = False
        self._build()
        s = self.session
        s.state_changed.connect(self._on_state)
        s.progress_updated.connect(self._on_progress)
        s.preview_added.connect(self._on_preview)
        s.history_changed.connect(self._on_history)
        s.message.connect(self._log)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()
        self._on_state("idle")

    # ---- widgets ------------------------------------------------------------------------

    def _button(self, text: str, tip: str, slot, name: str) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    def _build(self) -> None:
        self.train_button = self._button("Train", "Start a new run with the saved Training "
                                         "options (Preferences > Training)",
                                         self.train_requested.emit, "train")
        self.settings_button = self._button("Settings…", "Edit the training options",
                                            self.settings_requested.emit, "settings")
        self.pause_button = self._button("Pause", "Pause between two steps (the run keeps "
                                         "its state); press again to resume",
                                         self.toggle_pause, "pause")
        self.cancel_button = self._button("Cancel", "Stop after the current step; the "
                                          "checkpoint is kept", self.session.cancel, "cancel")
        self.continue_button = self._button("Continue", "Resume the stopped run from its last "
                                            "checkpoint", self.session.continue_run, "continue")
        top = QHBoxLayout()
        for b in (self.train_button, self.settings_button, self.pause_button,
                  self.cancel_button, self.continue_button):
            top.addWidget(b)
        top.addStretch(1)
        self.state_label = QLabel("")
        self.state_label.setObjectName("state")
        self.state_label.setWordWrap(True)
        self.stats_label = QLabel("")
        self.stats_label.setObjectName("stats")
        self.stats_label.setToolTip("Step, loss of the last step (and its running average), "
                                    "throughput, training time and time left")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)

        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setObjectName("loss_plot")
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.showGrid(x=True, y=True, alpha=0.25)
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.setLabel("left", "loss (MSE of ε)")
        self.loss_plot.addLegend(offset=(-10, 10))
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen((120, 160, 220, 110)),
                                              name="every step")
        self.avg_curve = self.loss_plot.plot([], [], pen=pg.mkPen((230, 120, 30), width=2),
                                             name="running average")
        for c in (self.loss_curve, self.avg_curve):
            c.setClipToView(True)
            c.setDownsampling(auto=True, method="peak")
        self.preview_line = pg.InfiniteLine(angle=90, movable=False,
                                            pen=pg.mkPen((60, 170, 90), width=1.5))
        self.preview_line.hide()
        self.loss_plot.addItem(self.preview_line)

        self.preview_view = pg.GraphicsLayoutWidget()
        self.preview_view.setObjectName("preview_view")
        self.image_box = self.preview_view.addViewBox(row=0, col=0, lockAspect=True,
                                                      enableMouse=False, invertY=True)
        self.image_box.setMenuEnabled(False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_box.addItem(self.image_item)
        self.points_plot = self.preview_view.addPlot(row=0, col=1)
        self.points_plot.setAspectLocked(True)
        self.points_plot.setRange(xRange=(-POINTS_RANGE, POINTS_RANGE),
                                  yRange=(-POINTS_RANGE, POINTS_RANGE), padding=0)
        self.points_item = pg.ScatterPlotItem(size=3, pen=None,
                                              brush=pg.mkBrush(60, 120, 220, 140))
        self.points_plot.addItem(self.points_item)
        self.points_plot.hide()
        self.preview_slider = QSlider(Qt.Orientation.Horizontal)
        self.preview_slider.setObjectName("preview_slider")
        self.preview_slider.setToolTip("Scrub through the previews over training time")
        self.preview_slider.setRange(0, 0)
        self.preview_slider.setEnabled(False)
        self.preview_slider.valueChanged.connect(self.show_preview)
        self.preview_label = QLabel("no preview yet")
        self.preview_label.setObjectName("preview_label")
        self.follow_check = QCheckBox("Follow the newest")
        self.follow_check.setToolTip("Jump to each new preview as it arrives")
        self.follow_check.setChecked(True)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.preview_view, 1)
        row = QHBoxLayout()
        row.addWidget(self.preview_slider, 1)
        row.addWidget(self.follow_check)
        rl.addLayout(row)
        rl.addWidget(self.preview_label)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.loss_plot)
        split.addWidget(right)
        split.setSizes([600, 400])

        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(400)
        self.log_view.setMaximumHeight(90)
        self.log_view.setToolTip("What the training process reported")
        self.log_view.setPlaceholderText("Messages of the training process appear here: the "
                                         "data it loaded, checkpoints, the export and checks.")

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.state_label)
        stats = QHBoxLayout()
        stats.addWidget(self.stats_label, 1)
        stats.addWidget(self.progress)
        lay.addLayout(stats)
        lay.addWidget(split, 1)
        lay.addWidget(self.log_view)
        self.setMinimumSize(520, 360)

    # ---- actions ------------------------------------------------------------------------

    def start(self, prefs) -> None:
        """Start a run with ``prefs`` (a :class:`~diffview.gui.preferences.TrainingPrefs`)."""
        self.session.start(prefs)

    def toggle_pause(self) -> None:
        if self.session.state == "paused":
            self.session.resume()
        else:
            self.session.pause()
            self.pause_button.setText("Pausing…")
            self.pause_button.setEnabled(False)

    # ---- session signals ----------------------------------------------------------------

    def _on_state(self, state: str) -> None:
        active = self.session.is_active()
        text = STATE_TEXT.get(state, state)
        if state == "failed" and self.session.error_message:
            text = f"Failed: {self.session.error_message}"
        elif state == "finished" and self.session.final_note:
            text = f"Finished. {self.session.final_note}"
        self.state_label.setText(text)
        self.train_button.setEnabled(not active)
        self.settings_button.setEnabled(True)
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.cancel_button.setEnabled(state in ("starting", "running", "paused"))
        self.continue_button.setEnabled(self.session.can_continue())
        if state == "starting":
            self.progress.setRange(0, 0)
        elif self.progress.maximum() == 0:
            self.progress.setRange(0, max(1, self.session.total_steps))

    def _on_progress(self, ev: dict) -> None:
        s = self.session
        self._dirty = True
        loss, avg = ev.get("loss"), ev.get("loss_avg")
        parts = [f"step {s.step:,} / {s.total_steps:,}"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}" + (f" (avg {avg:.4f})" if avg is not None else ""))
        sps = ev.get("samples_per_s")
        if sps is not None:
            parts.append(f"{sps:,.0f} samples/s")
        parts.append(f"elapsed {fmt_duration(ev.get('elapsed_s'))}")
        parts.append(f"ETA {fmt_duration(ev.get('eta_s'))}")
        self.stats_label.setText(" · ".join(parts))
        self.progress.setRange(0, max(1, s.total_steps))
        self.progress.setValue(min(s.step, s.total_steps))

    def _on_preview(self, index: int) -> None:
        n = len(self.session.previews)
        follow = self.follow_check.isChecked() or self.preview_slider.value() >= n - 2
        self.preview_slider.setEnabled(True)
        self.preview_slider.setRange(0, n - 1)
        if follow:
            self.preview_slider.setValue(index)
        if n == 1 or follow:
            self.show_preview(self.preview_slider.value())
        else:
            self._update_preview_label(self.preview_slider.value())

    def _on_history(self) -> None:
        n = len(self.session.previews)
        self.preview_slider.setRange(0, max(0, n - 1))
        self.preview_slider.setEnabled(n > 0)
        if n:
            self.show_preview(min(self.preview_slider.value(), n - 1))
        else:
            self.image_item.clear()
            self.points_item.clear()
            self.preview_line.hide()
            self.preview_label.setText("no preview yet")
        self._dirty = True
        self._redraw()

    def _log(self, text: str) -> None:
        if text:
            self.log_view.appendPlainText(text)

    # ---- drawing ------------------------------------------------------------------------

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        s = self.session
        steps = np.asarray(s.steps, np.float64)
        losses = np.asarray(s.losses, np.float64)
        ok = np.isfinite(losses) & (losses > 0)
        self.loss_curve.setData(steps[ok], losses[ok])
        avg = np.asarray(s.avg_losses, np.float64)
        ok = np.isfinite(avg) & (avg > 0)
        self.avg_curve.setData(np.asarray(s.avg_steps, np.float64)[ok], avg[ok])

    def _update_preview_label(self, index: int) -> None:
        previews = self.session.previews
        if not previews:
            return
        step = previews[index][0]
        self.preview_label.setText(f"preview at step {step:,} ({index + 1} of {len(previews)})")

    def show_preview(self, index: int) -> None:
        """Show preview ``index`` (its step marked on the loss curve)."""
        previews = self.session.previews
        if not previews or not 0 <= index < len(previews):
            return
        step, samples = previews[index]
        if samples.ndim == 4:
            self.points_plot.hide()
            self.image_box.show()
            cols = max(1, math.ceil(math.sqrt(samples.shape[0])))
            self.image_item.setImage(to_display(mosaic(samples, cols)), autoLevels=False,
                                     levels=X_LEVELS)
            self.image_box.autoRange(padding=0.02)
        else:
            self.image_box.hide()
            self.points_plot.show()
            self.points_item.setData(pos=samples[:, :2])
        self.preview_line.setValue(step)
        self.preview_line.show()
        self._update_preview_label(index)

    # ---- panel protocol -----------------------------------------------------------------

    def demo_state(self) -> None:
        """Nothing to start for a screenshot: a training run takes minutes."""

    def is_busy(self) -> bool:
        return False  # a run can take hours; screenshots must not wait for it

    def state_dict(self) -> dict:
        return {"follow": self.follow_check.isChecked()}

    def load_state(self, data: dict) -> None:
        follow = data.get("follow", self.follow_check.isChecked())
        if not isinstance(follow, bool):
            raise ValueError(f"training: follow must be true or false, not {follow!r}")
        self.follow_check.setChecked(follow)

    def animation_source(self):
        return None

    def animation_hint(self) -> str:
        return "The Training panel has no animation; scrub its previews with the slider."

    def shutdown(self) -> None:
        self._timer.stop()
        self.session.shutdown()
