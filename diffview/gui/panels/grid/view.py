"""The image grid's widgets: the New batch row, the companion switches, the image board.

:class:`GridView` shows a :class:`~.state.GridState`'s settings, draws the mosaics it is
handed and reports the user's input; it holds no state of its own.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.panels.grid.state import COUNT_RANGE, STEPS_RANGE, GridState
from diffview.gui.panels.sampling.board import ImageBoard
from diffview.gui.panels.sampling.info_label import InfoLabel

__all__ = ["NEAREST", "REAL", "SAMPLES", "GridView"]

SAMPLES, REAL, NEAREST = 0, 1, 2  # the board's slots
NEW_BATCH_TIP = "Sample a fresh batch with DDIM (x̂₀ clipped to the data range)"


class GridView(QWidget):
    """Settings rows, one board with the samples, real images and nearest training images.

    Signals
    -------
    edited()
        A setting changed (read them with :meth:`values`).
    new_clicked(), export_clicked()
    sample_clicked(float, float)
        A click on the samples mosaic at image coordinates (x, y).
    """

    edited = Signal()
    new_clicked = Signal()
    export_clicked = Signal()
    sample_clicked = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        root.setSpacing(3)
        row = QHBoxLayout()
        self.new_button = QPushButton("New batch")
        self.new_button.setToolTip(NEW_BATCH_TIP)
        self.new_button.clicked.connect(self.new_clicked)
        row.addWidget(self.new_button)
        self.count_spin = QSpinBox()
        self.count_spin.setRange(*COUNT_RANGE)
        self.count_spin.setSuffix(" images")
        self.count_spin.setToolTip("Images in a new batch (a class-conditional model: about "
                                   "this many, one row per class)")
        row.addWidget(self.count_spin)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(*STEPS_RANGE)
        self.steps_spin.setPrefix("DDIM ")
        self.steps_spin.setSuffix(" steps")
        self.steps_spin.setToolTip("Steps of the DDIM sampler used by New batch")
        row.addWidget(self.steps_spin)
        row.addStretch(1)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setToolTip("Save the grid (and its companions) as a PNG")
        self.export_button.clicked.connect(self.export_clicked)
        row.addWidget(self.export_button)
        root.addLayout(row)
        row = QHBoxLayout()
        self.real_check = QCheckBox("Real images")
        self.real_check.setToolTip("Show as many images from the data set beside the samples")
        row.addWidget(self.real_check)
        self.nn_check = QCheckBox("Nearest training image")
        self.nn_check.setToolTip("Show each sample's closest data-set image (pixel L2): is the "
                                 "model copying?")
        row.addWidget(self.nn_check)
        row.addStretch(1)
        root.addLayout(row)

        self.board = ImageBoard(3)
        self.board.set_title(SAMPLES, "Samples (click one for its trajectory)")
        self.board.set_title(REAL, "Real images")
        self.board.set_title(NEAREST, "Nearest training image")
        self.board.setMinimumSize(240, 160)
        self.board.clicked.connect(self._on_board_clicked)
        root.addWidget(self.board, 1)
        self.info_label = InfoLabel("Run the sampling panel or press New batch.")
        root.addWidget(self.info_label)

        for spin in (self.count_spin, self.steps_spin):
            spin.valueChanged.connect(lambda _v: self.edited.emit())
        for check in (self.real_check, self.nn_check):
            check.toggled.connect(lambda _on: self.edited.emit())

    def values(self) -> dict[str, Any]:
        """The settings as :class:`GridState` fields."""
        return {"count": self.count_spin.value(), "steps": self.steps_spin.value(),
                "real": self.real_check.isChecked(), "nearest": self.nn_check.isChecked()}

    def show_state(self, state: GridState) -> None:
        """Show ``state``'s settings without reporting them as edits."""
        widgets = (self.count_spin, self.steps_spin, self.real_check, self.nn_check)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.count_spin.setValue(int(state.count))
            self.steps_spin.setValue(int(state.steps))
            self.real_check.setChecked(bool(state.real))
            self.nn_check.setChecked(bool(state.nearest))
        finally:
            for w in widgets:
                w.blockSignals(False)

    def set_batch_enabled(self, enabled: bool, problem: str = "") -> None:
        self.new_button.setEnabled(enabled)
        self.new_button.setToolTip(problem or NEW_BATCH_TIP)

    def _on_board_clicked(self, slot: int, x: float, y: float) -> None:
        if slot == SAMPLES:
            self.sample_clicked.emit(x, y)
