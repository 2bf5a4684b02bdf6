"""The trained 2-D network of the SDE panel: the bundled one for each data set, loaded off the
GUI thread, or one trained here in seconds ("Train network") on a built-in set or a drawing."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from diffview.fileio import save_bytes
from diffview.gui.panels._sde2d_train import (
    TrainedNetwork,
    torch_available,
    train_config,
    train_points_job,
)
from diffview.gui.panels._sde2d_ui import (
    DATASET_LABELS,
    DRAWING,
    DRAWING_NO_MODEL_TIP,
    NO_MODEL_TIP,
    TRAIN_JOB,
    set_item_enabled,
)
from diffview.gui.workers import JobRunner

TORCH_MISSING = ("Training needs torch, which this build of diffview does not include. Install "
                 "diffview with pip (pip install -e . in a source checkout, which brings torch) "
                 "to train the 2-D network; the exact score works without it.")

__all__ = ["LearnedMixin"]


class LearnedMixin:
    """Learned-score state of :class:`~diffview.gui.panels.sde2d.Sde2DPanel` (needs its
    ``score_combo``, ``view_combo``, ``_model_loader``, ``_trainer``, ``_trained``,
    ``_wanted_learned``, the training widgets ...)."""

    def _init_training(self) -> None:
        self._trainer = JobRunner("sde2d-train", self, max_fps=10)
        self._trainer.frame_ready.connect(self._on_train_frame)
        self._trainer.run_finished.connect(self._on_train_finished)
        self._trainer.run_failed.connect(self._on_train_failed)
        self._trainer.run_cancelled.connect(self._on_train_cancelled)
        self._trainer.busy_changed.connect(self._on_train_busy)
        self._trained: dict = {}        # data set -> TrainedNetwork trained in this panel
        self._train_dirs: list = []     # temporary folders of those networks
        self._training_for = None
        self.train_preset: dict | None = None   # None: _sde2d_train.TRAIN_PRESET
        self.context.toy_model_changed.connect(self._on_external_model)

    def _on_external_model(self, name: str, model) -> None:
        """A 2-D network trained outside this panel (the Training panel) for data set ``name``."""
        if name not in DATASET_LABELS or name == DRAWING:
            return
        info = getattr(model, "info", None)
        result = TrainedNetwork(model=model, path=Path(model.path),
                                steps=int(getattr(info, "training_steps", 0) or 0),
                                seconds=0.0, loss=float("nan"), stop_reason="steps")
        self._adopt_trained(name, result)

    def _on_dataset_changed(self, *_) -> None:
        """New p₀: new samples now; its trained network (one trained here, else the bundled
        one) loads on a worker."""
        name = self.dataset
        trained = self._trained.get(name)
        self.save_net_btn.setEnabled(trained is not None)
        if trained is not None:
            self._set_learned_model(trained.model, name, loading=False)
            self._update_enabled()
            self._on_samples_changed()
            self.learned_changed.emit(True)
            return
        loading = name != DRAWING
        self._set_learned_model(None, name, loading)
        if loading:
            ctx = self.context

            def job(token):
                try:
                    return name, ctx.toy_model(name), ""
                except Exception as exc:  # noqa: BLE001 - a broken model must not break the panel
                    return name, None, str(exc)
                yield  # noqa: B901 - a generator without frames

            self._model_loader.start(job)
        self._update_enabled()
        self._on_samples_changed()

    def _on_model_loaded(self, _rid: int, result) -> None:
        name, model, error = result
        if error:
            self.context.report_status(f"2-D network for {name} not usable: {error}")
        if name != self.dataset or name in self._trained:
            return   # another data set by now, or a network trained here wins
        self._set_learned_model(model, name, loading=False)
        self._update_enabled()
        self._redraw()
        self.learned_changed.emit(model is not None)

    def _set_learned_model(self, model, name: str, loading: bool) -> None:
        """Enable the learned-score choices when ``model`` exists; remember the user's choice
        while a model loads so it comes back when the model is there."""
        self._learned_model = model
        if model is not None:
            tip = ""
        elif loading:
            tip = "Loading the trained 2-D network…"
        elif name == DRAWING:
            tip = DRAWING_NO_MODEL_TIP
        else:
            tip = NO_MODEL_TIP.format(name=name)
        for key in ("learned", "both"):
            set_item_enabled(self.score_combo, key, model is not None, tip)
        set_item_enabled(self.view_combo, "error", model is not None, tip)
        if model is None:
            wanted_score = self.score_source if self.score_source != "exact" else None
            wanted_view = "error" if self.view_mode == "error" else None
            if loading and (wanted_score or wanted_view):
                self._wanted_learned = (wanted_score, wanted_view)
            elif not loading:
                self._wanted_learned = None
            self.score_combo.blockSignals(True)
            self.view_combo.blockSignals(True)
            if wanted_score:
                self.score_combo.setCurrentIndex(self.score_combo.findData("exact"))
            if wanted_view:
                self.view_combo.setCurrentIndex(self.view_combo.findData("both"))
            self.score_combo.blockSignals(False)
            self.view_combo.blockSignals(False)
        elif self._wanted_learned is not None:
            score, view = self._wanted_learned
            self._wanted_learned = None
            self.score_combo.blockSignals(True)
            self.view_combo.blockSignals(True)
            if score:
                self.score_combo.setCurrentIndex(self.score_combo.findData(score))
            if view:
                self.view_combo.setCurrentIndex(self.view_combo.findData(view))
            self.score_combo.blockSignals(False)
            self.view_combo.blockSignals(False)

    def learned_loading(self) -> bool:
        """True while the data set's trained network is being looked up (for tests)."""
        return self._model_loader.is_busy()

    # ---- training the network here ----------------------------------------------------------
    def _train_key(self) -> str:
        """Trained networks are kept per data set; a new drawing starts afresh."""
        return self.dataset

    def trained_network(self):
        """The :class:`TrainedNetwork` trained here for the current data, or None."""
        return self._trained.get(self._train_key())

    def start_training(self) -> int | None:
        """Train the 2-D network on the current data on a worker; returns the request id."""
        if not torch_available():
            self.context.report_error("Training needs torch", TORCH_MISSING)
            return None
        name = self.dataset
        steps, seconds = self.train_steps_spin.value(), self.train_seconds_spin.value()
        if name == DRAWING:
            if self._drawn_mixture is None:
                self.context.report_error("Nothing to train on",
                                          "Draw a distribution first (Draw my distribution).")
                return None
            points = np.asarray(self._drawn_mixture.means, dtype=np.float32)
            jitter = float(np.sqrt(self._drawn_mixture.covs[0, 0, 0]))
            config = train_config("points:drawing", steps, seconds, self.seed_spin.value(),
                                  self.train_preset)
        else:
            points, jitter = None, 0.0
            config = train_config(f"toy:{name}", steps, seconds, self.seed_spin.value(),
                                  self.train_preset)
        workdir = Path(tempfile.mkdtemp(prefix="diffview-2d-"))
        self._train_dirs.append(workdir)
        self._training_for = (name, self._drawn_mixture if name == DRAWING else None)
        self.train_label.setText("Starting (torch loads on first use)…")
        self.context.report_progress(TRAIN_JOB, 0, steps)
        return self._trainer.start(train_points_job(config, workdir, points, jitter))

    def cancel_training(self) -> None:
        self._trainer.cancel()

    def is_training(self) -> bool:
        return self._trainer.is_busy()

    def _on_train_busy(self, busy: bool) -> None:
        self.train_btn.setEnabled(not busy and torch_available())
        self.train_stop_btn.setEnabled(busy)
        self.dataset_combo.setEnabled(not busy)
        self.draw_btn.setEnabled(not busy)

    def _on_train_frame(self, _rid: int, frame: dict) -> None:
        if frame["stage"] == "export":
            self.train_label.setText(f"{frame['step']:,} steps done; exporting to ONNX…")
            return
        self.train_label.setText(
            f"step {frame['step']:,} / {frame['total']:,}   loss {frame['loss']:.3f}   "
            f"{frame['elapsed']:.0f} s (≤ {self.train_seconds_spin.value()} s)")
        self.context.report_progress(TRAIN_JOB, frame["step"], frame["total"])

    def _on_train_finished(self, _rid: int, result) -> None:
        self.context.report_progress(TRAIN_JOB, 1, 1)
        if result is None:
            self._on_train_cancelled(_rid)
            return
        name, mixture = self._training_for
        key = name if name != DRAWING or mixture is self._drawn_mixture else None
        why = "time limit" if result.stop_reason == "time" else "all steps"
        self.train_label.setText(
            f"Trained {result.steps:,} steps in {result.seconds:.1f} s ({why}), "
            f"loss {result.loss:.3f}.")
        if key is None:
            self.context.report_status("The drawing changed during training; result dropped.")
            return
        self._adopt_trained(key, result)
        self.training_finished.emit(True)

    def _adopt_trained(self, key: str, result) -> None:
        """Make ``result`` the learned score of data set ``key`` (shown now if it is current)."""
        self._trained[key] = result
        if self.dataset == key:
            self._set_learned_model(result.model, key, loading=False)
            if self.score_source == "exact":
                self.score_combo.setCurrentIndex(self.score_combo.findData("both"))
            self._update_enabled()
            self._redraw()
            self.learned_changed.emit(True)
        self.save_net_btn.setEnabled(self.trained_network() is not None)
        self.context.report_status(
            f"2-D network trained on {DATASET_LABELS[key]}: now the learned score.")

    def _on_train_failed(self, _rid: int, message: str) -> None:
        self.context.report_progress(TRAIN_JOB, 1, 1)
        self.train_label.setText("Training failed.")
        self.context.report_error("2-D training failed", message)
        self.training_finished.emit(False)

    def _on_train_cancelled(self, _rid: int) -> None:
        self.context.report_progress(TRAIN_JOB, 1, 1)
        self.train_label.setText("Training stopped; the previous network is unchanged.")
        self.context.report_status("2-D training cancelled.")
        self.training_finished.emit(False)

    def save_network(self, path: str | Path | None = None) -> bool:
        """Copy the network trained here for the current data to ``path`` (asks when None)."""
        trained = self.trained_network()
        if trained is None:
            return False
        if path is None:
            from PySide6.QtWidgets import QFileDialog

            path, _ = QFileDialog.getSaveFileName(self, "Save the 2-D network",
                                                  f"toy2d_{self.dataset}.onnx",
                                                  "ONNX models (*.onnx)")
            if not path:
                return False
        try:  # atomic (temporary file, fsync, rename): an old file is never half-replaced
            save_bytes(path, Path(trained.path).read_bytes())
        except OSError as exc:
            self.context.report_error("Cannot save the network", str(exc))
            return False
        self.context.report_status(f"Saved the 2-D network to {path}")
        return True

    def _remove_train_dirs(self) -> None:
        for d in self._train_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._train_dirs = []
