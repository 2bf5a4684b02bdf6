"""Actions, menus and toolbar of the main window, and the actions it forwards to panels.

:class:`ActionsMixin` is part of :class:`~diffview.gui.main_window.MainWindow`; every action
calls a method of the window (file, export, session, layout) or of a panel.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMessageBox, QStyle, QToolBar

__all__ = ["ActionsMixin"]


class ActionsMixin:
    """Builds the QActions, the menu bar and the toolbar; forwards panel actions."""

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
        # File > Export animation: each asks for a .gif or .mp4 file
        self.act_gif_forward = self._action(
            "&Forward scrub…", lambda: self.ask_export_animation("forward"), None,
            "Animate the forward process from t = 0 to T with the current image and noise "
            "(GIF or MP4)")
        self.act_gif_sampling = self._action(
            "&Sampling run…", lambda: self.ask_export_animation("sampling"), None,
            "Animate the last sampling run step by step, x_t beside the predicted x0 "
            "(GIF or MP4)")
        self.act_anim_sde2d = self._action(
            "&2-D run…", lambda: self.ask_export_animation("sde2d"), None,
            "Animate the 2-D panel's last run, or the forward melt, as density images "
            "(GIF or MP4)")
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
                    self.act_export, "animation", None,
                    self.act_open_session, self.act_save_session, None,
                    self.act_quit):
            if act == "animation":
                sub = m.addMenu("Export &animation")
                for a in (self.act_gif_forward, self.act_gif_sampling, self.act_anim_sde2d):
                    sub.addAction(a)
            else:
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
