"""Sessions: the whole configuration (model, device, every panel's settings) as a small JSON file.

:class:`SessionMixin` is part of :class:`~diffview.gui.main_window.MainWindow`; it expects the
window's ``context``, ``panels``, ``load_model``, ``_last_dir``/``_remember_dir`` and
``show_status``. A session whose model differs from the one loaded applies its panel settings
after that model has loaded (panels follow the model's schedule).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from diffview.fileio import save_text

__all__ = ["SESSION_FILTER", "SESSION_VERSION", "SessionMixin"]

log = logging.getLogger(__name__)

SESSION_VERSION = 1
SESSION_FILTER = "diffview sessions (*.diffview.json *.json);;All files (*)"


class SessionMixin:
    """File > Save/Open session of the main window."""

    _pending_session: tuple[dict, str] | None = None

    def session_state(self) -> dict:
        panels = {}
        for name, panel in self.panels.items():
            to_state = getattr(panel, "state_dict", None) or getattr(panel, "to_state", None)
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
        try:  # atomic: a full disk or a read-only folder never leaves half a session
            save_text(path, json.dumps(self.session_state(), indent=2))
        except OSError as exc:
            self.context.report_error("Cannot save session", str(exc))
            return
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
            from_state = getattr(panel, "load_state", None) or getattr(panel, "from_state", None)
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
