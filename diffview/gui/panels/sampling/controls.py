"""The sampling panel's settings rows: sampler, steps, eta, batch, seed, clipping, Run, Cancel.

:class:`SamplingControls` shows a :class:`~.state.SamplingState`'s settings and reports the
user's edits; it holds no state of its own.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.core.samplers import SAMPLER_LABELS, SAMPLERS
from diffview.gui.panels.sampling.state import BATCH_RANGE, SEED_MAX, STEPS_RANGE, SamplingState

__all__ = ["SamplingControls"]

SAMPLER_TIPS = {
    "ddpm": "DDPM (Ho et al. 2020): stochastic, the full chain of T steps by default",
    "ddim": "DDIM (Song et al. 2021): deterministic at η = 0, 50 steps by default",
    "dpm++2m": "DPM-Solver++ (2M) (Lu et al. 2022): a fast second-order solver, 20 steps",
}


class SamplingControls(QWidget):
    """Two rows of settings and the Run / Cancel buttons.

    Signals
    -------
    sampler_chosen(str)
        The user picked another sampler.
    edited()
        Any other setting changed by the user (read them with :meth:`values`).
    run_clicked(), cancel_clicked()
    """

    sampler_chosen = Signal(str)
    edited = Signal()
    run_clicked = Signal()
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(2)
        row = QHBoxLayout()
        row.addWidget(QLabel("Sampler"))
        self.sampler_combo = QComboBox()
        for key in SAMPLERS:
            self.sampler_combo.addItem(SAMPLER_LABELS[key], key)
            self.sampler_combo.setItemData(self.sampler_combo.count() - 1, SAMPLER_TIPS[key],
                                           Qt.ItemDataRole.ToolTipRole)
        self.sampler_combo.setToolTip("DDPM: stochastic, many steps; DDIM: deterministic at "
                                      "η = 0; DPM-Solver++: a fast second-order solver")
        row.addWidget(self.sampler_combo)
        row.addWidget(QLabel("Steps"))
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(*STEPS_RANGE)
        self.steps_spin.setToolTip("Denoising steps (network calls per image); choosing a "
                                   "sampler sets its own default")
        row.addWidget(self.steps_spin)
        self.eta_label = QLabel("η")
        row.addWidget(self.eta_label)
        self.eta_spin = QDoubleSpinBox()
        self.eta_spin.setRange(0.0, 1.0)
        self.eta_spin.setSingleStep(0.1)
        self.eta_spin.setToolTip("DDIM η: 0 deterministic, 1 as stochastic as DDPM")
        row.addWidget(self.eta_spin)
        self.clip_check = QCheckBox("Clip x̂₀")
        self.clip_check.setToolTip("Clip the predicted x₀ to the data range at every step, "
                                   "as Ho et al.'s sampler does")
        row.addWidget(self.clip_check)
        row.addStretch(1)
        root.addLayout(row)

        row = QHBoxLayout()
        row.addWidget(QLabel("Batch"))
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(*BATCH_RANGE)
        self.batch_spin.setToolTip("Images sampled at once (the first 16 are shown live)")
        row.addWidget(self.batch_spin)
        row.addWidget(QLabel("Seed"))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, SEED_MAX)
        self.seed_spin.setToolTip("Seed of the initial noise and of the sampler's noise: the "
                                  "same seed gives the same images here and in diffview sample")
        row.addWidget(self.seed_spin)
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Sample from pure noise (Ctrl+R)")
        self.run_button.clicked.connect(self.run_clicked)
        row.addWidget(self.run_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run; the steps done so far stay replayable and "
                                      "exportable")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        root.addLayout(row)

        self.sampler_combo.currentIndexChanged.connect(
            lambda _i: self.sampler_chosen.emit(self.sampler_combo.currentData()))
        for spin in (self.steps_spin, self.eta_spin, self.batch_spin, self.seed_spin):
            spin.valueChanged.connect(lambda _v: self.edited.emit())
        self.clip_check.toggled.connect(lambda _on: self.edited.emit())

    def values(self) -> dict[str, Any]:
        """The settings as :class:`SamplingState` fields."""
        return {"sampler": self.sampler_combo.currentData(), "steps": self.steps_spin.value(),
                "eta": self.eta_spin.value(), "batch": self.batch_spin.value(),
                "seed": self.seed_spin.value(), "clip": self.clip_check.isChecked()}

    def show_state(self, state: SamplingState) -> None:
        """Show ``state``'s settings without reporting them as edits."""
        widgets = (self.sampler_combo, self.steps_spin, self.eta_spin, self.batch_spin,
                   self.seed_spin, self.clip_check)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.sampler_combo.setCurrentIndex(max(0, self.sampler_combo.findData(state.sampler)))
            self.steps_spin.setValue(int(state.steps))
            self.eta_spin.setValue(float(state.eta))
            self.batch_spin.setValue(int(state.batch))
            self.seed_spin.setValue(int(state.seed))
            self.clip_check.setChecked(bool(state.clip))
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.eta_spin.setEnabled(state.uses_eta)
        self.eta_label.setEnabled(state.uses_eta)

    def set_max_steps(self, T: int) -> None:  # noqa: N803
        """Steps go up to the model's T."""
        self.steps_spin.blockSignals(True)
        self.steps_spin.setMaximum(max(1, int(T)))
        self.steps_spin.blockSignals(False)

    def set_running(self, running: bool, problem: str = "") -> None:
        """Run is enabled when there is a model (``problem`` says why not) and nothing runs."""
        self.run_button.setEnabled(not problem and not running)
        self.run_button.setToolTip(problem or "Sample from pure noise (Ctrl+R)")
        self.cancel_button.setEnabled(running)
