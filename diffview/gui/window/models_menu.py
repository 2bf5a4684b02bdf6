"""The Models menu: the bundled default back, the other bundled image models, and the models
trained in the app (the user models folder), newest first.

The menu is refilled each time it opens (a folder listing, no model is read): picking an entry
loads it through the window's model load (checked on a worker, kept only when good). "Bundled
default" also clears the model chosen in Preferences, so the next start uses it too.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from diffview.paths import resource, user_models_dir

__all__ = ["ModelsMenu", "bundled_image_models", "trained_models"]

DEFAULT_MODEL = "fashion_unet.onnx"


def bundled_image_models() -> list[Path]:
    """The bundled image models (not the 2-D ``toy2d_*`` networks), default first."""
    folder = resource("models")
    files = sorted(p for p in folder.glob("*.onnx") if not p.name.startswith("toy2d_"))
    return sorted(files, key=lambda p: p.name != DEFAULT_MODEL)


def trained_models(folder: Path | None = None) -> list[Path]:
    """Models in the user models folder, newest first."""
    folder = Path(folder) if folder is not None else user_models_dir()
    if not folder.is_dir():
        return []
    files = [p for p in folder.glob("*.onnx") if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


class ModelsMenu:
    """Fills ``menu`` when it opens; ``load_model(path)`` opens the chosen file."""

    def __init__(self, menu: QMenu, context, load_model):
        self.menu = menu
        self.context = context
        self.load_model = load_model
        menu.aboutToShow.connect(self.refill)
        self.refill()

    def refill(self) -> None:
        menu = self.menu
        for act in menu.actions():
            menu.removeAction(act)
            act.deleteLater()
        current = self.context.model_path
        bundled = bundled_image_models()
        if bundled and bundled[0].name == DEFAULT_MODEL:
            act = self._add(f"Bundled &default ({DEFAULT_MODEL})", bundled[0], current)
            act.triggered.disconnect()
            act.triggered.connect(lambda _c=False, p=bundled[0]: self.use_default(p))
            bundled = bundled[1:]
        for path in bundled:
            self._add(f"Bundled: {path.name}", path, current)
        trained = trained_models()
        menu.addSeparator()
        if not trained:
            empty = QAction("No trained models yet (Run > Train…)", menu)
            empty.setEnabled(False)
            menu.addAction(empty)
        for path in trained:
            self._add(path.name, path, current)

    def _add(self, text: str, path: Path, current: Path | None) -> QAction:
        act = QAction(text, self.menu)
        act.setCheckable(True)
        act.setChecked(current is not None and Path(current) == path)
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
        act.setToolTip(f"{path}\n{path.stat().st_size / 1e6:.1f} MB, {stamp}")
        act.triggered.connect(lambda _c=False, p=path: self.load_model(p))
        self.menu.addAction(act)
        return act

    def use_default(self, path: Path) -> None:
        from diffview.gui.preferences import load_preferences, save_preferences

        prefs = load_preferences(self.context.settings)
        save_preferences(self.context.settings, replace(prefs, model=replace(prefs.model,
                                                                             path="")))
        self.load_model(path)
