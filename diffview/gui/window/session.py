"""Sessions: the whole configuration (model, device, every panel's state) as a small JSON file.

:class:`SessionService` needs the context, the panels (a mapping name -> :class:`Panel`, read
when used), ``load_model(path)`` and ``show_status(text)``. A session whose model differs from
the one loaded applies its panel states after that model has loaded (panels follow the model's
schedule): the window calls :meth:`model_settled` when a load ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from diffview.fileio import save_text
from diffview.gui.panel import Panel

__all__ = ["SESSION_FILTER", "SESSION_VERSION", "SessionService", "last_dir", "remember_dir"]

log = logging.getLogger(__name__)

SESSION_VERSION = 1
SESSION_FILTER = "diffview sessions (*.diffview.json *.json);;All files (*)"


def last_dir(settings, key: str) -> str:
    """The folder last used for ``key`` ("model", "session", "export", ...)."""
    return str(settings.value(f"paths/{key}", ""))


def remember_dir(settings, key: str, path: str | Path) -> None:
    settings.setValue(f"paths/{key}", str(Path(path).parent))


MAX_SESSION_BYTES = 16 * 2**20
MAX_SESSION_DEPTH = 64


def parse_session(path: str | Path) -> tuple[dict, str | None]:
    """Read a session file from outside: (panel states by name, model path or None).

    Raises
    ------
    ValueError
        One line naming the problem: too large, too deeply nested, not JSON, not a session, or
        a field of the wrong type.
    """
    from diffview.validate import expect_dict, expect_int, expect_str, load_json_limited

    state = load_json_limited(path, MAX_SESSION_BYTES, MAX_SESSION_DEPTH)
    if not isinstance(state, dict) or "diffview_session" not in state:
        raise ValueError("not a diffview session file")
    expect_int(state["diffview_session"], "diffview_session", 1, SESSION_VERSION)
    model_path = state.get("model_path")
    if model_path is not None:
        model_path = expect_str(model_path, "model_path", max_len=4096, allow_empty=False)
    if state.get("device") is not None:
        expect_str(state["device"], "device", max_len=64)
    panels = expect_dict(state.get("panels") or {}, "panels", max_len=100)
    for pname, panel_state in panels.items():
        expect_dict(panel_state, f"panels.{pname}")
    return panels, model_path


class SessionService:
    """File > Save session… / Open session…."""

    def __init__(self, context, panels: Mapping[str, Panel],
                 load_model: Callable[[Path], object], show_status: Callable[[str], None],
                 parent: QWidget | None = None):
        self.context = context
        self.panels = panels
        self.load_model = load_model
        self.show_status = show_status
        self.parent = parent
        self._pending: tuple[dict, str] | None = None

    def state(self) -> dict:
        """The session as plain JSON: version, model path, device, every panel's state."""
        panels = {}
        for name, panel in self.panels.items():
            try:
                panels[name] = panel.state_dict()
            except Exception:  # noqa: BLE001 - one panel must not lose the others' state
                log.exception("panel %s could not save its state", name)
        path = self.context.model_path
        return {"diffview_session": SESSION_VERSION,
                "model_path": str(path) if path is not None else None,
                "device": self.context.device, "panels": panels}

    def save(self, path: str | Path) -> bool:
        try:  # atomic: a full disk or a read-only folder never leaves half a session
            save_text(path, json.dumps(self.state(), indent=2))
        except OSError as exc:
            self.context.report_error("Cannot save session", str(exc))
            return False
        self.show_status(f"Session saved to {path}")
        return True

    def open(self, path: str | Path) -> None:
        """Restore a session: check it whole first (size, nesting, every field and every
        panel's state), so a bad file changes nothing; then apply the panel states now, or
        after its model (if different) has loaded."""
        name = Path(path).name
        try:
            panels, model_path = parse_session(path)
            self._try_states(panels)       # every panel validates; nothing is left changed
        except ValueError as exc:
            self.context.report_error("Cannot open session", f"{name}: {exc}")
            return
        if model_path and (self.context.model_path is None
                           or Path(model_path) != self.context.model_path):
            self._pending = (panels, name)
            self.load_model(Path(model_path))
        else:
            self.apply(panels, name)

    def _try_states(self, panels: dict) -> None:
        """Apply every panel state; if one is refused, put back the ones already applied and
        raise its ValueError (the session is rejected whole)."""
        before: list[tuple[Panel, dict]] = []
        try:
            for pname, panel_state in panels.items():
                panel = self.panels.get(pname)
                if panel is None:
                    continue
                saved = panel.state_dict()
                try:
                    panel.load_state(panel_state)
                except ValueError as exc:
                    text = str(exc)
                    raise ValueError(text if text.startswith(pname) else
                                     f"{pname}: {text}") from None
                before.append((panel, saved))
        except ValueError:
            for panel, saved in reversed(before):
                try:
                    panel.load_state(saved)
                except Exception:  # noqa: BLE001 - its own saved state; log and go on
                    log.exception("could not put back the state of a panel")
            raise

    def apply(self, panels: dict, source: str) -> None:
        """Give each panel its saved state (checked already); a panel that still refuses (its
        model changed in between) keeps its own and says why."""
        for pname, panel_state in panels.items():
            panel = self.panels.get(pname)
            if panel is None:
                continue
            try:
                panel.load_state(panel_state)
            except Exception as exc:  # noqa: BLE001 - ValueError from validation, or a bug
                log.warning("panel %s could not restore its state: %s", pname, exc)
                self.show_status(f"{pname}: could not restore its settings ({exc})")
        self.show_status(f"Session {source} restored")

    def model_settled(self) -> None:
        """The model load a session asked for has ended (loaded or failed)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self.apply(*pending)

    def ask_save(self) -> None:
        settings = self.context.settings
        path, _ = QFileDialog.getSaveFileName(self.parent, "Save session",
                                              last_dir(settings, "session"), SESSION_FILTER)
        if path:
            if not path.endswith(".json"):
                path += ".diffview.json"
            remember_dir(settings, "session", path)
            self.save(path)

    def ask_open(self) -> None:
        settings = self.context.settings
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open session",
                                              last_dir(settings, "session"), SESSION_FILTER)
        if path:
            remember_dir(settings, "session", path)
            self.open(path)
