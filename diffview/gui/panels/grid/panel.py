"""The image grid panel: the last run's samples, real images beside them, nearest neighbours.

Composition: a :class:`~.state.GridState`, the :class:`~.view.GridView` that draws it, and two
runs handed to ``context.jobs``: New batch (:func:`diffview.runs.sampling.run_batch`, one row
per class for a class-conditional model) and the nearest-image search
(:func:`~.nearest.run_nearest`).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QVBoxLayout, QWidget

from diffview.fileio import write_via
from diffview.gui.imaging import images_to_model_range, mosaic, mosaic_cell, to_display
from diffview.gui.jobs import Job
from diffview.gui.panels.grid.nearest import run_nearest
from diffview.gui.panels.grid.state import GridState
from diffview.gui.panels.grid.view import NEAREST, REAL, SAMPLES, GridView
from diffview.gui.panels.sampling.state import model_problem
from diffview.runs.sampling import run_batch

__all__ = ["GridPanel"]

BATCH_LANE, NEAREST_LANE = "grid batch", "grid nearest"


@functools.lru_cache(maxsize=1)
def _bundled():
    from diffview.core.data import bundled_samples

    return bundled_samples()


class GridPanel(QWidget):
    """A grid of generated images with real and nearest-training-image companions.

    Signals
    -------
    batch_progressed(object)
        A :class:`~diffview.runs.sampling.SamplingFrame` of New batch.
    batch_finished(object), batch_cancelled(object)
        New batch's :class:`~diffview.runs.sampling.SamplingResult` (cancelled: partial or
        None; a partial batch is not shown).
    nearest_found(object)
        The :class:`~.state.NearestResult` of a search.
    """

    panel_name = "grid"
    title = "Image grid"

    batch_progressed = Signal(object)
    batch_finished = Signal(object)
    batch_cancelled = Signal(object)
    nearest_found = Signal(object)

    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.state = GridState()
        self._shut_down = False
        self.view = GridView()
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.addWidget(self.view)
        v = self.view
        # The widgets that scripts and tests drive, under their established names.
        self.board, self.info_label = v.board, v.info_label
        self.new_button, self.count_spin, self.steps_spin = v.new_button, v.count_spin, \
            v.steps_spin
        self.real_check, self.nn_check, self.export_button = v.real_check, v.nn_check, \
            v.export_button
        v.show_state(self.state)
        v.edited.connect(self._on_edited)
        v.new_clicked.connect(lambda: self.new_batch())
        v.export_clicked.connect(self._ask_export)
        v.sample_clicked.connect(lambda x, y: self.click_at(x, y))
        context.samples_changed.connect(self._on_samples_changed)
        context.image_model_changed.connect(lambda _m: self._update_enabled())
        context.dataset_changed.connect(self._on_dataset_changed)
        context.jobs.busy_changed.connect(lambda _b: self._update_enabled())
        self._update_enabled()
        self._refresh()

    # ---- what is shown --------------------------------------------------------------------

    @property
    def samples(self) -> np.ndarray | None:
        return self.state.samples

    @property
    def nn_index(self) -> np.ndarray | None:
        r = self.state.nearest_result
        return None if r is None else r.index

    @property
    def nn_distance(self) -> np.ndarray | None:
        r = self.state.nearest_result
        return None if r is None else r.distance

    def _set(self, **changes) -> None:
        self.state = dataclasses.replace(self.state, **changes)

    def _on_edited(self) -> None:
        before = self.state
        self._set(**self.view.values())
        if self.state.nearest and not before.nearest and self.state.nearest_result is None:
            self.find_nearest()
        if (self.state.real, self.state.nearest) != (before.real, before.nearest):
            self._refresh()

    def set_samples(self, samples: np.ndarray, spec=None, note: str = "") -> None:
        """Show (B, C, H, W) samples; ``spec`` (the grid's own batch) lets a click re-run one."""
        samples = np.asarray(samples, np.float32)
        self._set(samples=samples, spec=spec, nearest_result=None,
                  note=note or f"{len(samples)} samples.")
        self.info_label.setText(self.state.note)
        if self.state.nearest:
            self.find_nearest()
        self._refresh()

    def _on_samples_changed(self, result) -> None:
        self.set_samples(result.final, None,
                         f"{len(result.final)} samples of the last run ({result.description}).")

    def _on_dataset_changed(self, _images) -> None:
        self._set(nearest_result=None)
        if self.state.nearest and self.state.samples is not None:
            self.find_nearest()
        self._refresh()

    def training_set(self):
        """The comparison ImageSet: a loaded data folder, else the bundled samples."""
        return self.context.dataset if self.context.dataset is not None else _bundled()

    def training_images(self) -> tuple[np.ndarray, str]:
        """The comparison set as float32 (N, C, H, W) in [-1, 1], and its source."""
        data = self.training_set()
        return images_to_model_range(data.images), data.source

    # ---- runs -----------------------------------------------------------------------------

    def new_batch(self) -> int | None:
        """Sample a fresh batch (seed one past the last); returns the job's request id."""
        problem = model_problem(self.context.image_model)
        if problem:
            self.context.report_status(problem)
            return None
        model = self.context.image_model
        spec = self.state.next_batch(model.info)
        job = Job("New batch", start=lambda token: run_batch(spec, model, token),
                  on_frame=self.batch_progressed.emit,
                  on_result=lambda result: self._on_batch_done(spec, result),
                  on_cancelled=self.batch_cancelled.emit, error_title="Image grid",
                  lane=BATCH_LANE, max_fps=10)
        rid = self.context.jobs.start(job)
        self._update_enabled()
        return rid

    def _on_batch_done(self, spec, result) -> None:
        self._set(seed=spec.seed)
        rows = ", one row per class" if spec.classes is not None else ""
        self.set_samples(result.final, spec, f"{len(result.final)} new samples, DDIM "
                                             f"{spec.n_steps} steps, seed {spec.seed}{rows}.")
        self._update_enabled()
        self.batch_finished.emit(result)

    def find_nearest(self) -> int | None:
        """Search each sample's nearest training image on a worker; returns the request id."""
        samples = self.state.samples
        if samples is None:
            return None
        job = Job("Nearest images", start=lambda token: run_nearest(samples,
                                                                    self.training_images,
                                                                    token),
                  on_result=self._on_nearest, error_title="Image grid", lane=NEAREST_LANE)
        return self.context.jobs.start(job)

    def _on_nearest(self, result) -> None:
        self._set(nearest_result=result)
        name = Path(str(result.source)).name or result.source
        self.board.set_title(NEAREST, f"Nearest in {name}: mean L2 {result.distance.mean():.2f}")
        self._refresh()
        self.nearest_found.emit(result)

    def _update_enabled(self) -> None:
        problem = model_problem(self.context.image_model)
        self.view.set_batch_enabled(not problem and not self.context.jobs.is_busy(BATCH_LANE),
                                    problem)

    # ---- display --------------------------------------------------------------------------

    def _refresh(self) -> None:
        samples = self.state.samples
        board = self.board
        if samples is None:
            for slot in (SAMPLES, REAL, NEAREST):
                board.set_image(slot, None)
            board.set_shown(REAL, False)
            board.set_shown(NEAREST, False)
            return
        cols = self.state.columns()
        board.set_image(SAMPLES, to_display(mosaic(samples, cols)))
        show_real = self.state.real
        if show_real:
            real = self._real_images(len(samples))
            show_real = real is not None and real.shape[1:] == samples.shape[1:]
            if show_real:
                board.set_image(REAL, to_display(mosaic(real, cols)))
            elif real is not None:
                self.context.report_status("The data set's image size differs from the "
                                           "samples'; load a matching data folder.")
        board.set_shown(REAL, show_real)
        found = self.state.nearest_result
        show_nn = self.state.nearest and found is not None
        if show_nn:
            board.set_image(NEAREST, to_display(mosaic(found.images, cols)))
        board.set_shown(NEAREST, show_nn)

    def _real_images(self, n: int) -> np.ndarray | None:
        try:
            data = self.training_set()
        except Exception as exc:  # noqa: BLE001 - no real images is a note, not an error
            self.context.report_status(f"No real images: {exc}")
            return None
        # Only the picked images are converted: a full data set stays uint8.
        pick = np.random.default_rng(self.state.seed).choice(
            len(data.images), size=min(n, len(data.images)), replace=False)
        return images_to_model_range(data.images[np.sort(pick)])

    def displayed_nearest(self) -> np.ndarray | None:
        """The nearest-image mosaic as shown."""
        return self.board.item(NEAREST).image if self.board.is_shown(NEAREST) else None

    def click_at(self, x: float, y: float) -> int | None:
        """Act on a click at image coordinates (x, y) of the samples mosaic."""
        if self.state.samples is None:
            return None
        _, _c, h, w = self.state.samples.shape
        cell = mosaic_cell(x, y, len(self.state.samples), h, w, self.state.columns())
        if cell is None:
            return None
        self.request_trajectory(cell[0])
        return cell[0]

    def request_trajectory(self, index: int) -> None:
        """Ask the sampling panel for sample ``index``'s trajectory: of its last run, or (the
        grid's own batch) a re-run of that one image from its spec."""
        payload = {"index": int(index)}
        if self.state.spec is not None:
            payload["spec"] = self.state.spec
        self.context.trajectory_requested.emit(payload)

    # ---- export ---------------------------------------------------------------------------

    def export_png(self, path: str | Path) -> bool:
        ok = write_via(path, lambda tmp: self.board.grab().save(tmp, "PNG"), suffix=".png")
        self.context.report_status(f"Saved {path}" if ok else f"Could not write {path}")
        return ok

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export grid as PNG", "", "PNG (*.png)")
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            if not self.export_png(path):
                self.context.report_error("Export failed", f"Could not write {path}.")

    # ---- the Panel protocol ---------------------------------------------------------------

    def state_dict(self) -> dict:
        return self.state.to_dict()

    def load_state(self, data: dict) -> None:
        new = GridState.from_dict(data)  # ValueError before anything changes
        old = self.state
        self.state = dataclasses.replace(new, samples=old.samples, spec=old.spec, note=old.note,
                                         nearest_result=old.nearest_result)
        self.view.show_state(self.state)
        if self.state.nearest and old.nearest_result is None and old.samples is not None:
            self.find_nearest()
        self._refresh()

    def is_busy(self) -> bool:
        return self.context.jobs.is_busy(BATCH_LANE) or self.context.jobs.is_busy(NEAREST_LANE)

    def shutdown(self) -> None:
        if not self._shut_down:
            self._shut_down = True
            self.context.jobs.cancel(BATCH_LANE)
            self.context.jobs.cancel(NEAREST_LANE)

    def animation_source(self):
        return None

    def animation_hint(self) -> str:
        return "The image grid has no animation; export the sampling run instead."

    def demo_state(self) -> None:
        if self.state.samples is None and not model_problem(self.context.image_model):
            self._set(count=16, steps=20)
            self.view.show_state(self.state)
            self.new_batch()
        self.real_check.setChecked(True)
