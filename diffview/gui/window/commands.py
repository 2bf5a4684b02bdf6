"""The main window's own actions (File, Run, View, Help) and the panels' toolbar commands.

:func:`register_window_actions` registers the window's actions with its
:class:`~diffview.gui.actions.ActionRegistry` before the panels exist;
:func:`wire_panel_actions` adds the View menu's dock toggles and the commands of the forward
and sampling panels once the docks are built. Groups order each menu (see ``ActionSpec``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QActionGroup, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox, QStyle

from diffview.gui.actions import ActionSpec
from diffview.gui.window.session import last_dir, remember_dir

__all__ = ["register_window_actions", "wire_panel_actions"]

MODEL_FILTER = "ONNX models (*.onnx);;All files (*)"
S = QKeySequence.StandardKey
SP = QStyle.StandardPixmap
THEMES = (("system", "Follow system"), ("light", "Light"), ("dark", "Dark"))


def _ask_open_model(window) -> None:
    settings = window.context.settings
    path, _ = QFileDialog.getOpenFileName(window, "Open model", last_dir(settings, "model"),
                                          MODEL_FILTER)
    if path:
        remember_dir(settings, "model", path)
        window.load_model(path)


def _ask_open_image(window) -> None:
    from diffview.gui.imaging import IMAGE_FILTER

    settings = window.context.settings
    path, _ = QFileDialog.getOpenFileName(window, "Open image", last_dir(settings, "image"),
                                          IMAGE_FILTER)
    if path:
        remember_dir(settings, "image", path)
        window.open_image(path)


def _ask_open_data(window) -> None:
    folder = QFileDialog.getExistingDirectory(window, "Open data folder",
                                              str(window.context.settings.value("paths/data",
                                                                                "")))
    if folder:
        window.context.settings.setValue("paths/data", folder)
        window.open_data(folder)


def _show_guide(window) -> None:
    from PySide6.QtWidgets import QDialog, QTextBrowser, QVBoxLayout

    from diffview.paths import resources_dir

    guide = resources_dir().parent / "docs" / "app.md"
    text = (guide.read_text(encoding="utf-8") if guide.is_file()
            else "The user guide is docs/app.md in the diffview source tree.")
    dialog = QDialog(window)
    dialog.setWindowTitle("diffview user guide")
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    browser = QTextBrowser(dialog)
    browser.setOpenExternalLinks(True)
    browser.setMarkdown(text)
    QVBoxLayout(dialog).addWidget(browser)
    dialog.resize(760, 640)
    dialog.show()
    window._guide = dialog  # kept alive while open


def _show_about(window) -> None:
    from diffview import __version__

    QMessageBox.about(window, "About diffview",
                      f"diffview {__version__}\n\nSee diffusion models at work: the forward "
                      "process, DDPM/DDIM/DPM-Solver sampling and score-based SDEs.")


def register_window_actions(window) -> None:
    reg = window.action_registry
    ex, ss = window.exporter, window.sessions
    for spec in (
        ActionSpec("open_model", "Open &model…", "File", "Ctrl+M",
                   "Load an ONNX epsilon network (checked first)",
                   lambda: _ask_open_model(window), group=0, toolbar=True, icon=SP.SP_DirOpenIcon),
        ActionSpec("open_image", "Open &image…", "File", S.Open,
                   "Load a PNG/JPEG into the forward panel", lambda: _ask_open_image(window),
                   group=0, toolbar=True, icon=SP.SP_DialogOpenButton),
        ActionSpec("open_data", "Open &data folder…", "File", "Ctrl+D",
                   "Load training images (IDX or image folder) for real-image and "
                   "nearest-neighbour views", lambda: _ask_open_data(window), group=0),
        ActionSpec("export", "&Export view as PNG…", "File", "Ctrl+E",
                   "Save the window as it looks now as a PNG", ex.ask_png, group=10,
                   icon=SP.SP_DialogSaveButton),
        ActionSpec("open_session", "Open sess&ion…", "File", "Ctrl+Shift+O",
                   "Restore a saved session", ss.ask_open, group=20),
        ActionSpec("save_session", "&Save session…", "File", S.Save,
                   "Save model, schedules, samplers, seeds and panel settings to a JSON file",
                   ss.ask_save, group=20),
        ActionSpec("quit", "&Quit", "File", S.Quit, "Close diffview", window.close, group=90),
        ActionSpec("cancel", "&Cancel", "Run", "Esc", "Stop the running background jobs",
                   window.cancel_jobs, group=0, icon=SP.SP_MediaStop),
        ActionSpec("reset_layout", "&Reset layout", "View", "Ctrl+Shift+R",
                   "Put every panel back where it started", window.reset_layout, group=10),
        ActionSpec("guide", "&User guide", "Help", S.HelpContents,
                   "What each panel shows and how to drive it", lambda: _show_guide(window)),
        ActionSpec("about", "&About diffview", "Help", None, "", lambda: _show_about(window)),
    ):
        reg.register(spec)
    reg.add_submenu("File/Export animation", group=10)
    for panel, text, tip in (
            ("forward", "&Forward scrub…", "Animate the forward process from t = 0 to T with "
             "the current image and noise (GIF or MP4)"),
            ("sampling", "&Sampling run…", "Animate the last sampling run step by step, x_t "
             "beside the predicted x0 (GIF or MP4)"),
            ("sde2d", "&2-D run…", "Animate the 2-D panel's last run, or the forward melt, as "
             "density images (GIF or MP4)")):
        reg.register(ActionSpec(f"export_{panel}", text, "File/Export animation", tooltip=tip,
                                handler=lambda p=panel: ex.ask_animation(p)))
    reg.add_submenu("View/Theme", group=10)
    group = QActionGroup(window)
    current = str(window.context.settings.value("ui/theme", "system"))
    for theme, text in THEMES:
        act = reg.register(ActionSpec(f"theme_{theme}", text, "View/Theme",
                                      tooltip="Takes effect for plots at the next start",
                                      handler=lambda _c=False, th=theme: window.set_theme(th),
                                      checkable=True, checked=theme == current))
        group.addAction(act)
    window.view_menu = reg.menu("View")


def wire_panel_actions(window) -> None:
    """The docks' View toggles and the toolbar commands of the forward and sampling panels."""
    reg = window.action_registry
    for i, (name, dock) in enumerate(window.docks.items()):
        act = dock.toggleViewAction()
        act.setText(dock.windowTitle())
        act.setShortcut(QKeySequence(f"Alt+{i + 1}"))
        act.setToolTip(f"Show or hide the {dock.windowTitle()} panel")
        act.setObjectName(f"toggle_{name}")
        reg.add_existing(ActionSpec(f"toggle_{name}", dock.windowTitle(), "View", group=0), act)
    sampling, forward = window.panels.get("sampling"), window.panels.get("forward")

    def on(name, fn):
        def run():
            window.raise_panel(name)
            fn()
        return run

    reg.toolbar.addSeparator()
    if sampling is not None:
        reg.register(ActionSpec("run", "&Run sampling", "Run", "Ctrl+R",
                                "Sample from the model with the sampling panel's settings",
                                on("sampling", sampling.run), group=0, toolbar=True,
                                icon=SP.SP_MediaPlay))
    reg.toolbar.addAction(reg.action("cancel"))
    reg.toolbar.addSeparator()
    if forward is not None:
        for spec in (
            ActionSpec("play", "&Play / pause forward", "Run", "Ctrl+P",
                       "Animate the forward noising", on("forward", forward.toggle_play),
                       group=10, toolbar=True, icon=SP.SP_MediaSeekForward),
            ActionSpec("new_noise", "&New noise", "Run", "Ctrl+N",
                       "Draw new noise in the forward panel", on("forward", forward.new_noise),
                       group=10),
            ActionSpec("denoise", "&Denoise from here", "Run", "Ctrl+Shift+D",
                       "Restore the forward panel's x_t in the sampling panel",
                       on("forward", forward.request_denoise), group=10, toolbar=True,
                       icon=SP.SP_ArrowRight),
        ):
            reg.register(spec)
    reg.toolbar.addSeparator()
    reg.toolbar.addAction(reg.action("export"))
    tb = reg.toolbar
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    window.toolbar = tb
