"""Exports of what the window shows: the view as PNG, a panel's animation as GIF.

:class:`ExportMixin` is part of :class:`~diffview.gui.main_window.MainWindow`; it expects the
window's ``context``, ``panels``, ``_export_runner``, ``_last_dir``/``_remember_dir`` and
``show_status``. Encoding runs on the export worker, never on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

from diffview.gui.workers import call_in_worker

__all__ = ["ExportMixin", "write_gif"]


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


class ExportMixin:
    """File > Export actions of the main window."""

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
