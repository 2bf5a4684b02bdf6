"""The parameter column of the 1-D physics panel: process, walk, OU and run settings.

:class:`WalkControls` turns its widgets into a :class:`~diffview.runs.walk1d.WalkSpec` and back;
it knows nothing of the simulation.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.panels.randomwalk.state import PER_FRAME_RANGE
from diffview.runs.walk1d import LIMITS, WalkSpec

__all__ = ["MODE_LABELS", "PROB_STEPS", "WalkControls"]

MODE_LABELS = {"lattice": "Lattice random walk (p, q)",
               "ou": "Ornstein-Uhlenbeck  dx = -γx dt + σ dW"}
PROB_STEPS = 100                       # slider resolution: p, q in 0, 0.005, ..., 0.5


def _prob_slider(tip: str) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(0, PROB_STEPS)
    s.setToolTip(tip)
    return s


def _double(lo_hi: tuple[float, float], value: float, step: float, tip: str,
            decimals: int = 2) -> QDoubleSpinBox:
    w = QDoubleSpinBox()
    w.setDecimals(decimals)
    w.setRange(*lo_hi)
    w.setValue(value)
    w.setSingleStep(step)
    w.setToolTip(tip)
    return w


class WalkControls(QWidget):
    """Widgets for every field of a :class:`WalkSpec`, plus Play/Step/Reset.

    Signals
    -------
    spec_changed()
        A parameter of the simulation changed (the panel resets it).
    """

    spec_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        d = WalkSpec()

        box = QGroupBox("Process")
        form = QFormLayout(box)
        self.mode_combo = QComboBox()
        for key, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, key)
        self.mode_combo.setMinimumContentsLength(14)
        self.mode_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode_combo.setToolTip("Einstein's lattice walk (heat equation) or the OU process "
                                   "(Fokker-Planck with a restoring force).")
        self.n_spin = QSpinBox()
        self.n_spin.setRange(*LIMITS["n"])
        self.n_spin.setSingleStep(1000)
        self.n_spin.setValue(d.n)
        self.n_spin.setToolTip("Number of particles.")
        self.n_spin.setGroupSeparatorShown(True)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(*LIMITS["seed"])
        self.seed_spin.setToolTip("Random seed of the walk.")
        form.addRow("Mode", self.mode_combo)
        form.addRow("Particles N", self.n_spin)
        form.addRow("Seed", self.seed_spin)
        col.addWidget(box)

        self.lattice_box = QGroupBox("Lattice walk")
        lf = QFormLayout(self.lattice_box)
        self.p_slider = _prob_slider("p: probability of a jump to the left per step.")
        self.q_slider = _prob_slider("q: probability of a jump to the right per step.")
        self.p_slider.setValue(PROB_STEPS // 2)
        self.q_slider.setValue(PROB_STEPS // 2)
        self.p_label, self.q_label = QLabel(), QLabel()
        for name, slider, label in (("p (left)", self.p_slider, self.p_label),
                                    ("q (right)", self.q_slider, self.q_label)):
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            label.setMinimumWidth(40)
            row.addWidget(label)
            lf.addRow(name, row)
        col.addWidget(self.lattice_box)

        self.ou_box = QGroupBox("Ornstein-Uhlenbeck")
        of = QFormLayout(self.ou_box)
        self.gamma_spin = _double(LIMITS["gamma"], d.gamma, 0.1,
                                  "γ: strength of the pull back to 0.")
        self.sigma_spin = _double(LIMITS["sigma"], d.sigma, 0.1, "σ: noise amplitude.")
        self.x0_spin = _double(LIMITS["x0"], d.x0, 0.5, "Where every particle starts.")
        self.dt_spin = _double(LIMITS["dt"], d.dt, 0.005, "Time step of the simulation.", 3)
        for label, w in (("γ", self.gamma_spin), ("σ", self.sigma_spin), ("x(0)", self.x0_spin),
                         ("dt", self.dt_spin)):
            of.addRow(label, w)
        col.addWidget(self.ou_box)

        run = QGroupBox("Run")
        rf = QFormLayout(run)
        self.per_frame_spin = QSpinBox()
        self.per_frame_spin.setRange(*PER_FRAME_RANGE)
        self.per_frame_spin.setValue(1)
        self.per_frame_spin.setToolTip("Steps per animation frame.")
        self.max_steps_spin = QSpinBox()
        self.max_steps_spin.setRange(*LIMITS["max_steps"])
        self.max_steps_spin.setValue(d.max_steps)
        self.max_steps_spin.setToolTip("Playing stops after this many steps.")
        rf.addRow("Steps / frame", self.per_frame_spin)
        rf.addRow("Max steps", self.max_steps_spin)
        row = QHBoxLayout()
        self.play_btn = QPushButton("Play")
        self.play_btn.setCheckable(True)
        self.play_btn.setToolTip("Animate the particles.")
        self.step_btn = QPushButton("Step")
        self.step_btn.setToolTip("Advance one frame.")
        self.reset_btn = QPushButton("Reset")
        self.reset_btn.setToolTip("All particles back to the start, step counter to 0.")
        for b in (self.play_btn, self.step_btn, self.reset_btn):
            row.addWidget(b)
        rf.addRow(row)
        self.step_label = QLabel()
        rf.addRow("Step", self.step_label)
        col.addWidget(run)

        self.formula_label = QLabel()
        self.formula_label.setWordWrap(True)
        self.formula_label.setTextFormat(Qt.TextFormat.RichText)
        col.addWidget(self.formula_label)
        col.addStretch(1)

        self._spec_widgets = (self.mode_combo, self.n_spin, self.seed_spin, self.p_slider,
                              self.q_slider, self.gamma_spin, self.sigma_spin, self.x0_spin,
                              self.dt_spin, self.max_steps_spin)
        self.mode_combo.currentIndexChanged.connect(self._changed)
        for w in self._spec_widgets[1:]:
            w.valueChanged.connect(self._changed)
        self._changed()

    def _changed(self, *_) -> None:
        lattice = self.mode_combo.currentData() == "lattice"
        self.lattice_box.setVisible(lattice)
        self.ou_box.setVisible(not lattice)
        self.p_label.setText(f"{self.p_slider.value() * 0.5 / PROB_STEPS:.3f}")
        self.q_label.setText(f"{self.q_slider.value() * 0.5 / PROB_STEPS:.3f}")
        self.spec_changed.emit()

    def spec(self) -> WalkSpec:
        """The spec the widgets show."""
        return WalkSpec(mode=self.mode_combo.currentData(), n=self.n_spin.value(),
                        seed=self.seed_spin.value(),
                        p=self.p_slider.value() * 0.5 / PROB_STEPS,
                        q=self.q_slider.value() * 0.5 / PROB_STEPS,
                        gamma=self.gamma_spin.value(), sigma=self.sigma_spin.value(),
                        x0=self.x0_spin.value(), dt=self.dt_spin.value(),
                        max_steps=self.max_steps_spin.value())

    def show_spec(self, spec: WalkSpec, per_frame: int | None = None) -> None:
        """Set every widget from ``spec`` without emitting ``spec_changed`` on the way."""
        for w in self._spec_widgets:
            w.blockSignals(True)
        try:
            self.mode_combo.setCurrentIndex(max(self.mode_combo.findData(spec.mode), 0))
            self.n_spin.setValue(spec.n)
            self.seed_spin.setValue(spec.seed)
            self.p_slider.setValue(round(spec.p / 0.5 * PROB_STEPS))
            self.q_slider.setValue(round(spec.q / 0.5 * PROB_STEPS))
            self.gamma_spin.setValue(spec.gamma)
            self.sigma_spin.setValue(spec.sigma)
            self.x0_spin.setValue(spec.x0)
            self.dt_spin.setValue(spec.dt)
            self.max_steps_spin.setValue(spec.max_steps)
        finally:
            for w in self._spec_widgets:
                w.blockSignals(False)
        if per_frame is not None:
            self.per_frame_spin.setValue(per_frame)
        lattice = spec.mode == "lattice"
        self.lattice_box.setVisible(lattice)
        self.ou_box.setVisible(not lattice)
        self.p_label.setText(f"{spec.p:.3f}")
        self.q_label.setText(f"{spec.q:.3f}")
