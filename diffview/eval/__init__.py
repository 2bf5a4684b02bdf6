"""Sample quality: a small Fashion-MNIST classifier (ONNX) and the Frechet distance on its features.

Nothing here imports torch at module level: the classifier is run with onnxruntime, and torch
is needed only to *train* it (``python -m diffview.eval.classifier train``).

- :mod:`diffview.eval.fid`: :func:`~diffview.eval.fid.fit_gaussian`,
  :func:`~diffview.eval.fid.frechet_distance`, :func:`~diffview.eval.fid.fid_from_features`
  and the ``python -m diffview.eval.fid`` report.
- :mod:`diffview.eval.classifier`: :class:`~diffview.eval.classifier.FeatureClassifier`
  (logits and penultimate-layer features of uint8 images) and the training script.
"""

from __future__ import annotations
