"""The main window: the composition root that knows every panel.

The window owns small services, each with a stated interface (``diffview.gui.window``):
``layout`` (:class:`~.window.layout.DockLayout`: docks, default arrangement, persistence),
``sessions`` (:class:`~.window.session.SessionService`), ``exporter``
(:class:`~.window.export.AnimationExporter`), ``loads`` (:class:`~.window.loads.Loads`: model,
data and warm-up Jobs), ``job_status`` (:class:`~.window.status.JobStatusBar`: progress,
ETA and Cancel of ``context.jobs``) and ``action_registry`` (:class:`~.actions.ActionRegistry`:
menus and toolbar, which features such as training add to). It calls panels only through the
:class:`~diffview.gui.panel.Panel` protocol, except for the toolbar commands of the forward and
sampling panels, wired once when those panels exist.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

from diffview.gui.actions import ActionRegistry
from diffview.gui.context import AppContext
from diffview.gui.window.commands import register_window_actions, wire_panel_actions
from diffview.gui.window.export import AnimationExporter
from diffview.gui.window.layout import LAYOUT_VERSION, DockLayout
from diffview.gui.window.loads import Loads
from diffview.gui.window.models_menu import ModelsMenu
from diffview.gui.window.session import SESSION_VERSION, SessionService
from diffview.gui.window.status import JobStatusBar

__all__ = ["DEFERRED_PANELS", "LAYOUT_VERSION", "PANEL_MODULES", "SESSION_VERSION", "MainWindow",
           "load_panel_classes"]

log = logging.getLogger(__name__)

# (module, class) of every panel, in menu order; a module that is missing is skipped.
PANEL_MODULES = (
    ("diffview.gui.panels.forward", "ForwardPanel"),
    ("diffview.gui.panels.sampling", "SamplingPanel"),
    ("diffview.gui.panels.grid", "GridPanel"),
    ("diffview.gui.panels.sde2d", "Sde2DPanel"),
    ("diffview.gui.panels.randomwalk", "RandomWalkPanel"),
    ("diffview.gui.panels.likelihood", "LikelihoodPanel"),
    ("diffview.gui.panels.cold", "ColdPanel"),
    ("diffview.gui.panels.training", "TrainingPanel"),
)
# Panels that start as background tabs in the default layout; defer_hidden builds them
# after the window is shown.
DEFERRED_PANELS = ("grid", "sde2d", "randomwalk", "likelihood", "cold", "training")


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


class MainWindow(QMainWindow):
    """Docked panels around the shared context, with menus, toolbar and status bar."""

    # (name, panel) when a panel deferred by ``defer_hidden`` has been built
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
        self.context = ctx = context if context is not None else AppContext(self)
        self.setWindowTitle("diffview")
        self.setObjectName("diffview_main_window")
        self.setDockOptions(QMainWindow.DockOption.AllowTabbedDocks
                            | QMainWindow.DockOption.AllowNestedDocks
                            | QMainWindow.DockOption.AnimatedDocks)
        self.setDocumentMode(True)
        self._closed = False
        self.persist_layout = True
        self._error_boxes: list[QMessageBox] = []

        self._build_status_bar()
        self.layout_manager = DockLayout(self, ctx, self.show_status)
        self.layout_manager.panel_added.connect(self.panel_added)
        self.panels = self.layout_manager.panels
        self.docks = self.layout_manager.docks
        self.loads = Loads(ctx, self.show_status, self)
        self.sessions = SessionService(ctx, self.panels, self.load_model, self.show_status, self)
        self.exporter = AnimationExporter(ctx, self.panels, self, self.show_status)
        self.loads.model_loaded.connect(self._on_model_loaded)
        self.loads.model_failed.connect(lambda _msg: self.sessions.model_settled())
        ctx.status_message.connect(self.show_status)
        ctx.error_raised.connect(self.show_error)
        ctx.image_model_changed.connect(self._on_model_changed)
        ctx.denoise_requested.connect(lambda *_: self.raise_panel("sampling"))
        ctx.trajectory_requested.connect(lambda *_: self.raise_panel("sampling"))
        self.loads.warm_up()
        if model == "default":
            self.loads.load_default_model()
        elif model is not None:
            self.load_model(model)

        self.action_registry = ActionRegistry(self)
        register_window_actions(self)
        self.layout_manager.build(panel_classes if panel_classes is not None
                                  else load_panel_classes(),
                                  defer=DEFERRED_PANELS if defer_hidden else ())
        wire_panel_actions(self)
        from diffview.gui.training.actions import install_training

        self.training_actions = install_training(self)
        self.models_menu = ModelsMenu(self.action_registry.menu("Models"), ctx, self.load_model)
        self.loads.model_busy_changed.connect(
            lambda busy: self.action("open_model").setEnabled(not busy))
        self.action("open_model").setEnabled(not self.model_busy())

        self.resize(1280, 800)
        if restore_layout:
            self.layout_manager.restore()
        self._on_model_changed(ctx.image_model)

    # ---- construction -------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.job_status = JobStatusBar(self.context.jobs, sb)
        self.progress = self.job_status.progress
        self.cancel_button = self.job_status.cancel_button
        self.model_label = QLabel("no model")
        self.model_label.setToolTip("The image model used for sampling")
        self.provider_label = QLabel("")
        self.provider_label.setToolTip("The onnxruntime execution provider actually in use")
        sb.addPermanentWidget(self.model_label)
        sb.addPermanentWidget(self.provider_label)

    def action(self, action_id: str):
        """The registered QAction ``action_id`` ("run", "open_model", "train", ...)."""
        return self.action_registry.action(action_id)

    # ---- status and errors --------------------------------------------------------------

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

    def cancel_jobs(self) -> None:
        """Cancel every running job (the status bar's Cancel, Esc)."""
        self.context.jobs.cancel_all()

    # ---- model, data, sessions, exports (the services do the work) ----------------------

    def load_model(self, path: str | Path) -> None:
        self.loads.load_model(path)

    def load_default_model(self) -> bool:
        return self.loads.load_default_model()

    def model_busy(self) -> bool:
        return self.loads.model_busy()

    @property
    def model_load_failed_message(self) -> str:
        return self.loads.last_model_error

    def open_data(self, folder: str | Path) -> None:
        self.loads.open_data(folder)

    def open_image(self, path: str | Path) -> None:
        panel = self.panels.get("forward")
        if panel is not None:
            panel.open_image(path)
            self.raise_panel("forward")

    def save_session(self, path: str | Path) -> bool:
        return self.sessions.save(path)

    def open_session(self, path: str | Path) -> None:
        self.sessions.open(path)

    def session_state(self) -> dict:
        return self.sessions.state()

    def export_png(self, path: str | Path) -> bool:
        return self.exporter.export_png(path)

    def export_animation(self, panel_name: str, path: str | Path,
                         fmt: str | None = None) -> int | None:
        return self.exporter.export_animation(panel_name, path, fmt)

    def export_gif(self, panel_name: str, path: str | Path) -> int | None:
        return self.exporter.export_animation(panel_name, path, "gif")

    def export_mp4(self, panel_name: str, path: str | Path) -> int | None:
        return self.exporter.export_animation(panel_name, path, "mp4")

    def _on_model_loaded(self, denoiser) -> None:
        warnings = getattr(denoiser, "metadata_warnings", None) or []
        note = getattr(denoiser, "provider_note", "")
        if note:
            self.provider_label.setToolTip(note)
        extra = ""
        if warnings:
            extra = "; incomplete metadata, defaults used (hover the model name)"
            self.model_label.setToolTip("\n".join([str(denoiser.path), *warnings]))
        self.show_status(f"Model {Path(denoiser.path).name} loaded on {denoiser.provider}{extra}")
        self.sessions.model_settled()

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

    # ---- layout and look ----------------------------------------------------------------

    def raise_panel(self, name: str) -> None:
        self.layout_manager.raise_panel(name)

    def deferred_pending(self) -> bool:
        return self.layout_manager.deferred_pending()

    def reset_layout(self) -> None:
        self.layout_manager.reset()

    def set_theme(self, theme: str) -> None:
        self.context.settings.setValue("ui/theme", theme)
        self.apply_theme(theme)

    def apply_theme(self, theme: str) -> None:
        """Re-style the running app; plot backgrounds follow now, axis colours at next start."""
        import pyqtgraph as pg
        from PySide6.QtWidgets import QApplication

        from diffview.gui.style import apply_style

        app = QApplication.instance()
        if app is None:
            return
        look = apply_style(app, theme)
        background = pg.getConfigOption("background")
        for view in self.findChildren(pg.GraphicsView):
            view.setBackground(background)
        self.show_status(f"Theme: {look}")

    # ---- screenshots and shutdown -------------------------------------------------------

    def demo_state(self, only: str | None = None) -> None:
        for name, panel in self.panels.items():
            if only is None or name == only:
                try:
                    panel.demo_state()
                except Exception:  # noqa: BLE001 - a screenshot shows the rest
                    log.exception("demo_state of %s failed", name)

    def busy(self) -> bool:
        """Whether any job, training or panel is still working (for --screenshot)."""
        if self.context.jobs.is_busy() or self.context.training.is_busy():
            return True
        return any(p.is_busy() for p in self.panels.values())

    def shutdown(self) -> None:
        """Stop every panel's work, training and every job; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.layout_manager.closed = True
        for name, panel in self.panels.items():
            try:
                panel.shutdown()
            except Exception:  # noqa: BLE001 - the others still stop
                log.exception("shutdown of panel %s failed", name)
        self.context.training.shutdown()
        self.context.jobs.shutdown()

    def close_error_boxes(self) -> None:
        for box in list(self._error_boxes):
            box.close()
        self._error_boxes.clear()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not self._closed and self.persist_layout:
            self.layout_manager.save()
        self.shutdown()
        self.close_error_boxes()
        super().closeEvent(event)
