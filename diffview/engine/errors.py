"""Errors raised by the engine."""

from __future__ import annotations

__all__ = ["ModelError"]


class ModelError(ValueError):
    """A model file cannot be used: missing, not ONNX, wrong inputs or outputs, or bad output.

    The message names the file and says what was expected and what was found.
    """
