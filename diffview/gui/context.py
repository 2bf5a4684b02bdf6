"""Shared application state that panels read and react to, without knowing each other.

Only :mod:`diffview.gui.main_window` knows every panel. Panels talk through this object: they
listen to ``image_model_changed`` and the hand-over signals (``denoise_requested``,
``trajectory_requested``), report errors and status through it, and run their background work
on ``jobs`` (:class:`~diffview.gui.jobs.JobManager`) and training on ``training``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSettings, Signal

if TYPE_CHECKING:  # pragma: no cover
    from diffview.core.data import ImageSet
    from diffview.engine import Denoiser

__all__ = ["AppContext", "make_settings"]

log = logging.getLogger(__name__)


def make_settings() -> QSettings:
    """The app's QSettings: an INI file under ``$DIFFVIEW_SETTINGS_DIR`` when that is set
    (tests, portable use), else the platform's per-user INI location."""
    folder = os.environ.get("DIFFVIEW_SETTINGS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(folder) / "diffview.ini"), QSettings.Format.IniFormat)
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, "diffview", "diffview"
    )


class AppContext(QObject):
    """State shared by the main window and its panels.

    Signals
    -------
    image_model_changed(object)
        The new image denoiser (``Denoiser``) or None.
    status_message(str)
        A short note for the status bar.
    error_raised(str, str)
        Title and message of an error the user must see (the main window shows a dialog).
    denoise_requested(object, int)
        ``x_t`` of shape (C, H, W), float32, and its timestep index: "Denoise from here".
    trajectory_requested(object)
        A payload from the grid (sample index and initial noise) for the sampling panel.
    dataset_changed(object)
        A loaded training set (``core.data.ImageSet``) or None.
    samples_changed(object)
        A sampling run finished: its ``RunResult`` (``.final`` is (B, C, H, W), ``.seed``).
    """

    image_model_changed = Signal(object)
    status_message = Signal(str)
    error_raised = Signal(str, str)
    denoise_requested = Signal(object, int)
    restore_requested = Signal(object)
    """A ``gui.handover.DenoiseRequest`` with a cold degradation: "Restore from here"."""
    trajectory_requested = Signal(object)
    dataset_changed = Signal(object)
    samples_changed = Signal(object)
    toy_model_changed = Signal(str, object)

    def __init__(self, parent: QObject | None = None, settings: QSettings | None = None,
                 device: str = "auto"):
        super().__init__(parent)
        self.settings: QSettings = settings if settings is not None else make_settings()
        self.device = device
        self.image_model: Denoiser | None = None
        self.model_path: Path | None = None
        self.dataset: ImageSet | None = None
        self.last_samples: Any = None  # the last sampling run's final images (B, C, H, W)
        self._toy_models: dict[str, Denoiser | None] = {}
        self._toy_lock = threading.Lock()
        from diffview.gui.jobs import JobManager

        self.jobs = JobManager(self)
        """Runs every panel's background work (:class:`~diffview.gui.jobs.Job`)."""
        self.jobs.error.connect(self.report_error)
        from diffview.gui.training.service import TrainingService

        self.training = TrainingService(self)
        """Runs every training (image and 2-D) in a child process
        (:class:`~diffview.gui.training.service.TrainingService`)."""

    # ---- model and data --------------------------------------------------------------------

    def set_image_model(self, denoiser: Denoiser | None) -> None:
        """Make ``denoiser`` the current image model (None: no model) and tell the panels."""
        self.image_model = denoiser
        path = getattr(denoiser, "path", None)
        self.model_path = Path(path) if path is not None else None
        self.image_model_changed.emit(denoiser)

    def set_dataset(self, images: ImageSet | None) -> None:
        """Make ``images`` the training set used for "real images" and nearest neighbours."""
        self.dataset = images
        self.dataset_changed.emit(images)

    def toy_model(self, name: str) -> Denoiser | None:
        """The trained 2-D network for toy data set ``name``, or None when it is not bundled.

        Loaded once from ``resources/models/toy2d_<name>.onnx`` and cached. Thread-safe; the
        first call loads the (small) file, so call it from a worker when you can.
        """
        with self._toy_lock:
            if name in self._toy_models:
                return self._toy_models[name]
        from diffview.paths import resource

        path = resource("models", f"toy2d_{name}.onnx")
        model = None
        if path.is_file():
            try:
                from diffview.engine import OnnxDenoiser

                model = OnnxDenoiser(path, device=self.device)
            except Exception as exc:  # noqa: BLE001 - a broken bundle must not crash the panel
                log.warning("cannot load %s: %s", path, exc)
                self.status_message.emit(f"2-D model {path.name} not usable: {exc}")
        with self._toy_lock:
            self._toy_models.setdefault(name, model)
            return self._toy_models[name]

    def set_toy_model(self, name: str, model: Denoiser) -> None:
        """Use ``model`` (trained elsewhere, e.g. by the Training panel) for toy set ``name``.

        It replaces the bundled network in :meth:`toy_model` and the 2-D panel adopts it.
        """
        with self._toy_lock:
            self._toy_models[name] = model
        self.toy_model_changed.emit(name, model)

    # ---- reporting -------------------------------------------------------------------------

    def report_error(self, title: str, message: str) -> None:
        """Show an error to the user (a dialog from the main window) and log it."""
        log.error("%s: %s", title, message)
        self.error_raised.emit(title, message)

    def report_status(self, message: str) -> None:
        self.status_message.emit(message)
