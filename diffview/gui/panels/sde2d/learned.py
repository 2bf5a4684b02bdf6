"""The learned networks of the 2-D panel: per data set, one trained here wins over the bundled
``toy2d_<name>.onnx`` (looked up on a worker) or one handed over by the Training panel
(``context.set_toy_model``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from diffview.gui.jobs import Job
from diffview.gui.panels.sde2d.state import DATASET_LABELS, DRAWING
from diffview.gui.panels.sde2d.training import TrainedNetwork

__all__ = ["LearnedNetworks"]


def _lookup(context, name: str, token):
    try:
        return name, context.toy_model(name), ""
    except Exception as exc:  # noqa: BLE001 - a broken model must not break the panel
        return name, None, str(exc)
    yield  # noqa: B901 - a run without frames


class LearnedNetworks(QObject):
    """Which network drives the learned score of each data set.

    Signals
    -------
    model_ready(str, object)
        Data set and its network (None: there is none), after a lookup or an adoption.
    """

    model_ready = Signal(str, object)

    def __init__(self, context, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._lane = f"sde2d-model-{id(self)}"
        self._trained: dict[str, TrainedNetwork] = {}
        self._loading = False
        context.toy_model_changed.connect(self._on_external_model)

    def trained(self, name: str) -> TrainedNetwork | None:
        """The network trained here (or handed over) for ``name``."""
        return self._trained.get(name)

    def request(self, name: str):
        """The model for ``name`` now if known, else None and a lookup on a worker
        (``model_ready`` follows; a drawing has no bundled network)."""
        if name in self._trained:
            return self._trained[name].model
        if name != DRAWING:
            self._loading = True
            self._context.jobs.start(Job(
                "Loading the 2-D network", lambda token: _lookup(self._context, name, token),
                on_result=self._on_loaded, on_cancelled=lambda _p: self._end_loading(),
                on_error=lambda _m: self._end_loading(), lane=self._lane,
                show_progress=False))
        return None

    def loading(self) -> bool:
        return self._loading

    def adopt(self, name: str, result: TrainedNetwork) -> None:
        """Make ``result`` the network of ``name``."""
        self._trained[name] = result
        self.model_ready.emit(name, result.model)

    def forget(self, name: str) -> None:
        """Drop the network trained for ``name`` (a new drawing makes the old one moot)."""
        self._trained.pop(name, None)

    def save(self, name: str, path: str | Path) -> str:
        """Copy the network trained for ``name`` to ``path``; returns an error or ""."""
        trained = self._trained.get(name)
        if trained is None:
            return "no network trained here for this data"
        try:
            shutil.copyfile(trained.path, path)
        except OSError as exc:
            return f"{path}: {exc}"
        return ""

    def shutdown(self) -> None:
        self._context.jobs.cancel(self._lane)

    def _on_loaded(self, result) -> None:
        self._loading = False
        name, model, error = result
        if error:
            self._context.report_status(f"2-D network for {name} not usable: {error}")
        if name not in self._trained:   # a network trained here meanwhile wins
            self.model_ready.emit(name, model)

    def _end_loading(self) -> None:
        self._loading = False

    def _on_external_model(self, name: str, model) -> None:
        known = self._trained.get(name)
        if name not in DATASET_LABELS or name == DRAWING or (known and known.model is model):
            return
        info = getattr(model, "info", None)
        self.adopt(name, TrainedNetwork(
            model=model, path=Path(model.path),
            steps=int(getattr(info, "training_steps", 0) or 0), seconds=0.0,
            loss=float("nan"), stop_reason="steps"))
