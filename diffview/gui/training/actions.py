"""Preferences and training in the main window: their actions, applying a dialog's result.

The dialog only returns :class:`~diffview.gui.preferences.Preferences`; this module stores
them, reloads the model when the inference settings or the model choice changed, and starts
training in the Training panel. It also answers for a build without torch: the Train action
then explains how to get it instead of failing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence

from diffview.gui.actions import ActionSpec
from diffview.gui.preferences import (
    Preferences,
    load_preferences,
    save_preferences,
    training_problems,
)
from diffview.training import TORCH_MISSING, torch_available

__all__ = ["TORCH_MISSING", "TrainingActions", "install_training", "torch_available"]

log = logging.getLogger(__name__)



def install_training(window) -> TrainingActions:
    """Add File > Preferences…, Run > Train… and wire the Training panel; returns the glue."""
    glue = TrainingActions(window)
    window.training_actions = glue
    return glue


class TrainingActions(QObject):
    """The Preferences and Train actions of a main window."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.context = window.context
        self.dialog = None
        shortcut = QKeySequence(QKeySequence.StandardKey.Preferences)
        if shortcut.isEmpty():  # X11 and Windows have no standard binding
            shortcut = QKeySequence("Ctrl+,")
        reg = window.action_registry
        self.act_preferences = reg.register(ActionSpec(
            "preferences", "&Preferences…", "File", shortcut.toString(),
            "Inference provider and threads, the model, and the training options",
            lambda: self.open_preferences("inference"), group=80,
            menu_role=QAction.MenuRole.PreferencesRole))
        self.act_train = reg.register(ActionSpec(
            "train", "&Train…", "Run", "Ctrl+T",
            "Train a new model from inside the app (needs torch)", self.ask_train, group=30))
        window.installEventFilter(self)  # close an open dialog (and its worker) with the window
        self._wire_panel("training", window.panels.get("training"))
        window.panel_added.connect(self._wire_panel)  # the panel may be built later

    def _wire_panel(self, name: str, panel) -> None:
        if name == "training" and panel is not None:
            panel.settings_requested.connect(lambda: self.open_preferences("training"))
            panel.train_requested.connect(self.train_with_saved)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Close and obj is self.window and self.dialog is not None:
            self.dialog.reject()
        return False

    # ---- the dialog ---------------------------------------------------------------------

    def open_preferences(self, tab: str = "inference"):
        """Show the Preferences dialog (non-blocking); returns it."""
        from diffview.gui.dialogs.settings import SettingsDialog

        if self.dialog is not None:
            self.dialog.close()
        old = load_preferences(self.context.settings)
        try:
            from diffview.engine import default_model_path

            default = default_model_path()
        except Exception:  # noqa: BLE001 - only shown as a hint
            default = ""
        dlg = SettingsDialog(old, current_model=self.context.image_model,
                             default_model_path=default, tab=tab, parent=self.window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.apply(old, dlg.result_preferences(),
                                                dlg.train_requested))
        dlg.destroyed.connect(lambda *_: setattr(self, "dialog", None))
        self.dialog = dlg
        dlg.open()
        return dlg

    def apply(self, old: Preferences, new: Preferences | None, train: bool = False) -> None:
        """Store ``new``, reload the model if its settings changed, start training if asked."""
        if new is None:
            return
        ctx = self.context
        save_preferences(ctx.settings, new)
        if new.inference != old.inference or new.model.path != old.model.path:
            ctx.device = new.inference.device
            path = Path(new.model.path).expanduser() if new.model.path else None
            if path is None:
                from diffview.engine import default_model_path

                path = Path(default_model_path())
            self.window.load_model(path)
        if train:
            self.start_training(new)

    # ---- training -----------------------------------------------------------------------

    def explain_no_torch(self) -> None:
        self.context.report_error("Training needs PyTorch", TORCH_MISSING)

    def ask_train(self) -> None:
        """Run > Train…: the Training tab of Preferences, or why training is unavailable."""
        if not torch_available():
            self.explain_no_torch()
            return
        self.open_preferences("training")

    def train_with_saved(self) -> None:
        """The Training panel's Train button: start with the saved options if they are valid."""
        if not torch_available():
            self.explain_no_torch()
            return
        prefs = load_preferences(self.context.settings)
        problems = training_problems(prefs.training)
        if problems:
            self.context.report_error("Check the training options", "\n".join(problems))
            self.open_preferences("training")
            return
        self.start_training(prefs)

    def start_training(self, prefs: Preferences) -> bool:
        if not torch_available():
            self.explain_no_torch()
            return False
        panel = self.window.panels.get("training")
        if panel is None:
            self.context.report_error("Cannot train", "The Training panel is not available.")
            return False
        if panel.session.is_active():
            self.context.report_error("Training is running",
                                      "Cancel the current run before starting another.")
            return False
        self.window.raise_panel("training")
        try:
            panel.start(prefs.training)
        except OSError as exc:
            self.context.report_error("Cannot start training",
                                      f"The run folder cannot be created: {exc}")
            return False
        return True
