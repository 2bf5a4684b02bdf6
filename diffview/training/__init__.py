"""Training of epsilon networks (torch), imported lazily: nothing here loads torch at import.

Modules: :mod:`~diffview.training.config` (``TrainConfig``, torch-free),
:mod:`~diffview.training.loop` (``train`` generator), :mod:`~diffview.training.export`
(``export_checkpoint`` to ONNX), :mod:`~diffview.training.unet`, :mod:`~diffview.training.mlp`.
"""
