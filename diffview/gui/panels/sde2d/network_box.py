"""The learned side of the 2-D panel: which network drives the learned score, the drawing that
can become the data, and "Train network".

:class:`NetworkBox` owns a :class:`~.drawing.Drawing` and a :class:`~.training.NetworkTrainer`,
asks :class:`~.learned.LearnedNetworks` for the data set's network, keeps the learned-score
choices of the controls enabled only when a network exists (remembering the user's choice while
one loads) and tells the panel through signals.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QObject, Signal

from diffview.gui.panels.sde2d.controls import Sde2DControls, set_item_enabled
from diffview.gui.panels.sde2d.drawing import Drawing
from diffview.gui.panels.sde2d.learned import LearnedNetworks
from diffview.gui.panels.sde2d.plot import CloudPlot
from diffview.gui.panels.sde2d.state import DATASET_LABELS, DRAWING, Sde2DState
from diffview.gui.panels.sde2d.training import NetworkTrainer, torch_available
from diffview.runs.points2d import MAX_DRAWN_POINTS
from diffview.training import TORCH_MISSING

__all__ = ["NetworkBox"]

NO_MODEL_TIP = ("No trained 2-D network for this data set (resources/models/toy2d_{name}.onnx "
                "is missing): press Train network, or use the exact score.")
DRAWING_NO_MODEL_TIP = ("No network for your drawing yet: press Train network (seconds). The "
                        "exact score is that of the drawing's Gaussian kernel density.")


class NetworkBox(QObject):
    """Learned network, drawing and training of the 2-D panel.

    Signals
    -------
    model_changed()
        The current data set's network arrived or changed (redraw, re-enable).
    data_changed()
        The drawing became the data set (draw the samples again).
    learned_changed(bool), training_finished(bool)
        As the panel's signals of those names.
    """

    model_changed = Signal()
    data_changed = Signal()
    learned_changed = Signal(bool)
    training_finished = Signal(bool)

    def __init__(self, parent: QObject, context, controls: Sde2DControls,
                 learned: LearnedNetworks, plot: CloudPlot) -> None:
        super().__init__(parent)
        self._context, self._c, self._learned, self._plot = context, controls, learned, plot
        self.drawing = Drawing()
        self.trainer = NetworkTrainer(context, self)
        self.model = None
        self._dataset = ""
        self._wanted: tuple[str | None, str | None] | None = None
        self._training_for: tuple[str, object] | None = None
        self.train_preset: dict | None = None   # None: training.TRAIN_PRESET
        learned.model_ready.connect(self._on_model_ready)
        self.trainer.progress.connect(self._on_train_frame)
        self.trainer.ended.connect(self._on_train_ended)
        self.trainer.failed.connect(self._on_train_failed)
        self.trainer.busy_changed.connect(self._on_train_busy)
        c = controls
        set_item_enabled(c.dataset_combo, DRAWING, False,
                         "Draw on the plot first (Draw my distribution).")
        c.draw_btn.toggled.connect(self.set_drawing)
        c.clear_draw_btn.clicked.connect(self.clear_drawing)
        c.draw_std_spin.valueChanged.connect(lambda _v: self._show_drawn())
        plot.view.point_drawn.connect(self.add_drawn_point)
        c.train_btn.clicked.connect(self.start_training)
        c.train_stop_btn.clicked.connect(self.trainer.cancel)
        self._on_train_busy(False)
        if not torch_available():
            c.train_btn.setToolTip(TORCH_MISSING)

    # ---- the learned network -----------------------------------------------------------------
    def on_dataset(self, name: str) -> None:
        """A new data set: its network now (trained here) or after a lookup on a worker."""
        self._dataset = name
        self._c.save_net_btn.setEnabled(self._learned.trained(name) is not None)
        model = self._learned.request(name)
        self._set_model(model, loading=model is None and self._learned.loading())
        if model is not None:
            self.learned_changed.emit(True)

    def _on_model_ready(self, name: str, model) -> None:
        if name != self._dataset:
            return
        self._c.save_net_btn.setEnabled(self._learned.trained(name) is not None)
        self._set_model(model, loading=False)
        self.model_changed.emit()
        self.learned_changed.emit(model is not None)

    def _set_model(self, model, loading: bool) -> None:
        """Enable the learned choices when ``model`` exists; while one loads, remember what the
        user chose and give it back when the network is there."""
        c = self._c
        self.model = model
        tip = ("" if model is not None else "Loading the trained 2-D network…" if loading
               else DRAWING_NO_MODEL_TIP if self._dataset == DRAWING
               else NO_MODEL_TIP.format(name=self._dataset))
        for key in ("learned", "both"):
            set_item_enabled(c.score_combo, key, model is not None, tip)
        set_item_enabled(c.view_combo, "error", model is not None, tip)
        if model is None:
            score = c.score_combo.currentData()
            wanted = (score if score != "exact" else None,
                      "error" if c.view_combo.currentData() == "error" else None)
            if loading and any(wanted):
                self._wanted = wanted
            elif not loading:
                self._wanted = None
            if wanted[0]:
                c.pick("score", "exact")
            if wanted[1]:
                c.pick("view", "both")
        elif self._wanted is not None:
            score, view = self._wanted
            self._wanted = None
            if score:
                c.pick("score", score)
            if view:
                c.pick("view", view)

    def plot_title(self, which: str, state: Sde2DState) -> str:
        if state.process == "flow":
            return ("VP probability-flow ODE (exact score)" if which == "a"
                    else "flow matching (exact velocity)")
        learned = ("learned score (network trained here)"
                   if self._learned.trained(state.dataset) is not None
                   else "learned score (network)")
        if which == "b" or (state.score == "learned" and state.mode != "mcmc"):
            return learned
        if state.mode == "mcmc":
            return "Metropolis chains on p₀"
        if state.dataset == DRAWING:
            return "exact score (kernel density of the drawing)"
        return "exact score (mixture)"

    # ---- the drawing -------------------------------------------------------------------------
    def complete(self, state: Sde2DState) -> Sde2DState:
        """``state`` with the drawing's points and whether it is in use."""
        return dataclasses.replace(state, drawn=tuple(self.drawing.points),
                                   drawing_used=self.drawing.mixture is not None)

    def restore(self, state: Sde2DState) -> None:
        """A session's drawing (before its data set is shown)."""
        self.drawing.restore(state.drawn, state.drawing_used, state.draw_std)
        if self.drawing.mixture is not None:
            set_item_enabled(self._c.dataset_combo, DRAWING, True)
            self._learned.forget(DRAWING)

    def set_drawing(self, on: bool) -> None:
        """Drawing mode: drags on the left plot add points; leaving it uses the drawing."""
        on, btn = bool(on), self._c.draw_btn
        self._plot.view.drawing = on
        if btn.isChecked() != on:
            btn.blockSignals(True)
            btn.setChecked(on)
            btn.blockSignals(False)
        btn.setText("Use drawing as data" if on else "Draw my distribution")
        if on:
            self._context.report_status("Drag on the left plot to draw; click again to use it.")
        elif self.drawing.points:
            self.use_drawing()
        self._show_drawn()

    def add_drawn_point(self, x: float, y: float) -> None:
        if not self.drawing.add(x, y):
            self._context.report_status(f"The drawing is full ({MAX_DRAWN_POINTS:,} points): "
                                        "use it, or clear it.")
            return
        self._show_drawn()

    def clear_drawing(self) -> None:
        self.drawing.clear()
        self._show_drawn()

    def _show_drawn(self) -> None:
        """The strokes not yet used, as discs of radius sigma (the brush's footprint)."""
        if self._plot.view.drawing and self.drawing.points:
            self._plot.set_drawn(self.drawing.as_array(), self._c.draw_std_spin.value())
        else:
            self._plot.set_drawn(None, 0.0)

    def use_drawing(self) -> None:
        """Fit the drawn points as a mixture of small Gaussians and make it the data set."""
        std = self._c.draw_std_spin.value()
        try:
            mix = self.drawing.use(std)
        except ValueError as exc:
            self._context.report_status(str(exc))
            return
        box = self._c.dataset_combo
        set_item_enabled(box, DRAWING, True)
        self._learned.forget(DRAWING)   # a network of an earlier drawing does not apply
        self._context.report_status(f"Drawing: a kernel density of {mix.n_components} "
                                    f"Gaussians of σ = {std:g} (its score is exact). Train "
                                    "network to learn it.")
        if box.currentData() == DRAWING:
            self.data_changed.emit()
        else:
            box.setCurrentIndex(box.findData(DRAWING))

    # ---- training ----------------------------------------------------------------------------
    def start_training(self) -> int | None:
        """Train the 2-D network on the current data (a child process); None: not started."""
        if not torch_available():
            self._context.report_error("Training needs torch", TORCH_MISSING)
            return None
        c, name = self._c, self._dataset
        steps, seconds, seed = (c.train_steps_spin.value(), c.train_seconds_spin.value(),
                                c.seed_spin.value())
        mix = self.drawing.mixture if name == DRAWING else None
        if name == DRAWING and mix is None:
            self._context.report_error("Nothing to train on",
                                       "Draw a distribution first (Draw my distribution).")
            return None
        points = np.asarray(mix.means, np.float32) if mix is not None else None
        jitter = float(np.sqrt(mix.covs[0, 0, 0])) if mix is not None else 0.0
        self._training_for = (name, mix)
        c.train_label.setText("Starting the training process (torch loads first)…")
        try:
            self.trainer.start(f"toy:{name}" if mix is None else "points:drawing", steps,
                               seconds, seed, points, jitter, self.train_preset)
        except OSError as exc:
            self._context.report_error("Cannot start training", str(exc))
            return None
        return 0

    def _on_train_busy(self, busy: bool) -> None:
        c = self._c
        c.train_btn.setEnabled(not busy and torch_available())
        c.train_stop_btn.setEnabled(busy)
        c.dataset_combo.setEnabled(not busy)
        c.draw_btn.setEnabled(not busy)

    def _on_train_frame(self, frame) -> None:
        self._c.train_label.setText(
            f"step {frame.step:,} / {frame.total:,}   loss {frame.loss_avg:.3f}   "
            f"{frame.elapsed_s:.0f} s (≤ {self._c.train_seconds_spin.value()} s)")

    def _on_train_ended(self, result) -> None:
        if result is None:
            self._c.train_label.setText("Training stopped; the previous network is unchanged.")
            self._context.report_status("2-D training cancelled.")
            self.training_finished.emit(False)
            return
        name, mix = self._training_for
        why = "time limit" if result.stop_reason == "time" else "all steps"
        self._c.train_label.setText(f"Trained {result.steps:,} steps in {result.seconds:.1f} "
                                    f"s ({why}), loss {result.loss:.3f}.")
        if name == DRAWING and mix is not self.drawing.mixture:
            self._context.report_status("The drawing changed during training; result dropped.")
            return
        self._learned.adopt(name, result)
        if name != DRAWING:   # the other panels' 2-D network of this set, too
            self._context.set_toy_model(name, result.model)
        if name == self._dataset and self._c.score_combo.currentData() == "exact":
            self._c.score_combo.setCurrentIndex(self._c.score_combo.findData("both"))
        self._c.save_net_btn.setEnabled(True)
        self._context.report_status(
            f"2-D network trained on {DATASET_LABELS[name]}: now the learned score.")
        self.training_finished.emit(True)

    def _on_train_failed(self, message: str) -> None:
        self._c.train_label.setText("Training failed.")
        self._context.report_error("2-D training failed", message)
        self.training_finished.emit(False)

    def save_network(self, parent, path=None) -> bool:
        """Copy the network trained here for the current data to ``path`` (asks when None)."""
        if self._learned.trained(self._dataset) is None:
            return False
        if path is None:
            from PySide6.QtWidgets import QFileDialog

            path, _ = QFileDialog.getSaveFileName(parent, "Save the 2-D network",
                                                  f"toy2d_{self._dataset}.onnx",
                                                  "ONNX models (*.onnx)")
            if not path:
                return False
        error = self._learned.save(self._dataset, path)
        if error:
            self._context.report_error("Cannot save the network", error)
            return False
        self._context.report_status(f"Saved the 2-D network to {path}")
        return True

    def shutdown(self) -> None:
        self.trainer.cancel()
        self._learned.shutdown()
