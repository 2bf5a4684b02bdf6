"""Training data: images from an IDX or image folder, or points from a 2-D toy set.

Images are read with :mod:`diffview.core.data` (IDX folders, image folders, ``.npz``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffview.core import data as core_data
from diffview.core.data import FASHION_CLASSES
from diffview.training.toy import PointCloud


class TrainingDataError(ValueError):
    """The training data cannot be read or has an unusable shape."""


@dataclass(frozen=True)
class TrainingData:
    """What a run trains on.

    Attributes
    ----------
    kind : ``"image"`` or ``"points"``.
    images : float32 ``(N, C, H, W)`` in [-1, 1] for images, ``None`` for points.
    toy : for points, a toy set name or a :class:`~diffview.training.toy.PointCloud` (see
        :func:`points_training_data`); ``None`` for images.
    sample_shape : ``(C, H, W)`` or ``(2,)``.
    dataset : a short name for the metadata (``"fashion-mnist"``, ``"toy:moons"``).
    class_names : class names if known.
    labels : int64 ``(N,)`` class labels of the images, if the data set has them.
    """

    kind: str
    images: np.ndarray | None
    toy: str | PointCloud | None
    sample_shape: tuple[int, ...]
    dataset: str
    class_names: tuple[str, ...] = ()
    labels: np.ndarray | None = None


def _dataset_name(folder: Path) -> str:
    name = folder.name.lower()
    return name if name else str(folder)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    out = [np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images]
    return np.stack(out)


def points_training_data(points: np.ndarray, jitter: float = 0.0,
                         name: str = "points") -> TrainingData:
    """Training data from a point array ``(N, d)``: batches are rows drawn with replacement plus
    Gaussian ``jitter`` (see :class:`~diffview.training.toy.PointCloud`); pass it to
    ``train(config, data=...)``. ``name`` becomes the data set in the model's metadata.

    Raises
    ------
    TrainingDataError
        if the array is not ``(N, d)`` with N >= 1, holds NaN or inf, or ``jitter`` < 0.
    """
    try:
        cloud = PointCloud(points, jitter)
    except ValueError as exc:
        raise TrainingDataError(str(exc)) from exc
    return TrainingData("points", None, cloud, (cloud.dim,), name)


def load_points_file(path: Path) -> TrainingData:
    """Points to train on from ``path``: a ``.npy`` array ``(N, d)``, or a ``.npz`` with
    ``points`` ``(N, d)`` and optionally ``jitter`` (a float) and ``name`` (the data set's name
    in the model's metadata; default: the file's stem). ``--data points:PATH`` reads it.

    Raises
    ------
    TrainingDataError
        if the file is missing or unreadable, or the array is not a finite ``(N, d)``.
    """
    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"points file {path} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            points, jitter, name = loaded, 0.0, path.stem
        else:
            with loaded:
                if "points" not in loaded:
                    raise TrainingDataError(f"{path} has no 'points' array")
                points = loaded["points"]
                jitter = float(loaded["jitter"]) if "jitter" in loaded else 0.0
                name = str(loaded["name"]) if "name" in loaded else path.stem
    except (OSError, ValueError) as exc:
        raise TrainingDataError(f"cannot read points file {path}: {exc}") from exc
    return points_training_data(np.asarray(points, np.float32), jitter=jitter, name=name)


def load_training_data(spec: str, image_size: int | None = None,
                       channels: int | None = None) -> TrainingData:
    """Read the data named by ``spec`` (a folder, ``toy:NAME`` or ``points:PATH``).

    Raises
    ------
    TrainingDataError
        if the folder is missing, holds no images, or the toy set is unknown.
    """
    if spec.startswith("toy:"):
        name = spec[4:]
        from diffview.training.toy import TOY_NAMES

        if name not in TOY_NAMES:
            raise TrainingDataError(
                f"unknown toy set {name!r}; choose one of {', '.join(TOY_NAMES)}")
        return TrainingData("points", None, name, (2,), f"toy:{name}")
    if spec.startswith("points:"):
        return load_points_file(Path(spec[len("points:"):]))
    folder = Path(spec)
    if not folder.is_dir():
        raise TrainingDataError(f"training data folder {folder} does not exist")
    class_names: tuple[str, ...] = ()
    try:
        ds = core_data.load_dataset(folder, size=image_size or 28, channels=channels or 1)
    except ValueError as exc:
        raise TrainingDataError(str(exc)) from exc
    images, class_names = ds.images, tuple(ds.class_names)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise TrainingDataError(f"images must be (N, H, W) or (N, H, W, C), got {images.shape}")
    if images.shape[0] == 0:
        raise TrainingDataError(f"{folder} holds no images")
    if channels is not None:
        have = 1 if images.ndim == 3 else images.shape[-1]
        if have != channels:
            if channels == 1:
                images = images.astype(np.float32).mean(axis=-1).round().astype(np.uint8)
            else:
                gray = images if images.ndim == 3 else images[..., 0]
                images = np.repeat(gray[..., None], 3, axis=-1)
    if image_size is not None and images.shape[1:3] != (image_size, image_size):
        images = _resize(images, image_size)
    if images.shape[1] % 4 or images.shape[2] % 4:
        raise TrainingDataError(
            f"image height and width must be divisible by 4, got {images.shape[1:3]}; "
            "pass --image-size to resize")
    x = core_data.to_model_range(images)
    name = _dataset_name(folder)
    if not class_names and name == "fashion-mnist":
        class_names = FASHION_CLASSES
    labels = None if ds.labels is None else np.asarray(ds.labels, np.int64)
    return TrainingData("image", np.ascontiguousarray(x), None, tuple(x.shape[1:]), name,
                        class_names, labels)
