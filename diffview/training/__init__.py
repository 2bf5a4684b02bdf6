"""Training of epsilon networks (torch), imported lazily: nothing here loads torch at import.

Modules: :mod:`~diffview.training.config` (``TrainConfig``, torch-free),
:mod:`~diffview.training.loop` (``train`` generator), :mod:`~diffview.training.export`
(``export_checkpoint`` to ONNX), :mod:`~diffview.training.unet`, :mod:`~diffview.training.mlp`.
"""

import importlib.util

__all__ = ["torch_available"]


def torch_available() -> bool:
    """Whether torch can be imported here (a light build leaves it out), without importing it."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False
