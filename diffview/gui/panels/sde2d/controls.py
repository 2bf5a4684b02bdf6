"""The control column of the 2-D SDE panel: every choice, the Run and drawing buttons and the
training box, and the conversion between these widgets and :class:`~.state.Sde2DState`.

The widgets are public attributes (``mode_combo``, ``n_spin``, ...); the panel connects them.
"""

from __future__ import annotations

import dataclasses
import importlib.util

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.panels.sde2d.state import (
    DATASET_LABELS,
    DRAWING,
    FORWARD_METHODS,
    MODES,
    PROCESSES,
    REVERSE_METHODS,
    SCORES,
    SDE_LABELS,
    VIEWS,
    Sde2DState,
)

__all__ = ["CONTROL_NAMES", "Sde2DControls", "combo", "set_item_enabled"]

# the widgets a panel may offer as its own attributes (tests and the window drive them)
CONTROL_NAMES = ("process_combo", "mode_combo", "dataset_combo", "sde_combo", "n_spin", "seed_spin",
                 "steps_spin", "forward_combo", "reverse_combo", "score_combo",
                 "mcmc_step_spin", "view_combo", "arrows_check", "trails_check", "zoom_check",
                 "run_btn", "cancel_btn", "play_btn", "info_label", "draw_btn",
                 "clear_draw_btn", "draw_std_spin", "train_btn", "train_stop_btn",
                 "train_steps_spin", "train_seconds_spin", "train_label", "save_net_btn")


def combo(items: dict, tip: str) -> QComboBox:
    box = QComboBox()
    for key, label in items.items():
        box.addItem(label, key)
    box.setToolTip(tip)
    return box


def set_item_enabled(box: QComboBox, key: str, enabled: bool, tip: str = "") -> None:
    model = box.model()
    if not isinstance(model, QStandardItemModel):
        return
    item = model.item(box.findData(key))
    if item is not None:
        item.setEnabled(enabled)
        item.setToolTip(tip)


class Sde2DControls(QWidget):
    """The panel's controls, in group boxes: Setup, Method, Show, Run, Draw, Train.

    Signals
    -------
    changed(str)
        A state field changed, by kind: "dataset", "sde", "samples" (N, seed), "mode",
        "method" (forward, reverse, score, steps, MCMC step), "view" (view, arrows, trails)
        or "zoom".
    """

    changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form_box = QVBoxLayout(self)
        form_box.setContentsMargins(0, 0, 0, 0)
        setup = QGroupBox("Setup")
        form = QFormLayout(setup)
        self.mode_combo = combo(MODES, "Forward melts the data into the prior; reverse "
                                 "carries prior samples back; MCMC walks chains on p₀.")
        self.dataset_combo = combo(DATASET_LABELS, "The data distribution p₀ (every set is a "
                                    "Gaussian mixture, so its score is exact).")
        set_item_enabled(self.dataset_combo, DRAWING, False,
                          "Draw on the plot first (Draw my distribution).")
        if importlib.util.find_spec("diffview.core.mcmc") is None:
            set_item_enabled(self.mode_combo, "mcmc", False,
                              "diffview.core.mcmc is not installed in this build.")
        self.sde_combo = combo(SDE_LABELS, "The forward SDE dx = f(x,t) dt + g(t) dW.")
        self.sde_combo.setCurrentIndex(self.sde_combo.findData("vp"))
        self.n_spin = QSpinBox()
        self.n_spin.setRange(100, 200_000)
        self.n_spin.setSingleStep(5000)
        self.n_spin.setValue(20_000)
        self.n_spin.setToolTip("Number of points in the cloud.")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Random seed of the data, the noise and the prior samples.")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(5, 2000)
        self.steps_spin.setValue(200)
        self.steps_spin.setToolTip("Integrator steps (forward simulation, reverse run) or "
                                   "Metropolis steps.")
        for label, w in (("Mode", self.mode_combo), ("Data", self.dataset_combo),
                         ("SDE", self.sde_combo), ("Points N", self.n_spin),
                         ("Seed", self.seed_spin), ("Steps", self.steps_spin)):
            form.addRow(label, w)
        form_box.addWidget(setup)

        method = QGroupBox("Method")
        mform = QFormLayout(method)
        self.forward_combo = combo(FORWARD_METHODS, "Exact marginal: x_t = m(t) x₀ + s(t) ε "
                                    "with ε fixed (instant scrubbing, exact law at every t). "
                                    "Euler-Maruyama: simulated paths (Run).")
        self.reverse_combo = combo(REVERSE_METHODS, "Reverse SDE dx = [f − g² ∇log p_t] dt + "
                                    "g dW̄; probability flow dx = [f − g²/2 ∇log p_t] dt "
                                    "(deterministic); PC adds Langevin corrector steps.")
        self.score_combo = combo(SCORES, "Which score ∇log p_t drives the reverse run and the "
                                  "arrows.")
        self.mcmc_step_spin = QDoubleSpinBox()
        self.mcmc_step_spin.setRange(0.01, 5.0)
        self.mcmc_step_spin.setSingleStep(0.05)
        self.mcmc_step_spin.setValue(0.3)
        self.mcmc_step_spin.setToolTip("Standard deviation of the Gaussian Metropolis proposal.")
        self.process_combo = combo(PROCESSES, "Diffusion: the SDE and mode above. Flow "
                                   "matching: the VP probability-flow ODE and the flow-matching "
                                   "ODE from the same noise, both with exact fields (Run).")
        mform.addRow("Process", self.process_combo)
        mform.addRow("Forward", self.forward_combo)
        mform.addRow("Reverse", self.reverse_combo)
        mform.addRow("Score", self.score_combo)
        mform.addRow("MCMC step", self.mcmc_step_spin)
        form_box.addWidget(method)

        show = QGroupBox("Show")
        sform = QFormLayout(show)
        self.view_combo = combo(VIEWS, "The seed's switch between the point cloud and the "
                                 "probability density p_t (heat map), or the error of the "
                                 "learned score.")
        self.view_combo.setCurrentIndex(self.view_combo.findData("both"))
        self.arrows_check = QCheckBox("Score field ∇log p_t (arrows)")
        self.arrows_check.setToolTip("Arrows on a grid; length ∝ |score|, clipped at the 95th "
                                     "percentile.")
        self.trails_check = QCheckBox("Trails of a few particles")
        self.trails_check.setToolTip("The paths of 8 particles (simulated runs only: the "
                                     "closed form has no paths).")
        self.zoom_check = QCheckBox("Zoom to the cloud")
        self.zoom_check.setToolTip("Fit the view to the points of every frame (on by default "
                                   "for VE, whose prior is 10x wider than the data).")
        sform.addRow(self.view_combo)
        sform.addRow(self.arrows_check)
        sform.addRow(self.trails_check)
        sform.addRow(self.zoom_check)
        form_box.addWidget(show)

        run_box = QGroupBox("Run")
        rl = QVBoxLayout(run_box)
        row = QHBoxLayout()
        self.run_btn = QPushButton("Run")
        self.run_btn.setToolTip("Simulate the chosen mode on a background thread (frames "
                                "stream in live).")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop the running simulation.")
        self.cancel_btn.setEnabled(False)
        self.play_btn = QPushButton("Play")
        self.play_btn.setCheckable(True)
        self.play_btn.setToolTip("Animate the time slider.")
        for b in (self.run_btn, self.cancel_btn, self.play_btn):
            row.addWidget(b)
        rl.addLayout(row)
        self.run_hint = QLabel()
        self.run_hint.setWordWrap(True)
        self.run_hint.setStyleSheet("color: palette(mid)")
        rl.addWidget(self.run_hint)
        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rl.addWidget(self.info_label)
        form_box.addWidget(run_box)

        draw_box = QGroupBox("Draw your own distribution")
        dl = QFormLayout(draw_box)
        self.draw_btn = QPushButton("Draw my distribution")
        self.draw_btn.setCheckable(True)
        self.draw_btn.setToolTip("While on, drag with the left button on the left plot to paint "
                                 "points; switch off to use the drawing as data.")
        self.clear_draw_btn = QPushButton("Clear drawing")
        self.clear_draw_btn.setToolTip("Remove the strokes not yet used as data.")
        self.draw_std_spin = QDoubleSpinBox()
        self.draw_std_spin.setRange(0.03, 1.0)
        self.draw_std_spin.setSingleStep(0.05)
        self.draw_std_spin.setValue(0.15)
        self.draw_std_spin.setToolTip("Brush size: every painted point becomes a Gaussian of this "
                                      "standard deviation; the data is their mixture (a Gaussian "
                                      "kernel density), whose score is exact.")
        dl.addRow(self.draw_btn)
        dl.addRow(self.clear_draw_btn)
        dl.addRow("Brush size σ", self.draw_std_spin)
        form_box.addWidget(draw_box)

        train_box = QGroupBox("Train the 2-D network")
        tl = QFormLayout(train_box)
        self.train_btn = QPushButton("Train network")
        self.train_btn.setToolTip("Train the 2-D MLP on the chosen data (a built-in set or your "
                                  "drawing) on a background thread; it then drives the learned "
                                  "score.")
        self.train_stop_btn = QPushButton("Stop")
        self.train_stop_btn.setToolTip("Stop training; the previous network stays in use.")
        self.train_stop_btn.setEnabled(False)
        trow = QHBoxLayout()
        trow.addWidget(self.train_btn, 1)
        trow.addWidget(self.train_stop_btn)
        self.train_steps_spin = QSpinBox()
        self.train_steps_spin.setRange(20, 50_000)
        self.train_steps_spin.setSingleStep(500)
        self.train_steps_spin.setValue(4000)
        self.train_steps_spin.setToolTip("Optimiser steps (batch 256); training also stops at the "
                                         "time limit.")
        self.train_seconds_spin = QSpinBox()
        self.train_seconds_spin.setRange(2, 1800)
        self.train_seconds_spin.setValue(20)
        self.train_seconds_spin.setSuffix(" s")
        self.train_seconds_spin.setToolTip("Time limit of the training itself (the ONNX export "
                                           "adds a few seconds).")
        self.train_label = QLabel("")
        self.train_label.setWordWrap(True)
        self.save_net_btn = QPushButton("Save network…")
        self.save_net_btn.setToolTip("Save the network trained here as an ONNX file.")
        self.save_net_btn.setEnabled(False)
        tl.addRow(trow)
        tl.addRow("Steps", self.train_steps_spin)
        tl.addRow("Time limit", self.train_seconds_spin)
        tl.addRow(self.train_label)
        tl.addRow(self.save_net_btn)
        form_box.addWidget(train_box)

        form_box.addStretch(1)
        self._combos = {"process": self.process_combo, "mode": self.mode_combo,
                        "dataset": self.dataset_combo,
                        "sde": self.sde_combo, "forward": self.forward_combo,
                        "reverse": self.reverse_combo, "score": self.score_combo,
                        "view": self.view_combo}
        self._spins = {"n": self.n_spin, "seed": self.seed_spin, "steps": self.steps_spin,
                       "mcmc_step": self.mcmc_step_spin, "draw_std": self.draw_std_spin}
        self._checks = {"arrows": self.arrows_check, "trails": self.trails_check,
                        "zoom": self.zoom_check}
        kinds = {"process": "mode", "mode": "mode", "dataset": "dataset", "sde": "sde",
                 "forward": "method",
                 "reverse": "method", "score": "method", "view": "view", "n": "samples",
                 "seed": "samples", "steps": "method", "mcmc_step": "method",
                 "arrows": "view", "trails": "view", "zoom": "zoom"}
        for key, box in self._combos.items():
            box.currentIndexChanged.connect(lambda _i, k=kinds[key]: self.changed.emit(k))
        for key, spin in self._spins.items():
            if key in kinds:
                spin.valueChanged.connect(lambda _v, k=kinds[key]: self.changed.emit(k))
        for key, check in self._checks.items():
            check.toggled.connect(lambda _on, k=kinds[key]: self.changed.emit(k))

    def read(self, base: Sde2DState, frame: int) -> Sde2DState:
        """``base`` with every field the widgets hold replaced by the widgets' values."""
        values = {k: box.currentData() for k, box in self._combos.items()}
        values |= {k: spin.value() for k, spin in self._spins.items()}
        values |= {k: check.isChecked() for k, check in self._checks.items()}
        return dataclasses.replace(base, frame=int(frame), **values)

    def show_state(self, state: Sde2DState) -> None:
        """Put ``state``'s values into the widgets without emitting their signals."""
        for key, box in self._combos.items():
            box.blockSignals(True)
            box.setCurrentIndex(max(box.findData(getattr(state, key)), 0))
            box.blockSignals(False)
        for key, spin in self._spins.items():
            spin.blockSignals(True)
            spin.setValue(getattr(state, key))
            spin.blockSignals(False)
        for key, check in self._checks.items():
            check.blockSignals(True)
            check.setChecked(getattr(state, key))
            check.blockSignals(False)

    def pick(self, key: str, value: str) -> None:
        """Select ``value`` in the combo of state field ``key`` without emitting signals."""
        box = self._combos[key]
        box.blockSignals(True)
        box.setCurrentIndex(max(box.findData(value), 0))
        box.blockSignals(False)

    def set_mode_enabled(self, mode: str, busy: bool, needs_run: bool,
                         flow: bool = False) -> None:
        """Enable what applies to ``mode`` (and the flow comparison); say on Run why it is
        off."""
        self.mode_combo.setEnabled(not flow)
        self.forward_combo.setEnabled(mode == "forward" and not flow)
        self.reverse_combo.setEnabled(mode == "reverse" and not flow)
        self.mcmc_step_spin.setEnabled(mode == "mcmc" and not flow)
        self.sde_combo.setEnabled(mode != "mcmc" and not flow)
        self.score_combo.setEnabled(mode != "mcmc" and not flow)
        self.run_btn.setEnabled(needs_run and not busy)
        if busy:
            why = "A run is in progress: Cancel it or wait."
        elif not needs_run:
            why = ("Nothing to run: the exact marginal is closed form, move the t slider. "
                   "Pick Euler-Maruyama, Reverse or MCMC to run a simulation.")
        else:
            why = "Simulate the chosen mode on a background thread (frames stream in live)."
        self.run_btn.setToolTip(why)
        self.run_hint.setText("" if needs_run or busy else
                              "Exact marginal: no run needed, drag the t slider.")
