"""File > Export: the window as a PNG, a panel's animation as a GIF or an MP4 (a Job).

:class:`AnimationExporter` needs the context, the panels (name -> :class:`Panel`), the widget
to grab for the PNG and ``show_status(text)``. An animation comes from the panel's
``animation_source()`` (or its ``animation_hint()`` when there is nothing yet) and is encoded
by :func:`~diffview.gui.export.write_animation` as a Job in lane ``"export"``: progress and
Cancel are the status bar's, and a cancelled export leaves no file behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from diffview.fileio import write_via
from diffview.gui.export import ANIMATION_FORMATS, write_animation
from diffview.gui.jobs import Job
from diffview.gui.panel import Panel
from diffview.gui.window.session import last_dir, remember_dir

__all__ = ["EXPORT_JOB", "EXPORT_LANE", "AnimationExporter"]

EXPORT_JOB = "Export animation"
EXPORT_LANE = "export"


class AnimationExporter:
    """Exports of what the window shows."""

    def __init__(self, context, panels: Mapping[str, Panel], view: QWidget,
                 show_status: Callable[[str], None]):
        self.context = context
        self.panels = panels
        self.view = view
        self.show_status = show_status

    def export_png(self, path: str | Path) -> bool:
        ok = write_via(path, lambda tmp: self.view.grab().save(tmp, "PNG"))
        self.show_status(f"Saved {path}" if ok else f"Could not write {path}")
        return ok

    def ask_png(self) -> None:
        settings = self.context.settings
        path, _ = QFileDialog.getSaveFileName(self.view, "Export view as PNG",
                                              last_dir(settings, "export"), "PNG images (*.png)")
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            remember_dir(settings, "export", path)
            if not self.export_png(path):
                self.context.report_error("Export failed", f"Could not write {path}.")

    def export_animation(self, panel_name: str, path: str | Path,
                         fmt: str | None = None) -> int | None:
        """Encode ``panel_name``'s animation to ``path`` (GIF or MP4: ``fmt``, else the suffix)
        in the background; returns the job's request id, None when there is nothing to animate
        or the format is unknown."""
        fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
        if fmt not in ANIMATION_FORMATS:
            self.context.report_error("Cannot export",
                                      f"{path}: animations are written as .gif or .mp4.")
            return None
        panel = self.panels.get(panel_name)
        frames_fn = panel.animation_source() if panel is not None else None
        if frames_fn is None:
            hint = panel.animation_hint() if panel is not None else f"No {panel_name} panel."
            self.context.report_error("Nothing to animate", hint)
            return None
        path = Path(path)

        def run(token):
            return write_animation(frames_fn(), path, fmt, cancelled=lambda: token.cancelled)
            yield  # noqa: B901 - a run without frames

        return self.context.jobs.start(Job(EXPORT_JOB, start=run, lane=EXPORT_LANE,
                                           on_result=lambda p: self.show_status(f"Saved {p}"),
                                           error_title="Export failed"))

    def ask_animation(self, panel_name: str) -> None:
        """Ask for a file name; the chosen filter (GIF or MP4) decides a missing suffix."""
        settings = self.context.settings
        filters = list(ANIMATION_FORMATS.values())
        path, chosen = QFileDialog.getSaveFileName(self.view, "Export animation",
                                                   last_dir(settings, "export"),
                                                   ";;".join(filters))
        if not path:
            return
        fmt = Path(path).suffix.lstrip(".").lower()
        if fmt not in ANIMATION_FORMATS:
            fmt = next((k for k, v in ANIMATION_FORMATS.items() if v == chosen), "gif")
            path += f".{fmt}"
        remember_dir(settings, "export", path)
        self.export_animation(panel_name, path, fmt)
