"""Helpers shared by the sub-commands: the model argument and the progress display."""

from __future__ import annotations

import sys
from pathlib import Path

# What every ``--model`` / ``MODEL`` argument accepts besides a path.
DEFAULT_MODEL = "default"
MODEL_HELP = "ONNX model file, or 'default' for the bundled Fashion-MNIST model"


class ModelArgError(ValueError):
    """The model argument names nothing usable; the message says why, in one line."""


def resolve_model_path(spec: str | Path) -> Path:
    """The file a model argument means: ``"default"`` is the bundled Fashion-MNIST model.

    Raises
    ------
    ModelArgError
        ``"default"`` was given but the bundled file is missing (a broken install).
    """
    from diffview.engine import default_model_path

    if str(spec) != DEFAULT_MODEL:
        return Path(spec)
    path = default_model_path()
    if not path.exists():
        raise ModelArgError(f"the bundled model {path} is missing; give a model file "
                            "(--model PATH, or the MODEL argument of info) instead")
    return path


def progress_enabled(stream=None) -> bool:
    """Progress bars only on a terminal: piped or redirected output stays clean."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class ProgressBar:
    """A rich progress bar on stderr, or nothing when stderr is not a terminal.

    Use as a context manager; :meth:`update` takes the steps done, the total and an optional
    status text (shown after the bar). The bar disappears when the block ends, so the
    command's one-line summary is what stays on the terminal.
    """

    def __init__(self, description: str, enabled: bool | None = None) -> None:
        self.description = description
        self.enabled = progress_enabled() if enabled is None else enabled
        self._bar = None
        self._task = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                                 TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=None, status="")
        return self

    def update(self, done: int, total: int | None, status: str = "",
               description: str | None = None) -> None:
        if self._bar is None:
            return
        fields = {"description": description} if description is not None else {}
        self._bar.update(self._task, completed=done, total=total or None, status=status,
                         **fields)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None
