"""Training of epsilon networks (torch), imported lazily: nothing here loads torch at import.

Modules: :mod:`~diffview.training.config` (``TrainConfig``, torch-free),
:mod:`~diffview.training.loop` (``train`` generator), :mod:`~diffview.training.export`
(``export_checkpoint`` to ONNX), :mod:`~diffview.training.unet`, :mod:`~diffview.training.mlp`.
"""

import importlib.util

__all__ = ["TORCH_MISSING", "torch_available"]

TORCH_MISSING = (
    "Training needs PyTorch, and this copy of diffview cannot import it (the light build "
    "leaves it out to stay small).\n\n"
    "To train models: install the full build of diffview, or, in a Python installation of "
    "diffview, install torch into the same environment, e.g.\n"
    "    pip install -c constraints.txt -e .\n"
    "(constraints.txt pins the CPU build of torch), then restart diffview.\n\n"
    "Everything else (sampling, the 2-D and physics panels, opening ONNX models) works "
    "without torch.")
"""What the app says wherever training is asked for and torch cannot be imported."""


def torch_available() -> bool:
    """Whether torch can be imported here (a light build leaves it out), without importing it."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False
