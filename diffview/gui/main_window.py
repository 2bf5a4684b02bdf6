"""The main window: the composition root that knows every panel.

Panels live in QDockWidgets with stable objectNames (``dock_<panel_name>``) so that the layout
saved in QSettings comes back; menus, toolbar and status bar wire the panels to the shared
:class:`~diffview.gui.context.AppContext`.
"""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStyle,
    QToolBar,
    QWidget,
)

from diffview.gui.context import AppContext
from diffview.gui.workers import JobRunner, call_in_worker

__all__ = ["PANEL_MODULES", "MainWindow", "load_panel_classes"]

log = logging.getLogger(__name__)

# (module, class) of every panel, in menu order; a module that is missing is skipped.
PANEL_MODULES = (
    ("diffview.gui.panels.forward", "ForwardPanel"),
    ("diffview.gui.panels.sampling", "SamplingPanel"),
    ("diffview.gui.panels.grid", "GridPanel"),
    ("diffview.gui.panels.sde2d", "Sde2DPanel"),
    ("diffview.gui.panels.randomwalk", "RandomWalkPanel"),
)
SESSION_VERSION = 1
LAYOUT_VERSION = 2  # bump when the default dock arrangement changes
MODEL_FILTER = "ONNX models (*.onnx);;All files (*)"
SESSION_FILTER = "diffview sessions (*.diffview.json *.json);;All files (*)"


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


def write_gif(frames, path: str | Path, fps: float = 20.0, min_side: int = 256) -> Path:
    """Write (C, H, W) frames in [-1, 1] as a looping GIF, small images enlarged (nearest)."""
    from PIL import Image

    from diffview.gui.panels.forward import to_display

    images = []
    for x in frames:
        u8 = np.clip((to_display(np.asarray(x, np.float32)) + 1.0) * 127.5, 0, 255)
        u8 = u8.round().astype(np.uint8)
        scale = max(1, -(-min_side // max(1, min(u8.shape[:2]))))  # ceiling division
        if scale > 1:
            u8 = np.repeat(np.repeat(u8, scale, axis=0), scale, axis=1)
        images.append(Image.fromarray(u8))
    if not images:
        raise ValueError("there are no frames to write")
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=max(20, int(1000 / fps)))
    return path


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


def load_model_job(path: Path, device: str):
    """A worker job that opens and checks an ONNX model (never on the GUI thread)."""

    def load():
        from diffview.engine import ModelError, OnnxDenoiser

        model = OnnxDenoiser(path, device=device)
        info = model.info
        if info.kind != "image":
            shape = "×".join(map(str, info.sample_shape))
            raise ModelError(f"{Path(path).name} is a {info.kind} model (samples of shape "
                             f"{shape}); the image panels need an image model [B, C, H, W].")
        return model

    return call_in_worker(load)


class MainWindow(QMainWindow):
    """Docked panels around the shared context, with menus, toolbar and status bar."""

    def __init__(self, context: AppContext | None = None, panel_classes=None,
                 restore_layout: bool = True):
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
            lambda _rid, msg: self._job_done("Export GIF", "Export failed", msg))

        self._warm_runner = JobRunner("warm-up", self)
        self._warm_runner.start(call_in_worker(warm_up))

        self._build_status_bar()
        self._build_panels(panel_classes if panel_classes is not None
                           else load_panel_classes())
        self._build_actions()
        self._build_menus_and_toolbar()

        ctx = self.context
        ctx.status_message.connect(self.show_status)
        ctx.error_raised.connect(self.show_error)
        ctx.job_progress.connect(self._on_job_progress)
        ctx.image_model_changed.connect(self._on_model_changed)
        ctx.denoise_requested.connect(lambda *_: self.raise_panel("sampling"))
        ctx.trajectory_requested.connect(lambda *_: self.raise_panel("sampling"))

        self.resize(1280, 800)
        if restore_layout:
            self.restore_layout()
        self._on_model_changed(ctx.image_model)

    # ---- construction -------------------------------------------------------------------

    def _build_panels(self, classes) -> None:
        for cls in classes:
            try:
                panel = cls(self.context, self)
            except Exception:  # noqa: BLE001 - show the others
                log.exception("panel %s failed to start", cls.__name__)
                continue
            name = cls.panel_name
            dock = QDockWidget(cls.title, self)
            dock.setObjectName(f"dock_{name}")
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable)
            # A scroll area lets a dock shrink below its panel's minimum (small screens,
            # many docks side by side) without the window growing past the screen.
            scroll = QScrollArea()
            scroll.setObjectName(f"scroll_{name}")
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(panel)
            dock.setWidget(scroll)
            self.panels[name] = panel
            self.docks[name] = dock
        self._arrange_default()

    def _arrange_default(self) -> None:
        """Left: forward (tabbed with 2-D and 1-D physics); right: sampling (tabbed with grid).

        The arrangement is built in a hidden scratch window and applied here with
        restoreState: tabifying docks of a window that has never been shown leaves a stray,
        visible QTabBar behind (seen with Qt 6.11), while restoreState does not.
        """
        for dock in self.docks.values():
            self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self._default_state = self._default_layout_state()
        self.restoreState(self._default_state, LAYOUT_VERSION)

    def _default_layout_state(self) -> QByteArray:
        scratch = QMainWindow()
        scratch.setDockOptions(self.dockOptions())
        scratch.resize(1280, 800)
        docks = {}
        for name in self.docks:
            dock = QDockWidget(scratch)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(QWidget())
            docks[name] = dock
        left = [n for n in ("forward", "sde2d", "randomwalk") if n in docks]
        right = [n for n in ("sampling", "grid") if n in docks]
        others = [n for n in docks if n not in left + right]
        for group, area in ((left, Qt.DockWidgetArea.LeftDockWidgetArea),
                            (right + others, Qt.DockWidgetArea.RightDockWidgetArea)):
            for name in group:
                if name == group[0]:
                    scratch.addDockWidget(area, docks[name])
                else:
                    scratch.tabifyDockWidget(docks[group[0]], docks[name])
            if group:
                docks[group[0]].raise_()
        if left and right:
            scratch.resizeDocks([docks[left[0]], docks[right[0]]], [1, 1],
                                Qt.Orientation.Horizontal)
        state = scratch.saveState(LAYOUT_VERSION)
        scratch.deleteLater()
        return state

    def _action(self, text: str, slot, shortcut=None, tip: str = "", checkable=False) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setToolTip(tip)
            act.setStatusTip(tip)
        act.setCheckable(checkable)
        act.triggered.connect(slot)
        return act

    def _build_actions(self) -> None:
        S = QKeySequence.StandardKey  # noqa: N806
        self.act_open_model = self._action("Open &model…", self.ask_open_model, "Ctrl+M",
                                           "Load an ONNX epsilon network (checked first)")
        self.act_open_image = self._action("Open &image…", self.ask_open_image, S.Open,
                                           "Load a PNG/JPEG into the forward panel")
        self.act_open_data = self._action("Open &data folder…", self.ask_open_data, "Ctrl+D",
                                          "Load training images (IDX or image folder) for "
                                          "real-image and nearest-neighbour views")
        self.act_export = self._action("&Export view as PNG…", self.ask_export_png, "Ctrl+E",
                                       "Save the window as it looks now as a PNG")
        self.act_gif_forward = self._action(
            "Export forward scrub as &GIF…", lambda: self.ask_export_gif("forward"), None,
            "Animate the forward process from t = 0 to T with the current image and noise")
        self.act_gif_sampling = self._action(
            "Export sampling run as G&IF…", lambda: self.ask_export_gif("sampling"), None,
            "Animate the last sampling run step by step (x_t beside the predicted x0)")
        self.act_save_session = self._action("&Save session…", self.ask_save_session, S.Save,
                                             "Save model, schedules, samplers, seeds and panel "
                                             "settings to a JSON file")
        self.act_open_session = self._action("Open sess&ion…", self.ask_open_session,
                                             "Ctrl+Shift+O", "Restore a saved session")
        self.act_quit = self._action("&Quit", self.close, S.Quit, "Close diffview")
        self.act_run = self._action("&Run sampling", self._run_sampling, "Ctrl+R",
                                    "Sample from the model with the sampling panel's settings")
        self.act_cancel = self._action("&Cancel", self.cancel_jobs, "Esc",
                                       "Stop the running background jobs")
        self.act_play = self._action("&Play / pause forward", self._toggle_play, "Ctrl+P",
                                     "Animate the forward noising")
        self.act_new_noise = self._action("&New noise", self._new_noise, "Ctrl+N",
                                          "Draw new noise in the forward panel")
        self.act_denoise = self._action("&Denoise from here", self._denoise_from_here,
                                        "Ctrl+Shift+D",
                                        "Restore the forward panel's x_t in the sampling panel")
        self.act_reset_layout = self._action("&Reset layout", self.reset_layout, "Ctrl+Shift+R",
                                             "Put every panel back where it started")
        self.act_guide = self._action("&User guide", self._show_guide, S.HelpContents,
                                      "What each panel shows and how to drive it")
        self.act_about = self._action("&About diffview", self._show_about)

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        for act in (self.act_open_model, self.act_open_image, self.act_open_data, None,
                    self.act_export, self.act_gif_forward, self.act_gif_sampling, None,
                    self.act_open_session, self.act_save_session, None,
                    self.act_quit):
            m.addSeparator() if act is None else m.addAction(act)
        m = bar.addMenu("&Run")
        for act in (self.act_run, self.act_cancel, None, self.act_play, self.act_new_noise,
                    self.act_denoise):
            m.addSeparator() if act is None else m.addAction(act)
        self.view_menu = bar.addMenu("&View")
        for i, (name, dock) in enumerate(self.docks.items()):
            act = dock.toggleViewAction()
            act.setText(dock.windowTitle())
            act.setShortcut(QKeySequence(f"Alt+{i + 1}"))
            act.setToolTip(f"Show or hide the {dock.windowTitle()} panel")
            act.setObjectName(f"toggle_{name}")
            self.view_menu.addAction(act)
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.act_reset_layout)
        theme_menu = self.view_menu.addMenu("&Theme")
        group = QActionGroup(self)
        current = str(self.context.settings.value("ui/theme", "system"))
        for theme in ("system", "light", "dark"):
            act = QAction(theme.capitalize() if theme != "system" else "Follow system", self)
            act.setCheckable(True)
            act.setChecked(theme == current)
            act.setToolTip("Takes effect for plots at the next start")
            act.triggered.connect(lambda _=False, th=theme: self.set_theme(th))
            group.addAction(act)
            theme_menu.addAction(act)
        m = bar.addMenu("&Help")
        m.addAction(self.act_guide)
        m.addAction(self.act_about)

        SP = QStyle.StandardPixmap  # noqa: N806
        for act, pixmap in ((self.act_open_model, SP.SP_DirOpenIcon),
                            (self.act_open_image, SP.SP_DialogOpenButton),
                            (self.act_run, SP.SP_MediaPlay),
                            (self.act_cancel, SP.SP_MediaStop),
                            (self.act_play, SP.SP_MediaSeekForward),
                            (self.act_denoise, SP.SP_ArrowRight),
                            (self.act_export, SP.SP_DialogSaveButton)):
            act.setIcon(self.style().standardIcon(pixmap))
        tb = QToolBar("Main toolbar", self)
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for act in (self.act_open_model, self.act_open_image, None, self.act_run,
                    self.act_cancel, None, self.act_play, self.act_denoise, None,
                    self.act_export):
            tb.addSeparator() if act is None else tb.addAction(act)
        self.addToolBar(tb)
        self.toolbar = tb

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
            self.progress.hide()
            self.cancel_button.hide()
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
        return self._model_runner.start(load_model_job(path, self.context.device))

    def load_default_model(self) -> int | None:
        """Load the bundled default model, if it is there; returns the request id or None."""
        from diffview.engine import default_model_path

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
        self.act_open_model.setEnabled(not busy)

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

    def export_png(self, path: str | Path) -> bool:
        ok = self.grab().save(str(path), "PNG")
        self.show_status(f"Saved {path}" if ok else f"Could not write {path}")
        return ok

    def ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export view as PNG", self._last_dir("export"),
                                              "PNG images (*.png)")
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            self._remember_dir("export", path)
            if not self.export_png(path):
                self.context.report_error("Export failed", f"Could not write {path}.")

    def export_gif(self, panel_name: str, path: str | Path) -> int | None:
        """Render a panel's animation to a GIF on a worker; returns the request id."""
        panel = self.panels.get(panel_name)
        source = getattr(panel, "animation_source", None)
        frames_fn = source() if source is not None else None
        if frames_fn is None:
            self.context.report_error("Nothing to animate",
                                      "Run the sampler first: there is no run to export.")
            return None
        path = Path(path)
        self.context.report_progress("Export GIF", 0, 0)
        self._export_path = path
        return self._export_runner.start(call_in_worker(lambda: write_gif(frames_fn(), path)))

    def ask_export_gif(self, panel_name: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export animation as GIF",
                                              self._last_dir("export"), "GIF images (*.gif)")
        if path:
            if not path.lower().endswith(".gif"):
                path += ".gif"
            self._remember_dir("export", path)
            self.export_gif(panel_name, path)

    def _on_export_done(self, _rid: int, path) -> None:
        self.context.report_progress("Export GIF", 1, 1)
        self.show_status(f"Saved {path}")

    # ---- sessions -----------------------------------------------------------------------

    def session_state(self) -> dict:
        panels = {}
        for name, panel in self.panels.items():
            to_state = getattr(panel, "to_state", None)
            if to_state is not None:
                try:
                    panels[name] = to_state()
                except Exception:  # noqa: BLE001
                    log.exception("panel %s could not save its state", name)
        path = self.context.model_path
        return {"diffview_session": SESSION_VERSION,
                "model_path": str(path) if path is not None else None,
                "device": self.context.device, "panels": panels}

    def save_session(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.session_state(), indent=2), encoding="utf-8")
        self.show_status(f"Session saved to {path}")

    def open_session(self, path: str | Path) -> None:
        """Restore a session: panel settings now, the model (if different) on a worker."""
        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(state, dict) or "diffview_session" not in state:
                raise ValueError("not a diffview session file")
        except (OSError, ValueError) as exc:
            self.context.report_error("Cannot open session", f"{Path(path).name}: {exc}")
            return
        panels = state.get("panels") or {}
        model_path = state.get("model_path")
        if model_path and (self.context.model_path is None
                           or Path(model_path) != self.context.model_path):
            # Panels follow a new model's schedule; apply the saved settings after it loads.
            self._pending_session = (panels, Path(path).name)
            self.load_model(model_path)
        else:
            self._apply_panel_states(panels, Path(path).name)

    def _apply_panel_states(self, panels: dict, source: str) -> None:
        for name, panel_state in panels.items():
            panel = self.panels.get(name)
            from_state = getattr(panel, "from_state", None)
            if from_state is not None and isinstance(panel_state, dict):
                try:
                    from_state(panel_state)
                except Exception as exc:  # noqa: BLE001
                    log.exception("panel %s could not restore its state", name)
                    self.show_status(f"{name}: could not restore its settings ({exc})")
        self.show_status(f"Session {source} restored")

    def _apply_pending_session(self) -> None:
        pending, self._pending_session = self._pending_session, None
        if pending is not None:
            self._apply_panel_states(*pending)

    def ask_save_session(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save session", self._last_dir("session"),
                                              SESSION_FILTER)
        if path:
            if not path.endswith(".json"):
                path += ".diffview.json"
            self._remember_dir("session", path)
            self.save_session(path)

    def ask_open_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session", self._last_dir("session"),
                                              SESSION_FILTER)
        if path:
            self._remember_dir("session", path)
            self.open_session(path)

    # ---- layout -------------------------------------------------------------------------

    def raise_panel(self, name: str) -> None:
        dock = self.docks.get(name)
        if dock is not None:
            dock.show()
            dock.raise_()

    def save_layout(self) -> None:
        s = self.context.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(LAYOUT_VERSION))
        s.sync()

    def restore_layout(self) -> bool:
        s = self.context.settings
        geometry = s.value("window/geometry")
        state = s.value("window/state")
        ok = False
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray) and not state.isEmpty():
            ok = self.restoreState(state, LAYOUT_VERSION)
        return ok

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()
        self.show_status("Layout reset")

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

    # ---- actions forwarded to panels ----------------------------------------------------

    def _call_panel(self, name: str, method: str) -> None:
        panel = self.panels.get(name)
        fn = getattr(panel, method, None)
        if fn is not None:
            self.raise_panel(name)
            fn()

    def _run_sampling(self) -> None:
        self._call_panel("sampling", "run")

    def _toggle_play(self) -> None:
        self._call_panel("forward", "toggle_play")

    def _new_noise(self) -> None:
        self._call_panel("forward", "new_noise")

    def _denoise_from_here(self) -> None:
        self._call_panel("forward", "request_denoise")

    def _show_guide(self) -> None:
        from PySide6.QtWidgets import QDialog, QTextBrowser, QVBoxLayout

        from diffview.paths import resources_dir

        guide = resources_dir().parent / "docs" / "app.md"
        text = (guide.read_text(encoding="utf-8") if guide.is_file()
                else "The user guide is docs/app.md in the diffview source tree.")
        dialog = QDialog(self)
        dialog.setWindowTitle("diffview user guide")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        browser = QTextBrowser(dialog)
        browser.setOpenExternalLinks(True)
        browser.setMarkdown(text)
        QVBoxLayout(dialog).addWidget(browser)
        dialog.resize(760, 640)
        dialog.show()
        self._guide = dialog

    def _show_about(self) -> None:
        from diffview import __version__

        QMessageBox.about(self, "About diffview",
                          f"diffview {__version__}\n\nSee diffusion models at work: the forward "
                          "process, DDPM/DDIM/DPM-Solver sampling and score-based SDEs.")

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
