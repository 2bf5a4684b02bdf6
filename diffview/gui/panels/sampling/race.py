"""The sampler race: which samplers race, and every racer's images and network calls.

:class:`RaceView` (the tab) draws the racers on one :class:`~.board.ImageBoard` (so all are
shown, at one scale, however many there are) and reports the user's input;
:class:`SamplerRace` runs :func:`diffview.runs.race.run_race` as a
:class:`~diffview.gui.jobs.Job` and draws its frames into the view.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.core.samplers import SAMPLER_LABELS, default_steps
from diffview.gui.imaging import mosaic, to_display
from diffview.gui.jobs import Job
from diffview.gui.panels.sampling.board import ImageBoard
from diffview.gui.panels.sampling.state import RACE_BATCH_RANGE, SamplingState, parse_race_spec
from diffview.runs.race import RaceFrame, RaceResult, run_race
from diffview.runs.sampling import build_sampler
from diffview.runs.seeding import PerSampleNoise

__all__ = ["RaceView", "SamplerRace", "racer_labels"]

LANE = "sampler race"


def racer_labels(configs, T: int) -> list[str]:  # noqa: N803
    """"DDIM 10", "DPM-Solver++ (2M) 20", ... with each sampler's steps resolved for T."""
    out = []
    for name, steps in configs:
        n = default_steps(name, T) if steps is None else min(int(steps), int(T))
        out.append(f"{SAMPLER_LABELS.get(name, name)} {n}")
    return out


def _mosaic(x: np.ndarray) -> np.ndarray:
    return to_display(mosaic(x, max(1, math.ceil(math.sqrt(len(x))))))


class RaceView(QWidget):
    """The race's settings row and a board with one titled mosaic per racer.

    Signals
    -------
    edited()
        The samplers or the images per racer changed (read them with :meth:`values`).
    start_clicked()
    """

    edited = Signal()
    start_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Samplers"))
        self.race_edit = QLineEdit()
        self.race_edit.setToolTip("Comma-separated sampler:steps pairs, all started from the "
                                  "same noise; a sampler without :steps takes its default")
        self.race_edit.textEdited.connect(lambda _t: self.edited.emit())
        row.addWidget(self.race_edit, 1)
        row.addWidget(QLabel("Images"))
        self.race_batch = QSpinBox()
        self.race_batch.setRange(*RACE_BATCH_RANGE)
        self.race_batch.setToolTip("Images per sampler (the same initial noise for every "
                                   "sampler)")
        self.race_batch.valueChanged.connect(lambda _v: self.edited.emit())
        row.addWidget(self.race_batch)
        self.race_button = QPushButton("Start race")
        self.race_button.setToolTip("Run every sampler from the same noise, stepping whichever "
                                    "has used the fewest network calls")
        self.race_button.clicked.connect(self.start_clicked)
        row.addWidget(self.race_button)
        lay.addLayout(row)
        self.board = ImageBoard(0, title_lines=2)
        self.board.setMinimumSize(240, 150)
        lay.addWidget(self.board, 1)
        self.labels: list[str] = []

    def values(self) -> dict:
        return {"race": self.race_edit.text(), "race_batch": self.race_batch.value()}

    def show_state(self, state: SamplingState) -> None:
        for w in (self.race_edit, self.race_batch):
            w.blockSignals(True)
        self.race_edit.setText(state.race)
        self.race_batch.setValue(int(state.race_batch))
        for w in (self.race_edit, self.race_batch):
            w.blockSignals(False)

    def set_running(self, running: bool, problem: str = "") -> None:
        self.race_button.setEnabled(not problem and not running)
        self.race_button.setToolTip(problem or "Run every sampler from the same noise, "
                                               "stepping whichever has used the fewest "
                                               "network calls")

    # ---- racers ---------------------------------------------------------------------------

    def prepare(self, labels: list[str], x_T: np.ndarray) -> None:  # noqa: N803
        """One slot per racer, each showing the common starting noise (B, C, H, W)."""
        self.labels = list(labels)
        self.board.set_count(len(labels))
        start = _mosaic(x_T)
        for j, label in enumerate(labels):
            self.board.set_image(j, start)
            self.board.set_title(j, f"{label}\nNFE 0")

    def show_frame(self, frame: RaceFrame) -> None:
        j = frame.racer
        if j >= self.board.count():
            return
        self.board.set_image(j, _mosaic(frame.x))
        self.board.set_title(j, f"{self.labels[j]}\nstep {frame.racer_step}/"
                                f"{frame.racer_total}, NFE {frame.nfe}")

    def show_result(self, result: RaceResult) -> None:
        for j, final in enumerate(result.finals):
            if j >= self.board.count():
                break
            if final is not None:
                self.board.set_image(j, _mosaic(final[:16]))
            done = "stopped" if result.cancelled else "done"
            self.board.set_title(j, f"{self.labels[j]}\n{done}: NFE {result.nfe[j]} per image")


class SamplerRace(QObject):
    """Runs the race of a :class:`SamplingState` through ``context.jobs`` into a RaceView.

    Signals
    -------
    frame_shown(object)
        A :class:`~diffview.runs.race.RaceFrame` was drawn.
    finished(object), cancelled(object)
        The race's :class:`~diffview.runs.race.RaceResult` (after Cancel: what the racers had,
        or None).
    failed(str)
        The error message of a failed race.
    """

    frame_shown = Signal(object)
    finished = Signal(object)
    cancelled = Signal(object)
    failed = Signal(str)

    def __init__(self, context, view: RaceView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.view = view

    def start(self, state: SamplingState, model) -> int | None:
        """Race ``state.race``'s samplers from the seeding rule's noise; the request id, or
        None (with a message to the user) when the race field is wrong."""
        spec = state.race_spec()
        try:
            configs = parse_race_spec(state.race)
            for name, steps in configs:
                build_sampler(spec.replace(sampler=name, n_steps=steps, eta=0.0), model.info)
        except ValueError as exc:
            self.context.report_error("Sampler race", str(exc))
            return None
        x_T = PerSampleNoise.for_images(spec.seed, spec.batch).standard_normal(  # noqa: N806
            (spec.batch, *model.info.sample_shape), dtype=np.float32)
        self.view.prepare(racer_labels(configs, model.info.T), x_T)
        job = Job("Sampler race", start=lambda token: run_race(spec, model, configs, token),
                  on_frame=self._on_frame, on_result=self._on_result,
                  on_cancelled=self._on_cancelled, on_error=self.failed.emit, lane=LANE)
        return self.context.jobs.start(job)

    def cancel(self) -> None:
        self.context.jobs.cancel(LANE)

    def is_busy(self) -> bool:
        return self.context.jobs.is_busy(LANE)

    def _on_frame(self, frame: RaceFrame) -> None:
        self.view.show_frame(frame)
        self.frame_shown.emit(frame)

    def _on_result(self, result: RaceResult) -> None:
        self.view.show_result(result)
        self.finished.emit(result)

    def _on_cancelled(self, partial: RaceResult | None) -> None:
        if partial is not None:
            self.view.show_result(partial)
        self.cancelled.emit(partial)
