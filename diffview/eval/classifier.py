"""A small Fashion-MNIST CNN whose penultimate layer supplies the features for FID.

The classifier is stored as ONNX (``resources/eval/fashion_classifier.onnx``) with two outputs,
``logits (B, 10)`` and ``features (B, 128)``, and run with onnxruntime, so measuring sample
quality needs no torch. Its input is ``image (B, 1, 28, 28)`` float32 in the model range
[-1, 1], i.e. ``uint8 / 127.5 - 1``; :class:`FeatureClassifier` takes uint8 images and does
that conversion, so real and generated images go through exactly the same path.

Training (torch, CPU, a few minutes) lives in :mod:`diffview.eval.train_classifier`, so this
module and everything that imports it stay free of torch. Test accuracy of the ONNX model::

    python -m diffview.eval.classifier --data ../shared/data/fashion-mnist

Architecture: three 3x3 conv blocks (16, 32, 64 channels; BatchNorm, ReLU, 2x2 max-pool),
a 576 -> 128 linear layer with ReLU (the *features*), dropout, and a 128 -> 10 linear layer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from diffview.core.data import FASHION_CLASSES
from diffview.paths import resource

__all__ = [
    "CLASS_NAMES",
    "FEATURE_DIM",
    "FeatureClassifier",
    "default_classifier_path",
    "images_to_input",
    "load_fashion_split",
]

CLASS_NAMES = FASHION_CLASSES
FEATURE_DIM = 128
IMAGE_SHAPE = (28, 28)


def default_classifier_path() -> Path:
    """``resources/eval/fashion_classifier.onnx`` (wherever the resources live)."""
    return resource("eval", "fashion_classifier.onnx")


# ------------------------------------------------------------------------------------ data


def load_fashion_split(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one Fashion-MNIST split from an IDX folder.

    Parameters
    ----------
    folder : str or Path
        Folder with ``train-images-idx3-ubyte(.gz)`` etc.
    split : {"train", "test"}

    Returns
    -------
    images : uint8 ndarray, shape (N, 28, 28)
    labels : int64 ndarray, shape (N,)
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', found {split!r}")
    from diffview.core.data import load_idx_folder

    data = load_idx_folder(folder, split)
    if data.labels is None:
        raise ValueError(f"{folder}: the {split} split has no labels")
    return np.asarray(data.images, np.uint8), np.asarray(data.labels, np.int64)


def images_to_input(images: np.ndarray) -> np.ndarray:
    """uint8 images ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` -> float32 ``(N, 1, 28, 28)`` in [-1, 1].

    Raises
    ------
    ValueError
        For another dtype or shape.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, found dtype {images.dtype}")
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"expected images of shape (N, 28, 28) or (N, 1, 28, 28), "
                         f"found {images.shape}")
    return (images.astype(np.float32) / 127.5 - 1.0)[:, None]


# ------------------------------------------------------------------------------- inference


class FeatureClassifier:
    """The ONNX classifier: class logits and penultimate-layer features of uint8 images.

    Parameters
    ----------
    path : str or Path, optional
        The ONNX file; default :func:`default_classifier_path`.
    device : {"auto", "cpu", "cuda"}
    threads : int, optional
        onnxruntime intra-op threads.
    batch : int
        Images per onnxruntime call.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the model does not have the ``logits`` and ``features`` outputs.
    """

    def __init__(self, path: str | Path | None = None, device: str = "cpu",
                 threads: int | None = None, batch: int = 500) -> None:
        from diffview.engine.providers import create_session

        self.path = Path(path) if path is not None else default_classifier_path()
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: classifier model not found")
        self._session, self.provider, _ = create_session(self.path, device, threads)
        names = [o.name for o in self._session.get_outputs()]
        if "logits" not in names or "features" not in names:
            raise ValueError(f"{self.path}: expected outputs 'logits' and 'features', "
                             f"found {names}")
        self._input = self._session.get_inputs()[0].name
        self.batch = int(batch)
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and features of uint8 images.

        Parameters
        ----------
        images : uint8 ndarray, shape (N, 28, 28) or (N, 1, 28, 28)

        Returns
        -------
        logits : float32 ndarray, shape (N, 10)
        features : float32 ndarray, shape (N, 128)
        """
        x = images_to_input(images)
        logits, feats = [], []
        for start in range(0, x.shape[0], self.batch):
            lg, ft = self._session.run(["logits", "features"],
                                       {self._input: x[start:start + self.batch]})
            logits.append(lg)
            feats.append(ft)
        if not logits:
            return np.zeros((0, len(CLASS_NAMES)), np.float32), np.zeros((0, FEATURE_DIM),
                                                                          np.float32)
        return np.concatenate(logits), np.concatenate(feats)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate-layer features ``(N, 128)`` of uint8 images."""
        return self.run(images)[1]

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Predicted class indices ``(N,)`` of uint8 images."""
        return self.run(images)[0].argmax(axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diffview.eval.classifier",
        description="Test-split accuracy of the exported FID classifier (onnxruntime). "
                    "Training: python -m diffview.eval.train_classifier.")
    parser.add_argument("--data", required=True, help="Fashion-MNIST IDX folder")
    parser.add_argument("--model", default=str(default_classifier_path()))
    args = parser.parse_args(argv)
    clf = FeatureClassifier(args.model)
    images, labels = load_fashion_split(args.data, "test")
    acc = float((clf.predict(images) == labels).mean())
    print(f"{args.model}: test accuracy {acc:.4f} on {len(labels)} images (onnxruntime)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
