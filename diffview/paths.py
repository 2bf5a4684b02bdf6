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


def user_data_dir() -> Path:
    """The per-user folder for what the app makes: trained models and training runs.

    ``$DIFFVIEW_DATA_DIR`` when set (tests, portable use); else ``%APPDATA%\\diffview`` on
    Windows, ``~/Library/Application Support/diffview`` on macOS and
    ``$XDG_DATA_HOME/diffview`` (default ``~/.local/share/diffview``) elsewhere. Not created here.
    """
    env = os.environ.get("DIFFVIEW_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "diffview"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "diffview"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "diffview"


def user_models_dir() -> Path:
    """Where trained models go (``<user data>/models``); bundled models are never written."""
    return user_data_dir() / "models"


def user_runs_dir() -> Path:
    """Where training runs keep their checkpoints and previews (``<user data>/runs``)."""
    return user_data_dir() / "runs"


def trained_model_path(dataset: str, steps: int, when: float | None = None,
                       folder: Path | None = None) -> Path:
    """A new, unused file name for a trained model: ``<dataset>-<steps>steps-<date>.onnx``.

    ``dataset`` is the data the model learned ("toy:moons", a folder, "drawing"); it is reduced
    to a file-name slug. ``when`` is a POSIX time (default: now); ``folder`` defaults to
    :func:`user_models_dir`. A name already taken gets ``-2``, ``-3``, ...
    """
    import re
    import time

    name = dataset.split(":", 1)[-1] if dataset.startswith(("toy:", "points:")) else dataset
    name = Path(name.rstrip("/\\")).stem or name
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "model"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if when is None else when))
    folder = Path(folder) if folder is not None else user_models_dir()
    path = folder / f"{slug}-{int(steps)}steps-{stamp}.onnx"
    n = 2
    while path.exists():
        path = folder / f"{slug}-{int(steps)}steps-{stamp}-{n}.onnx"
        n += 1
    return path
