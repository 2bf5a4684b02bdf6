"""Controls and plots of the 2-D SDE panel: the labels of every choice and the widget tree.

:func:`build_ui` creates the widgets as attributes of the panel (``panel.mode_combo``, ...)
and connects them to the panel's slots; the behaviour lives in :mod:`.sde2d`.
"""

from __future__ import annotations

import importlib.util

import pyqtgraph as pg
from PySide6.QtCore import Qt
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
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.panels._sde2d_view import CloudPlot

DRAWING = "drawing"
DATASET_LABELS = {"double_gaussian": "Double Gaussian", "moons": "Two moons",
                  "8gaussians": "8 Gaussians", "spiral": "Spiral",
                  "checkerboard": "Checkerboard", "rings": "Rings", DRAWING: "My drawing"}
SDE_LABELS = {"brownian": "Brownian  dx = dW", "vp": "VP  dx = -β/2 x dt + √β dW",
              "ve": "VE  dx = √(dσ²/dt) dW", "ou": "OU  dx = -x dt + √2 dW"}
MODES = {"forward": "Forward: data → noise", "reverse": "Reverse: noise → data",
         "mcmc": "Metropolis MCMC (for contrast)"}
FORWARD_METHODS = {"exact": "Exact marginal (closed form)", "em": "Euler-Maruyama simulation"}
REVERSE_METHODS = {"sde": "Reverse-time SDE", "ode": "Probability-flow ODE",
                   "pc": "Predictor-corrector (Langevin)"}
SCORES = {"exact": "Exact score (mixture)", "learned": "Learned score (network)",
          "both": "Exact and learned, side by side"}
VIEWS = {"points": "Points", "density": "Density p_t", "both": "Points + density",
         "error": "Points + score error |learned − exact|"}
EXACT_FRAMES = 200          # scrub positions of the closed-form forward process
JOB_NAME = "2-D SDE"
LABEL_INTERVAL_MS = 150
NO_MODEL_TIP = ("No trained 2-D network for this data set (resources/models/toy2d_{name}.onnx "
                "is missing): press Train network, or use the exact score.")
DRAWING_NO_MODEL_TIP = ("No network for your drawing yet: press Train network (seconds). The "
                        "exact score is that of the drawing's Gaussian kernel density.")
TRAIN_JOB = "Train 2-D network"


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


def build_ui(panel) -> None:
    """Create the panel's controls, its two plots and the time bar; connect the signals."""
    root = QHBoxLayout(panel)
    root.setContentsMargins(4, 4, 4, 4)

    controls = QWidget()
    form_box = QVBoxLayout(controls)
    form_box.setContentsMargins(0, 0, 0, 0)

    setup = QGroupBox("Setup")
    form = QFormLayout(setup)
    panel.mode_combo = combo(MODES, "Forward melts the data into the prior; reverse "
                             "carries prior samples back; MCMC walks chains on p₀.")
    panel.dataset_combo = combo(DATASET_LABELS, "The data distribution p₀ (every set is a "
                                "Gaussian mixture, so its score is exact).")
    set_item_enabled(panel.dataset_combo, DRAWING, False,
                      "Draw on the plot first (Draw my distribution).")
    if importlib.util.find_spec("diffview.core.mcmc") is None:
        set_item_enabled(panel.mode_combo, "mcmc", False,
                          "diffview.core.mcmc is not installed in this build.")
    panel.sde_combo = combo(SDE_LABELS, "The forward SDE dx = f(x,t) dt + g(t) dW.")
    panel.sde_combo.setCurrentIndex(panel.sde_combo.findData("vp"))
    panel.n_spin = QSpinBox()
    panel.n_spin.setRange(100, 200_000)
    panel.n_spin.setSingleStep(5000)
    panel.n_spin.setValue(20_000)
    panel.n_spin.setToolTip("Number of points in the cloud.")
    panel.seed_spin = QSpinBox()
    panel.seed_spin.setRange(0, 2**31 - 1)
    panel.seed_spin.setToolTip("Random seed of the data, the noise and the prior samples.")
    panel.steps_spin = QSpinBox()
    panel.steps_spin.setRange(5, 2000)
    panel.steps_spin.setValue(200)
    panel.steps_spin.setToolTip("Integrator steps (forward simulation, reverse run) or "
                               "Metropolis steps.")
    for label, w in (("Mode", panel.mode_combo), ("Data", panel.dataset_combo),
                     ("SDE", panel.sde_combo), ("Points N", panel.n_spin),
                     ("Seed", panel.seed_spin), ("Steps", panel.steps_spin)):
        form.addRow(label, w)
    form_box.addWidget(setup)

    method = QGroupBox("Method")
    mform = QFormLayout(method)
    panel.forward_combo = combo(FORWARD_METHODS, "Exact marginal: x_t = m(t) x₀ + s(t) ε "
                                "with ε fixed (instant scrubbing, exact law at every t). "
                                "Euler-Maruyama: simulated paths (Run).")
    panel.reverse_combo = combo(REVERSE_METHODS, "Reverse SDE dx = [f − g² ∇log p_t] dt + "
                                "g dW̄; probability flow dx = [f − g²/2 ∇log p_t] dt "
                                "(deterministic); PC adds Langevin corrector steps.")
    panel.score_combo = combo(SCORES, "Which score ∇log p_t drives the reverse run and the "
                              "arrows.")
    panel.mcmc_step_spin = QDoubleSpinBox()
    panel.mcmc_step_spin.setRange(0.01, 5.0)
    panel.mcmc_step_spin.setSingleStep(0.05)
    panel.mcmc_step_spin.setValue(0.3)
    panel.mcmc_step_spin.setToolTip("Standard deviation of the Gaussian Metropolis proposal.")
    mform.addRow("Forward", panel.forward_combo)
    mform.addRow("Reverse", panel.reverse_combo)
    mform.addRow("Score", panel.score_combo)
    mform.addRow("MCMC step", panel.mcmc_step_spin)
    form_box.addWidget(method)

    show = QGroupBox("Show")
    sform = QFormLayout(show)
    panel.view_combo = combo(VIEWS, "The seed's switch between the point cloud and the "
                             "probability density p_t (heat map), or the error of the "
                             "learned score.")
    panel.view_combo.setCurrentIndex(panel.view_combo.findData("both"))
    panel.arrows_check = QCheckBox("Score field ∇log p_t (arrows)")
    panel.arrows_check.setToolTip("Arrows on a grid; length ∝ |score|, clipped at the 95th "
                                 "percentile.")
    panel.trails_check = QCheckBox("Trails of a few particles")
    panel.trails_check.setToolTip("The paths of 8 particles (simulated runs only: the "
                                 "closed form has no paths).")
    panel.zoom_check = QCheckBox("Zoom to the cloud")
    panel.zoom_check.setToolTip("Fit the view to the points of every frame (on by default "
                               "for VE, whose prior is 10x wider than the data).")
    sform.addRow(panel.view_combo)
    sform.addRow(panel.arrows_check)
    sform.addRow(panel.trails_check)
    sform.addRow(panel.zoom_check)
    form_box.addWidget(show)

    run_box = QGroupBox("Run")
    rl = QVBoxLayout(run_box)
    row = QHBoxLayout()
    panel.run_btn = QPushButton("Run")
    panel.run_btn.setToolTip("Simulate the chosen mode on a background thread (frames "
                            "stream in live).")
    panel.cancel_btn = QPushButton("Cancel")
    panel.cancel_btn.setToolTip("Stop the running simulation.")
    panel.cancel_btn.setEnabled(False)
    panel.play_btn = QPushButton("Play")
    panel.play_btn.setCheckable(True)
    panel.play_btn.setToolTip("Animate the time slider.")
    for b in (panel.run_btn, panel.cancel_btn, panel.play_btn):
        row.addWidget(b)
    rl.addLayout(row)
    panel.info_label = QLabel()
    panel.info_label.setWordWrap(True)
    panel.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    rl.addWidget(panel.info_label)
    form_box.addWidget(run_box)

    draw_box = QGroupBox("Draw your own distribution")
    dl = QFormLayout(draw_box)
    panel.draw_btn = QPushButton("Draw my distribution")
    panel.draw_btn.setCheckable(True)
    panel.draw_btn.setToolTip("While on, drag with the left button on the left plot to paint "
                             "points; switch off to use the drawing as data.")
    panel.clear_draw_btn = QPushButton("Clear drawing")
    panel.clear_draw_btn.setToolTip("Remove the strokes not yet used as data.")
    panel.draw_std_spin = QDoubleSpinBox()
    panel.draw_std_spin.setRange(0.03, 1.0)
    panel.draw_std_spin.setSingleStep(0.05)
    panel.draw_std_spin.setValue(0.15)
    panel.draw_std_spin.setToolTip("Brush size: every painted point becomes a Gaussian of this "
                                  "standard deviation; the data is their mixture (a Gaussian "
                                  "kernel density), whose score is exact.")
    dl.addRow(panel.draw_btn)
    dl.addRow(panel.clear_draw_btn)
    dl.addRow("Brush size σ", panel.draw_std_spin)
    form_box.addWidget(draw_box)

    train_box = QGroupBox("Train the 2-D network")
    tl = QFormLayout(train_box)
    panel.train_btn = QPushButton("Train network")
    panel.train_btn.setToolTip("Train the 2-D MLP on the chosen data (a built-in set or your "
                              "drawing) on a background thread; it then drives the learned "
                              "score.")
    panel.train_stop_btn = QPushButton("Stop")
    panel.train_stop_btn.setToolTip("Stop training; the previous network stays in use.")
    panel.train_stop_btn.setEnabled(False)
    trow = QHBoxLayout()
    trow.addWidget(panel.train_btn, 1)
    trow.addWidget(panel.train_stop_btn)
    panel.train_steps_spin = QSpinBox()
    panel.train_steps_spin.setRange(20, 50_000)
    panel.train_steps_spin.setSingleStep(500)
    panel.train_steps_spin.setValue(4000)
    panel.train_steps_spin.setToolTip("Optimiser steps (batch 256); training also stops at the "
                                     "time limit.")
    panel.train_seconds_spin = QSpinBox()
    panel.train_seconds_spin.setRange(2, 1800)
    panel.train_seconds_spin.setValue(20)
    panel.train_seconds_spin.setSuffix(" s")
    panel.train_seconds_spin.setToolTip("Time limit of the training itself (the ONNX export "
                                       "adds a few seconds).")
    panel.train_label = QLabel("")
    panel.train_label.setWordWrap(True)
    panel.save_net_btn = QPushButton("Save network…")
    panel.save_net_btn.setToolTip("Save the network trained here as an ONNX file.")
    panel.save_net_btn.setEnabled(False)
    tl.addRow(trow)
    tl.addRow("Steps", panel.train_steps_spin)
    tl.addRow("Time limit", panel.train_seconds_spin)
    tl.addRow(panel.train_label)
    tl.addRow(panel.save_net_btn)
    form_box.addWidget(train_box)
    form_box.addStretch(1)

    scroll = QScrollArea()
    scroll.setWidget(controls)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setMinimumWidth(320)
    scroll.setMaximumWidth(360)
    root.addWidget(scroll)

    right = QVBoxLayout()
    panel.glw = pg.GraphicsLayoutWidget()
    panel.plot_a = CloudPlot(panel.glw, "exact", 0, 0)
    panel.plot_b = CloudPlot(panel.glw, "learned", 0, 1)
    panel.plot_b.plot.setXLink(panel.plot_a.plot)
    panel.plot_b.plot.setYLink(panel.plot_a.plot)
    panel.glw.removeItem(panel.plot_b.plot)
    panel._b_in_layout = False
    right.addWidget(panel.glw, 1)
    bar = QHBoxLayout()
    panel.time_slider = QSlider(Qt.Orientation.Horizontal)
    panel.time_slider.setToolTip("Time t of the frame shown (replay of the last run).")
    panel.time_label = QLabel()
    panel.time_label.setFixedWidth(300)   # a fixed size: new text does not relayout
    bar.addWidget(QLabel("t"))
    bar.addWidget(panel.time_slider, 1)
    bar.addWidget(panel.time_label)
    right.addLayout(bar)
    root.addLayout(right, 1)

    panel.mode_combo.currentIndexChanged.connect(panel._on_mode_changed)
    panel.dataset_combo.currentIndexChanged.connect(panel._on_dataset_changed)
    panel.sde_combo.currentIndexChanged.connect(panel._on_sde_changed)
    panel.n_spin.valueChanged.connect(panel._on_samples_changed)
    panel.seed_spin.valueChanged.connect(panel._on_samples_changed)
    panel.forward_combo.currentIndexChanged.connect(panel._on_method_changed)
    panel.reverse_combo.currentIndexChanged.connect(panel._on_method_changed)
    panel.score_combo.currentIndexChanged.connect(panel._on_method_changed)
    panel.steps_spin.valueChanged.connect(panel._on_method_changed)
    panel.mcmc_step_spin.valueChanged.connect(panel._on_method_changed)
    panel.view_combo.currentIndexChanged.connect(panel._redraw)
    panel.arrows_check.toggled.connect(panel._redraw)
    panel.trails_check.toggled.connect(panel._redraw)
    panel.zoom_check.toggled.connect(panel._on_zoom_toggled)
    panel.run_btn.clicked.connect(panel.run)
    panel.cancel_btn.clicked.connect(panel.cancel)
    panel.play_btn.toggled.connect(panel.set_playing)
    panel.time_slider.valueChanged.connect(panel.show_frame)
    panel.draw_btn.toggled.connect(panel.set_drawing)
    panel.clear_draw_btn.clicked.connect(panel.clear_drawing)
    panel.plot_a.view.point_drawn.connect(panel.add_drawn_point)
    panel.draw_std_spin.valueChanged.connect(panel._show_drawn)
    panel.train_btn.clicked.connect(panel.start_training)
    panel.train_stop_btn.clicked.connect(panel.cancel_training)
    panel.save_net_btn.clicked.connect(lambda: panel.save_network())
