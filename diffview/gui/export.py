"""Exports of what the window shows: the view as PNG, a panel's animation as GIF.

:class:`ExportMixin` is part of :class:`~diffview.gui.main_window.MainWindow`; it expects the
window's ``context``, ``panels``, ``_export_runner``, ``_last_dir``/``_remember_dir`` and
``show_status``. Encoding runs on the export worker, never on the GUI thread.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

__all__ = ["ExportMixin", "write_gif"]


def write_gif(frames, path: str | Path, fps: float = 20.0, min_side: int = 256,
              cancelled: Callable[[], bool] | None = None) -> Path:
    """Write (C, H, W) frames in [-1, 1] as a looping GIF, small images enlarged (nearest).

    The GIF is encoded into a temporary file beside ``path`` and renamed over it only when
    complete, so an interrupted export (cancelled, failed, the app closed) never leaves a
    half-written file. ``cancelled()`` is polled between frames; when it turns true the
    export stops with :class:`~diffview.gui.workers.JobCancelled` and nothing is written.
    """
    from PIL import Image

    from diffview.gui.panels.forward import to_display
    from diffview.gui.workers import JobCancelled

    images = []
    for x in frames:
        if cancelled is not None and cancelled():
            raise JobCancelled
        u8 = np.clip((to_display(np.asarray(x, np.float32)) + 1.0) * 127.5, 0, 255)
        u8 = u8.round().astype(np.uint8)
        scale = max(1, -(-min_side // max(1, min(u8.shape[:2]))))  # ceiling division
        if scale > 1:
            u8 = np.repeat(np.repeat(u8, scale, axis=0), scale, axis=1)
        images.append(Image.fromarray(u8))
    if not images:
        raise ValueError("there are no frames to write")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".gif.part", dir=path.parent)
    os.close(fd)
    try:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=max(20, int(1000 / fps)))
        if cancelled is not None and cancelled():
            raise JobCancelled
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would surprise the user
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
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

        def job(token):
            return write_gif(frames_fn(), path, cancelled=lambda: token.cancelled)
            yield  # noqa: B901 - a generator job without frames

        return self._export_runner.start(job)

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
