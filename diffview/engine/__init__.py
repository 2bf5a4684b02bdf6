"""The model seam: the :class:`Denoiser` protocol and its ONNX and analytic implementations.

No Qt and no torch here. ``onnx`` and ``onnxruntime`` are imported only when a model is
loaded, so importing this package is cheap.
"""

from __future__ import annotations

from diffview.engine.errors import ModelError
from diffview.engine.metadata import ModelInfo, info_to_metadata, metadata_to_info

__all__ = [
    "AnalyticDenoiser",
    "Denoiser",
    "ModelError",
    "ModelInfo",
    "OnnxDenoiser",
    "available_providers",
    "default_model_path",
    "info_to_metadata",
    "load_default",
    "metadata_to_info",
]

_LAZY = {
    "Denoiser": "diffview.engine.protocol",
    "OnnxDenoiser": "diffview.engine.onnx_denoiser",
    "default_model_path": "diffview.engine.onnx_denoiser",
    "load_default": "diffview.engine.onnx_denoiser",
    "AnalyticDenoiser": "diffview.engine.analytic",
    "available_providers": "diffview.engine.providers",
}


def __getattr__(name: str):
    # Submodules are imported on first use so `import diffview.engine` stays light.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'diffview.engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
