"""The window's own background loads, as Jobs: the image model, a data folder, the warm-up.

:class:`Loads` needs the context and ``show_status(text)``; it starts Jobs in lanes ``"model"``,
``"data"`` and ``"warm-up"`` of ``context.jobs`` (status bar, Cancel and errors are the
manager's) and hands a good model or data set to the context. ``model_settled`` fires when a
model load has ended either way (a pending session waits for it).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from diffview.gui.jobs import Job
from diffview.gui.workers import call_in_worker

__all__ = ["DATA_LANE", "MODEL_LANE", "WARM_UP_LANE", "Loads", "model_threads",
           "preferred_model_path", "startup_device", "warm_up"]

MODEL_LANE, DATA_LANE, WARM_UP_LANE = "model", "data", "warm-up"


def preferred_model_path(settings) -> Path | None:
    """The model chosen in Preferences, when one is chosen and exists; else None."""
    from diffview.gui.preferences import load_preferences

    path = load_preferences(settings).model.path
    if path and Path(path).expanduser().is_file():
        return Path(path).expanduser()
    return None


def model_threads(context) -> int | None:
    """onnxruntime threads from Preferences (None: let onnxruntime choose)."""
    from diffview.gui.preferences import load_preferences

    return load_preferences(context.settings).inference.threads or None


def startup_device(context) -> str:
    """The provider from Preferences, unless the command line asked for one (not "auto")."""
    from diffview.gui.preferences import load_preferences

    if context.device == "auto":
        context.device = load_preferences(context.settings).inference.device
    return context.device


def warm_up() -> None:
    """Import, off the GUI thread, what numpy and the samplers load lazily on first use.

    numpy 2 imports ``numpy.ma`` (slowly: it inspects signatures) the first time
    ``np.unique`` runs. Done by a sampling job mid-run, that import holds Python's import lock
    and stalls the GUI thread for a quarter of a second whenever it imports anything itself.
    """
    import numpy.ma  # noqa: F401
    import numpy.random  # noqa: F401

    from diffview.core.samplers import make_sampler
    from diffview.core.schedules import make_schedule

    make_sampler("ddim", make_schedule("linear", 100), n_steps=10)


def open_image_model(path: Path, device: str, threads: int | None):
    """Open and check an ONNX image model (on a worker); raises ModelError naming the problem."""
    from diffview.engine import ModelError, OnnxDenoiser

    model = OnnxDenoiser(path, device=device, threads=threads)
    info = model.info
    if info.kind != "image":
        shape = "×".join(map(str, info.sample_shape))
        raise ModelError(f"{Path(path).name} is a {info.kind} model (samples of shape "
                         f"{shape}); the image panels need an image model [B, C, H, W].")
    return model


class Loads(QObject):
    """Model, data and warm-up loads of the window.

    Signals
    -------
    model_loaded(object)     the new denoiser, already the context's model.
    model_failed(str)        why the model could not be opened.
    model_busy_changed(bool) a model load started or ended.
    """

    model_loaded = Signal(object)
    model_failed = Signal(str)
    model_busy_changed = Signal(bool)

    def __init__(self, context, show_status, parent: QObject | None = None):
        super().__init__(parent)
        self.context = context
        self.show_status = show_status
        self.last_model_error = ""

    def warm_up(self) -> None:
        self.context.jobs.start(Job("Warm-up", start=call_in_worker(warm_up), lane=WARM_UP_LANE,
                                    show_progress=False))

    def load_model(self, path: str | Path) -> None:
        """Open and check ``path`` on a worker; it replaces the current model only if good."""
        path = Path(path)
        self.show_status(f"Checking model {path.name}…")
        device, threads = startup_device(self.context), model_threads(self.context)
        self.context.jobs.start(Job(
            "Loading model", lane=MODEL_LANE,
            start=call_in_worker(lambda: open_image_model(path, device, threads)),
            on_result=self._on_model, on_error=self._on_model_error,
            on_cancelled=lambda _p: self._end_model()))
        self.model_busy_changed.emit(True)

    def load_default_model(self) -> bool:
        """Load the model chosen in Preferences, else the bundled default; False when none."""
        from diffview.engine import default_model_path

        preferred = preferred_model_path(self.context.settings)
        if preferred is not None:
            self.load_model(preferred)
            return True
        try:
            path = Path(default_model_path())
        except Exception as exc:  # noqa: BLE001 - no bundle: say so, the app still opens
            self.show_status(f"No default model: {exc}")
            return False
        if not path.is_file():
            self.show_status("No model: the default model is not installed (File > Open model)")
            return False
        self.load_model(path)
        return True

    def model_busy(self) -> bool:
        return self.context.jobs.is_busy(MODEL_LANE)

    def _on_model(self, denoiser) -> None:
        self.context.set_image_model(denoiser)
        self.model_loaded.emit(denoiser)
        self._end_model()

    def _on_model_error(self, message: str) -> None:
        self.last_model_error = message
        self.context.report_error("Cannot open model", message)
        self.model_failed.emit(message)
        self._end_model()

    def _end_model(self) -> None:
        self.model_busy_changed.emit(False)

    def open_data(self, folder: str | Path) -> None:
        folder = Path(folder)

        def load():
            from diffview.core.data import load_dataset

            return load_dataset(folder)

        self.show_status(f"Loading images from {folder}…")
        self.context.jobs.start(Job("Loading data", lane=DATA_LANE, start=call_in_worker(load),
                                    on_result=self._on_data,
                                    error_title="Cannot open data folder"))

    def _on_data(self, images) -> None:
        self.context.set_dataset(images)
        self.show_status(f"Loaded {len(images.images)} images from {images.source}")
