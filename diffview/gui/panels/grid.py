"""Image grid panel: the last run's samples, real images beside them, and nearest neighbours.

"Is the model copying its training set?" The nearest training image of each sample (L2 in pixel
space) is searched on a worker over the bundled samples or a loaded data folder.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.panels import (
    X_LEVELS,
    images_to_model_range,
    mosaic,
    mosaic_cell,
    to_display,
)
from diffview.gui.panels.sampling import NO_MODEL_TIP
from diffview.gui.workers import JobRunner
from diffview.runs.sampling import SamplingSpec, run_batch

__all__ = ["GridPanel", "nearest_neighbours"]

NN_CHUNK = 4096  # training images per distance block (bounds the worker's memory)


def nearest_neighbours(samples: np.ndarray, train: np.ndarray, token=None):
    """Index and L2 distance of the nearest ``train`` image for each sample.

    The search runs in float32 blocks (||a||² − 2ab + ||b||², one matrix product per block);
    the distances returned are recomputed exactly in float64 for the images found.

    Parameters
    ----------
    samples : (B, C, H, W) float
    train : (N, C, H, W) float, same C, H, W
    token : optional CancelToken, checked between blocks

    Returns
    -------
    (index (B,) int64, distance (B,) float64)
    """
    a = np.ascontiguousarray(samples.reshape(len(samples), -1), dtype=np.float32)
    a2 = np.einsum("ij,ij->i", a, a)
    best = np.full(len(a), np.inf, np.float32)
    arg = np.zeros(len(a), np.int64)
    for start in range(0, len(train), NN_CHUNK):
        if token is not None:
            token.raise_if_cancelled()
        b = np.asarray(train[start:start + NN_CHUNK], np.float32).reshape(-1, a.shape[1])
        d2 = (a2[:, None] - 2.0 * (a @ b.T)) + np.einsum("ij,ij->i", b, b)[None, :]
        j = d2.argmin(axis=1)
        v = d2[np.arange(len(a)), j]
        better = v < best
        best[better] = v[better]
        arg[better] = j[better] + start
    diff = samples.reshape(len(samples), -1).astype(np.float64) \
        - train[arg].reshape(len(arg), -1).astype(np.float64)
    return arg, np.sqrt((diff * diff).sum(axis=1))


@functools.lru_cache(maxsize=1)
def _bundled():
    from diffview.core.data import bundled_samples

    return bundled_samples()


class GridPanel(QWidget):
    """A grid of generated images with real and nearest-training-image companions."""

    panel_name = "grid"
    title = "Image grid"

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.samples: np.ndarray | None = None     # (B, C, H, W)
        self.initial_noise: np.ndarray | None = None  # (B, C, H, W) for the grid's own batches
        self.from_sampling_panel = False
        self.nn_index: np.ndarray | None = None
        self.nn_distance: np.ndarray | None = None
        self._seed = 1000
        self._cols = 1

        self.sampler_runner = JobRunner("grid-batch", self, max_fps=10)
        self.sampler_runner.frame_ready.connect(self._on_batch_progress)
        self.sampler_runner.run_finished.connect(self._on_batch_done)
        self.sampler_runner.run_failed.connect(self._on_failed)
        self.sampler_runner.run_cancelled.connect(lambda _r: self._progress_done("New batch"))
        self.sampler_runner.busy_changed.connect(lambda _b: self._update_enabled())
        self.nn_runner = JobRunner("grid-nn", self)
        self.nn_runner.run_finished.connect(self._on_nn_done)
        self.nn_runner.run_failed.connect(self._on_failed)
        self.nn_runner.run_cancelled.connect(lambda _r: self._progress_done("Nearest images"))

        self._build_ui()
        context.samples_changed.connect(self._on_samples_changed)
        context.image_model_changed.connect(lambda _m: self._update_enabled())
        context.dataset_changed.connect(self._on_dataset_changed)
        context.cancel_requested.connect(self._on_cancel_requested)
        self._update_enabled()

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.new_button = QPushButton("New batch")
        self.new_button.setToolTip("Sample a fresh batch with DDIM (x̂₀ clipped to [-1, 1])")
        self.new_button.clicked.connect(lambda: self.new_batch())
        row.addWidget(self.new_button)
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 100)
        self.count_spin.setValue(25)
        self.count_spin.setToolTip("Images in a new batch")
        row.addWidget(self.count_spin)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(2, 1000)
        self.steps_spin.setValue(50)
        self.steps_spin.setPrefix("DDIM ")
        self.steps_spin.setSuffix(" steps")
        self.steps_spin.setToolTip("Steps of the DDIM sampler used by New batch")
        row.addWidget(self.steps_spin)
        row.addStretch(1)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setToolTip("Save the grid (and its companions) as a PNG")
        self.export_button.clicked.connect(self._ask_export)
        row.addWidget(self.export_button)
        root.addLayout(row)
        row = QHBoxLayout()
        self.real_check = QCheckBox("Real images")
        self.real_check.setToolTip("Show as many images from the data set beside the samples")
        self.real_check.toggled.connect(self._refresh)
        row.addWidget(self.real_check)
        self.nn_check = QCheckBox("Nearest training image")
        self.nn_check.setToolTip("Show each sample's closest data-set image (pixel L2): "
                                 "is the model copying?")
        self.nn_check.toggled.connect(self._on_nn_toggled)
        row.addWidget(self.nn_check)
        row.addStretch(1)
        root.addLayout(row)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setMinimumSize(300, 200)
        self.items = {}
        self.labels = {}
        self.boxes = {}
        for col, (key, title) in enumerate((("samples", "Samples (click one for its "
                                                          "trajectory)"),
                                            ("real", "Real images"),
                                            ("nearest", "Nearest training image"))):
            vb = self.view.addViewBox(row=0, col=col, lockAspect=True, enableMouse=False,
                                      invertY=True)
            vb.setMenuEnabled(False)
            item = pg.ImageItem(axisOrder="row-major")
            vb.addItem(item)
            label = pg.LabelItem(title, size="10pt")
            self.view.addItem(label, row=1, col=col)
            self.items[key], self.labels[key], self.boxes[key] = item, label, vb
        self.view.scene().sigMouseClicked.connect(self._on_clicked)
        root.addWidget(self.view, 1)
        self.info_label = QLabel("Run the sampling panel or press New batch.")
        self.info_label.setWordWrap(True)
        root.addWidget(self.info_label)
        self._refresh()

    # ---- data in ------------------------------------------------------------------------

    def set_samples(self, samples: np.ndarray, initial_noise: np.ndarray | None = None,
                    from_sampling_panel: bool = False, note: str = "") -> None:
        """Show (B, C, H, W) samples; ``initial_noise`` lets a click re-run one of them."""
        self.samples = np.asarray(samples, np.float32)
        self.initial_noise = initial_noise
        self.from_sampling_panel = from_sampling_panel
        self.nn_index = self.nn_distance = None
        self.info_label.setText(note or f"{len(self.samples)} samples.")
        if self.nn_check.isChecked():
            self.find_nearest()
        self._refresh()

    def _on_samples_changed(self, result) -> None:
        self.set_samples(result.final, None, True,
                         f"{len(result.final)} samples of the last run ({result.description}).")

    def _on_dataset_changed(self, _images) -> None:
        self.nn_index = self.nn_distance = None
        if self.nn_check.isChecked():
            self.find_nearest()
        self._refresh()

    def training_set(self):
        """The comparison ImageSet: a loaded data folder, else the bundled samples."""
        return self.context.dataset if self.context.dataset is not None else _bundled()

    def training_images(self) -> tuple[np.ndarray, str]:
        """The comparison set as float32 (N, C, H, W) in [-1, 1], and its source."""
        data = self.training_set()
        return images_to_model_range(data.images), data.source

    # ---- actions ------------------------------------------------------------------------

    def new_batch(self) -> int | None:
        model = self.context.image_model
        if model is None:
            self.context.report_status(NO_MODEL_TIP)
            return None
        self._seed += 1
        spec = SamplingSpec(sampler="ddim", n_steps=min(self.steps_spin.value(), model.info.T),
                            clip_x0=True, seed=self._seed, batch=self.count_spin.value())

        def job(token):
            run = run_batch(spec, model, token)
            while True:
                try:
                    frame = next(run)
                except StopIteration as stop:
                    return stop.value.x_start, stop.value.final
                yield frame.step, frame.total

        self.context.report_progress("New batch", 0, spec.n_steps)
        return self.sampler_runner.start(job)

    def _on_batch_progress(self, _rid: int, frame) -> None:
        done, total = frame
        self.context.report_progress("New batch", done, total)

    def _on_batch_done(self, _rid: int, result) -> None:
        x_T, x = result  # noqa: N806
        self._progress_done("New batch")
        self.set_samples(x, x_T, False, f"{len(x)} new samples, DDIM {self.steps_spin.value()} "
                                        f"steps, seed {self._seed}.")

    def find_nearest(self) -> int | None:
        if self.samples is None:
            return None
        samples = self.samples

        def job(token):
            train, source = self.training_images()
            if train.shape[1:] != samples.shape[1:]:
                raise ValueError(f"The data set's images are {train.shape[1:]}, the samples "
                                 f"{samples.shape[1:]}: load a matching data folder.")
            idx, dist = nearest_neighbours(samples, train, token)
            return idx, dist, train[idx], source
            yield  # noqa: B901 - a generator job

        self.context.report_progress("Nearest images", 0, 0)
        return self.nn_runner.start(job)

    def _on_nn_toggled(self, on: bool) -> None:
        if on and self.nn_index is None:
            self.find_nearest()
        self._refresh()

    def _on_nn_done(self, _rid: int, result) -> None:
        self.nn_index, self.nn_distance, self._nn_images, source = result
        self._progress_done("Nearest images")
        self.labels["nearest"].setText(
            f"Nearest in {len(self.nn_index)} of {Path(str(source)).name or source}: "
            f"mean L2 {self.nn_distance.mean():.2f}")
        self._refresh()

    def _on_failed(self, _rid: int, message: str) -> None:
        self._progress_done("New batch")
        self._progress_done("Nearest images")
        self.context.report_error("Image grid", message)

    def _progress_done(self, name: str) -> None:
        self.context.report_progress(name, 1, 1)

    def _on_cancel_requested(self, name: str) -> None:
        if name == "New batch":
            self.sampler_runner.cancel()
        elif name == "Nearest images":
            self.nn_runner.cancel()

    def _update_enabled(self) -> None:
        ok = self.context.image_model is not None
        self.new_button.setEnabled(ok and not self.sampler_runner.is_busy())
        self.new_button.setToolTip("Sample a fresh batch with DDIM" if ok else NO_MODEL_TIP)

    # ---- display ------------------------------------------------------------------------

    def _refresh(self, *_args) -> None:
        if self.samples is None:
            for key in self.items:
                self.items[key].clear()
            self.boxes["real"].setVisible(False)
            self.boxes["nearest"].setVisible(False)
            self.labels["real"].setVisible(False)
            self.labels["nearest"].setVisible(False)
            return
        n = len(self.samples)
        self._cols = max(1, math.ceil(math.sqrt(n)))
        self.items["samples"].setImage(to_display(mosaic(self.samples, self._cols)),
                                       autoLevels=False, levels=X_LEVELS)
        show_real = self.real_check.isChecked()
        if show_real:
            real = self._real_images(n)
            if real is not None and real.shape[1:] == self.samples.shape[1:]:
                self.items["real"].setImage(to_display(mosaic(real, self._cols)),
                                            autoLevels=False, levels=X_LEVELS)
            else:
                show_real = False
                if real is not None:
                    self.context.report_status("The data set's image size differs from the "
                                               "samples'; load a matching data folder.")
        self.boxes["real"].setVisible(show_real)
        self.labels["real"].setVisible(show_real)
        show_nn = self.nn_check.isChecked() and self.nn_index is not None
        if show_nn:
            self.items["nearest"].setImage(to_display(mosaic(self._nn_images, self._cols)),
                                           autoLevels=False, levels=X_LEVELS)
        self.boxes["nearest"].setVisible(show_nn)
        self.labels["nearest"].setVisible(show_nn)

    def _real_images(self, n: int) -> np.ndarray | None:
        try:
            data = self.training_set()
        except Exception as exc:  # noqa: BLE001
            self.context.report_status(f"No real images: {exc}")
            return None
        # Only the picked images are converted: a full data set stays uint8.
        pick = np.random.default_rng(self._seed).choice(len(data.images),
                                                        size=min(n, len(data.images)),
                                                        replace=False)
        return images_to_model_range(data.images[np.sort(pick)])

    def displayed_nearest(self) -> np.ndarray | None:
        """The nearest-image mosaic as shown (for tests)."""
        return self.items["nearest"].image

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.samples is None:
            return
        pos = self.items["samples"].mapFromScene(event.scenePos())
        if self.click_at(pos.x(), pos.y()) is not None:
            event.accept()

    def click_at(self, x: float, y: float) -> int | None:
        """Act on a click at image coordinates (x, y) of the samples mosaic."""
        _, _c, h, w = self.samples.shape
        cell = mosaic_cell(x, y, len(self.samples), h, w, self._cols)
        if cell is None:
            return None
        index = cell[0]
        self.request_trajectory(index)
        return index

    def request_trajectory(self, index: int) -> None:
        """Ask the sampling panel for the trajectory of sample ``index``."""
        payload = {"index": int(index)}
        if not self.from_sampling_panel and self.initial_noise is not None:
            payload["x_T"] = self.initial_noise[index]
        self.context.trajectory_requested.emit(payload)

    # ---- export -------------------------------------------------------------------------

    def export_png(self, path: str | Path) -> bool:
        ok = self.view.grab().save(str(path), "PNG")
        self.context.report_status(f"Saved {path}" if ok else f"Could not write {path}")
        return ok

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export grid as PNG", "", "PNG (*.png)")
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            if not self.export_png(path):
                self.context.report_error("Export failed", f"Could not write {path}.")

    # ---- panel protocol -----------------------------------------------------------------

    def demo_state(self) -> None:
        if self.context.image_model is not None and self.samples is None:
            self.count_spin.setValue(16)
            self.steps_spin.setValue(20)
            self.new_batch()
        self.real_check.setChecked(True)

    def is_busy(self) -> bool:
        return self.sampler_runner.is_busy() or self.nn_runner.is_busy()

    def shutdown(self) -> None:
        self.sampler_runner.shutdown()
        self.nn_runner.shutdown()

    def to_state(self) -> dict:
        return {"count": self.count_spin.value(), "steps": self.steps_spin.value(),
                "real": self.real_check.isChecked(), "nearest": self.nn_check.isChecked(),
                "seed": self._seed}

    def from_state(self, state: dict) -> None:
        self.count_spin.setValue(int(state.get("count", 25)))
        self.steps_spin.setValue(int(state.get("steps", 50)))
        self._seed = int(state.get("seed", self._seed))
        self.real_check.setChecked(bool(state.get("real", False)))
        self.nn_check.setChecked(bool(state.get("nearest", False)))
