"""The main window: the composition root that knows every panel.

Panels live in QDockWidgets with stable objectNames (``dock_<panel_name>``) so that the layout
saved in QSettings comes back; menus, toolbar and status bar wire the panels to the shared
:class:`~diffview.gui.context.AppContext`.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QWidget,
)

from diffview.gui.context import AppContext
from diffview.gui.export import EXPORT_JOB, ExportMixin, write_gif
from diffview.gui.session import SESSION_VERSION, SessionMixin
from diffview.gui.window_actions import ActionsMixin
from diffview.gui.window_layout import LAYOUT_VERSION, LayoutMixin
from diffview.gui.workers import JobRunner, call_in_worker

__all__ = ["LAYOUT_VERSION", "PANEL_MODULES", "SESSION_VERSION", "MainWindow",
           "load_panel_classes", "write_gif"]

log = logging.getLogger(__name__)

# (module, class) of every panel, in menu order; a module that is missing is skipped.
PANEL_MODULES = (
    ("diffview.gui.panels.forward", "ForwardPanel"),
    ("diffview.gui.panels.sampling", "SamplingPanel"),
    ("diffview.gui.panels.grid", "GridPanel"),
    ("diffview.gui.panels.sde2d", "Sde2DPanel"),
    ("diffview.gui.panels.randomwalk", "RandomWalkPanel"),
    ("diffview.gui.panels.likelihood", "LikelihoodPanel"),
    ("diffview.gui.panels.training", "TrainingPanel"),
)
MODEL_FILTER = "ONNX models (*.onnx);;All files (*)"
# Panels that start as background tabs in the default layout; defer_hidden builds them
# after the window is shown.
DEFERRED_PANELS = ("grid", "sde2d", "randomwalk", "likelihood", "training")
PROGRESS_REFRESH_MS = 100  # the status-bar progress bar redraws at most this often


def load_panel_classes() -> list[type]:
    """The panel classes whose modules import; a panel that fails to import is logged."""
    classes = []
    for module_name, class_name in PANEL_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                log.exception("panel module %s failed to import", module_name)
            continue
        except Exception:  # noqa: BLE001 - one broken panel must not stop the app
            log.exception("panel module %s failed to import", module_name)
            continue
        cls = getattr(module, class_name, None)
        if cls is not None:
            classes.append(cls)
    return classes


def warm_up() -> None:
    """Import, off the GUI thread, what numpy and the samplers load lazily on first use.

    numpy 2 imports ``numpy.ma`` (slowly: it inspects signatures) the first time
    ``np.unique`` runs. Done by a sampling job mid-run, that import holds Python's import lock
    and stalls the GUI thread for a quarter of a second whenever it imports anything itself.
    """
    import numpy.ma  # noqa: F401
    import numpy.random  # noqa: F401

    from diffview.core.samplers import make_sampler
    from diffview.core.schedules import make_schedule

    make_sampler("ddim", make_schedule("linear", 100), n_steps=10)


def load_model_job(path: Path, device: str, threads: int | None = None):
    """A worker job that opens and checks an ONNX model (never on the GUI thread)."""

    def load():
        from diffview.engine import ModelError, OnnxDenoiser

        model = OnnxDenoiser(path, device=device, threads=threads)
        info = model.info
        if info.kind != "image":
            shape = "×".join(map(str, info.sample_shape))
            raise ModelError(f"{Path(path).name} is a {info.kind} model (samples of shape "
                             f"{shape}); the image panels need an image model [B, C, H, W].")
        return model

    return call_in_worker(load)


class MainWindow(ActionsMixin, LayoutMixin, SessionMixin, ExportMixin, QMainWindow):
    """Docked panels around the shared context, with menus, toolbar and status bar.

    The window is split by concern: actions and menus (:mod:`.window_actions`), dock layout
    (:mod:`.window_layout`), sessions (:mod:`.session`) and exports (:mod:`.export`).
    """

    # (name, panel) when a panel deferred by ``defer_hidden`` has been built; wiring that needs
    # a panel listens here as well as looking in ``panels``.
    panel_added = Signal(str, object)

    def __init__(self, context: AppContext | None = None, panel_classes=None,
                 restore_layout: bool = True, model: str | Path | None = None,
                 defer_hidden: bool = False):
        """``model``: an ONNX path, or ``"default"`` for the bundled model, to load at once.

        Loading starts before the panels are built, so that onnxruntime opens the model on
        its worker while the GUI thread builds the window. ``defer_hidden`` builds the panels
        that start as background tabs (:data:`DEFERRED_PANELS`) only after the window is
        shown, one per turn of the event loop: the app's start-up uses it, tests and
        ``--screenshot`` build everything at once.
        """
        super().__init__()
        self.context = context if context is not None else AppContext(self)
        self.setWindowTitle("diffview")
        self.setObjectName("diffview_main_window")
        self.setDockOptions(QMainWindow.DockOption.AllowTabbedDocks
                            | QMainWindow.DockOption.AllowNestedDocks
                            | QMainWindow.DockOption.AnimatedDocks)
        self.setDocumentMode(True)
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self._closed = False
        self.persist_layout = True
        self._error_boxes: list[QMessageBox] = []
        self._active_jobs: dict[str, tuple[int, int]] = {}
        self.model_load_failed_message = ""
        self._pending_session: tuple[dict, str] | None = None

        self._model_runner = JobRunner("model", self)
        self._model_runner.run_finished.connect(self._on_model_loaded)
        self._model_runner.run_failed.connect(self._on_model_failed)
        self._model_runner.busy_changed.connect(self._on_model_busy)
        self._data_runner = JobRunner("data", self)
        self._data_runner.run_finished.connect(self._on_data_loaded)
        self._data_runner.run_failed.connect(
            lambda _rid, msg: self._job_done("Loading data", "Cannot open data folder", msg))

        self._export_runner = JobRunner("export", self)
        self._export_runner.run_finished.connect(self._on_export_done)
        self._export_runner.run_failed.connect(
            lambda _rid, msg: self._job_done(EXPORT_JOB, "Export failed", msg))
        self._export_runner.run_cancelled.connect(lambda _rid: self._job_done(EXPORT_JOB))

        self._warm_runner = JobRunner("warm-up", self)
        self._warm_runner.start(call_in_worker(warm_up))

        self._build_status_bar()
        ctx = self.context
        ctx.status_message.connect(self.show_status)
        ctx.error_raised.connect(self.show_error)
        ctx.job_progress.connect(self._on_job_progress)
        ctx.image_model_changed.connect(self._on_model_changed)
        ctx.denoise_requested.connect(lambda *_: self.raise_panel("sampling"))
        ctx.trajectory_requested.connect(lambda *_: self.raise_panel("sampling"))
        if model == "default":
            self.load_default_model()
        elif model is not None:
            self.load_model(model)
        self._deferred: list[tuple[type, QScrollArea]] = []
        self._build_panels(panel_classes if panel_classes is not None
                           else load_panel_classes(),
                           defer=DEFERRED_PANELS if defer_hidden else ())
        self._build_actions()
        self._build_menus_and_toolbar()
        from diffview.gui.training_actions import install_training

        install_training(self)
        self._on_model_busy(self.model_busy())

        self.resize(1280, 800)
        if restore_layout:
            self.restore_layout()
        self._on_model_changed(ctx.image_model)

    # ---- construction -------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.model_label = QLabel("no model")
        self.model_label.setToolTip("The image model used for sampling")
        self.provider_label = QLabel("")
        self.provider_label.setToolTip("The onnxruntime execution provider actually in use")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(True)
        self.progress.setToolTip("Progress of background work")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running background job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_jobs)
        self.progress.hide()
        self.cancel_button.hide()
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_REFRESH_MS)
        self._progress_timer.timeout.connect(self._refresh_progress)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.model_label)
        sb.addPermanentWidget(self.provider_label)

    # ---- status, errors, progress -------------------------------------------------------

    def show_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def show_error(self, title: str, message: str) -> None:
        """A non-blocking warning box (several can be open; tests can read them)."""
        if self._closed:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                          self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: self._error_boxes.remove(b)
                             if b in self._error_boxes else None)
        self._error_boxes.append(box)
        box.open()
        self.show_status(f"{title}: {message}")

    def _on_job_progress(self, name: str, done: int, total: int) -> None:
        if total > 0 and done >= total:
            self._active_jobs.pop(name, None)
        else:
            self._active_jobs[name] = (done, total)
        if not self._active_jobs:
            self._progress_timer.stop()
            self.progress.hide()
            self.cancel_button.hide()
        elif self.progress.isHidden():
            self._refresh_progress()  # a new job shows at once
        elif not self._progress_timer.isActive():
            # QProgressBar.setValue repaints synchronously (tens of ms on a loaded CPU):
            # coalesce a run's per-step reports into one refresh per PROGRESS_REFRESH_MS.
            self._progress_timer.start()

    def _refresh_progress(self) -> None:
        if not self._active_jobs:
            return
        name, (done, total) = next(reversed(self._active_jobs.items()))
        self.progress.setRange(0, max(total, 0))
        if total > 0:
            self.progress.setValue(done)
        self.progress.setFormat(f"{name} %p%" if total > 0 else name)
        self.progress.show()
        self.cancel_button.show()

    def cancel_jobs(self) -> None:
        """Cancel every job shown in the status bar (panels listen to cancel_requested)."""
        for name in list(self._active_jobs):
            self.context.cancel_requested.emit(name)
        for runner in (self._model_runner, self._data_runner, self._export_runner):
            runner.cancel()

    def _job_done(self, name: str, title: str = "", message: str = "") -> None:
        self.context.report_progress(name, 1, 1)
        if message:
            self.context.report_error(title, message)

    # ---- model --------------------------------------------------------------------------

    def load_model(self, path: str | Path) -> int:
        """Open and check ``path`` on a worker; it replaces the current model only if good."""
        path = Path(path)
        self.show_status(f"Checking model {path.name}…")
        self.context.report_progress("Loading model", 0, 0)
        from diffview.gui.training_actions import model_threads, startup_device

        return self._model_runner.start(load_model_job(path, startup_device(self.context),
                                                       model_threads(self.context)))

    def load_default_model(self) -> int | None:
        """Load the model chosen in Preferences, else the bundled default; returns the
        request id or None."""
        from diffview.engine import default_model_path
        from diffview.gui.training_actions import preferred_model_path

        preferred = preferred_model_path(self.context.settings)
        if preferred is not None:
            return self.load_model(preferred)
        try:
            path = Path(default_model_path())
        except Exception as exc:  # noqa: BLE001
            self.show_status(f"No default model: {exc}")
            return None
        if not path.is_file():
            self.show_status("No model: the default model is not installed (File > Open model)")
            return None
        return self.load_model(path)

    def model_busy(self) -> bool:
        return self._model_runner.is_busy()

    def _on_model_busy(self, busy: bool) -> None:
        act = getattr(self, "act_open_model", None)  # the first load starts before the menus
        if act is not None:
            act.setEnabled(not busy)

    def _on_model_loaded(self, _rid: int, denoiser) -> None:
        self.context.report_progress("Loading model", 1, 1)
        self.context.set_image_model(denoiser)
        warnings = getattr(denoiser, "metadata_warnings", None) or []
        note = getattr(denoiser, "provider_note", "")
        if note:
            self.provider_label.setToolTip(note)
        extra = ""
        if warnings:
            extra = "; incomplete metadata, defaults used (hover the model name)"
            self.model_label.setToolTip("\n".join([str(denoiser.path), *warnings]))
        self.show_status(f"Model {Path(denoiser.path).name} loaded on {denoiser.provider}{extra}")
        self._apply_pending_session()

    def _on_model_failed(self, _rid: int, message: str) -> None:
        self.model_load_failed_message = message
        self._job_done("Loading model", "Cannot open model", message)
        self._apply_pending_session()

    def _on_model_changed(self, denoiser) -> None:
        if denoiser is None:
            self.model_label.setText("no model")
            self.model_label.setToolTip("No image model: File > Open model… loads an ONNX file")
            self.provider_label.setText("")
            return
        info = denoiser.info
        name = Path(getattr(denoiser, "path", "model")).name
        shape = "×".join(str(d) for d in info.sample_shape)
        self.model_label.setText(f"model: {name} [{shape}, {info.schedule} T={info.T}]")
        self.model_label.setToolTip(str(getattr(denoiser, "path", name)))
        self.provider_label.setText(f"provider: {denoiser.provider}")

    # ---- file actions -------------------------------------------------------------------

    def _last_dir(self, key: str) -> str:
        return str(self.context.settings.value(f"paths/{key}", ""))

    def _remember_dir(self, key: str, path: str) -> None:
        self.context.settings.setValue(f"paths/{key}", str(Path(path).parent))

    def ask_open_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", self._last_dir("model"),
                                              MODEL_FILTER)
        if path:
            self._remember_dir("model", path)
            self.load_model(path)

    def ask_open_image(self) -> None:
        from diffview.gui.panels.forward import IMAGE_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open image", self._last_dir("image"),
                                              IMAGE_FILTER)
        if path:
            self._remember_dir("image", path)
            self.open_image(path)

    def open_image(self, path: str | Path) -> None:
        panel = self.panels.get("forward")
        if panel is not None:
            panel.open_image(path)
            self.raise_panel("forward")

    def ask_open_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open data folder",
                                                  self._last_dir("data"))
        if folder:
            self.context.settings.setValue("paths/data", folder)
            self.open_data(folder)

    def open_data(self, folder: str | Path) -> int:
        folder = Path(folder)

        def load():
            from diffview.core.data import load_dataset

            return load_dataset(folder)

        self.context.report_progress("Loading data", 0, 0)
        self.show_status(f"Loading images from {folder}…")
        return self._data_runner.start(call_in_worker(load))

    def _on_data_loaded(self, _rid: int, images) -> None:
        self.context.report_progress("Loading data", 1, 1)
        self.context.set_dataset(images)
        self.show_status(f"Loaded {len(images.images)} images from {images.source}")

    def set_theme(self, theme: str) -> None:
        self.context.settings.setValue("ui/theme", theme)
        self.apply_theme(theme)

    def apply_theme(self, theme: str) -> None:
        """Re-style the running app; plot backgrounds follow now, axis colours at next start."""
        import pyqtgraph as pg

        from diffview.gui.style import apply_style

        app = QApplication.instance()
        if app is None:
            return
        look = apply_style(app, theme)
        background = pg.getConfigOption("background")
        for view in self.findChildren(pg.GraphicsView):
            view.setBackground(background)
        self.show_status(f"Theme: {look}")

    # ---- shutdown -----------------------------------------------------------------------

    def demo_state(self, only: str | None = None) -> None:
        for name, panel in self.panels.items():
            if only is None or name == only:
                fn = getattr(panel, "demo_state", None)
                if fn is not None:
                    try:
                        fn()
                    except Exception:  # noqa: BLE001
                        log.exception("demo_state of %s failed", name)

    def busy(self) -> bool:
        """Whether the model, data or any panel is still working (for --screenshot)."""
        if any(r.is_busy() for r in (self._model_runner, self._data_runner,
                                     self._export_runner)):
            return True
        return any(getattr(p, "is_busy", lambda: False)() for p in self.panels.values())

    def shutdown(self) -> None:
        """Stop every panel's workers and our own; idempotent."""
        if self._closed:
            return
        self._closed = True
        for name, panel in self.panels.items():
            fn = getattr(panel, "shutdown", None)
            if fn is not None:
                try:
                    fn()
                except Exception:  # noqa: BLE001
                    log.exception("shutdown of panel %s failed", name)
        for runner in (self._model_runner, self._data_runner, self._export_runner,
                       self._warm_runner):
            runner.shutdown()
        self.context.training.shutdown()
        self.context.jobs.shutdown()

    def close_error_boxes(self) -> None:
        for box in list(self._error_boxes):
            box.close()
        self._error_boxes.clear()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not self._closed and self.persist_layout:
            self.save_layout()
        self.shutdown()
        self.close_error_boxes()
        super().closeEvent(event)
