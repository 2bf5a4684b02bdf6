"""Where bundled resources live, in a source tree, an installed package or a frozen build."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """The folder holding default models, sample images, icons and licences.

    Looked up in order: ``$DIFFVIEW_RESOURCES``; the PyInstaller bundle (``sys._MEIPASS``);
    ``resources/`` beside the package (a source checkout or editable install);
    ``<prefix>/share/diffview/resources`` (a regular install).
    """
    env = os.environ.get("DIFFVIEW_RESOURCES")
    candidates = [Path(env)] if env else []
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        candidates.append(Path(meipass) / "resources")
    candidates.append(Path(__file__).resolve().parent.parent / "resources")
    candidates.append(Path(sys.prefix) / "share" / "diffview" / "resources")
    for path in candidates:
        if path.is_dir():
            return path
    return candidates[-1]


def resource(*parts: str) -> Path:
    """Path of a bundled resource, e.g. ``resource("models", "fashion_unet.onnx")``."""
    return resources_dir().joinpath(*parts)
