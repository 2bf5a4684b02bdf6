"""Images of the forward panel: the bundled samples and a fallback demo image (no Qt)."""

from __future__ import annotations

import numpy as np

from diffview.core.data import to_model_range

__all__ = ["CLEAR_CLASSES", "CORRUPTIONS", "class_representatives", "default_sample",
           "demo_image", "legibility", "load_bundled"]

# Classes whose silhouette stays recognisable under noise (a T-shirt, pullover, coat and shirt
# are similar blobs; a dark T-shirt is lost by t = 100).
CLEAR_CLASSES = ("Trouser", "Sneaker", "Bag", "Ankle boot")

CORRUPTIONS = {"noise": "Gaussian noise", "blur": "Blur (cold)", "mask": "Mask (cold)",
               "pixelate": "Pixelate (cold)"}


def demo_image(size: int = 28) -> np.ndarray:
    """A ring, used when no bundled samples are available."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2) / (size / 2)
    img = np.where((r > 0.45) & (r < 0.8), 1.0, -1.0).astype(np.float32)
    return img[None]


def load_bundled() -> tuple[np.ndarray, list[str]]:
    """Bundled samples as float32 (N, C, H, W) sorted by class, and their captions."""
    try:
        from diffview.core.data import bundled_samples

        s = bundled_samples()
    except Exception:  # noqa: BLE001 - the strip falls back to a demo image
        return demo_image()[None], ["demo ring"]
    x = to_model_range(s.images)
    if s.labels is None:
        return x, [f"sample {i}" for i in range(len(x))]
    order = np.argsort(s.labels, kind="stable")
    names = [s.class_names[int(lab)] if int(lab) < len(s.class_names) else str(int(lab))
             for lab in s.labels[order]]
    return x[order], names


def legibility(images: np.ndarray) -> np.ndarray:
    """Contrast of each image, ``(N, ...) -> (N,)``: the standard deviation of its pixels in
    [0, 1]. It is largest for a bright object on a dark ground that fills about half of the
    frame, the silhouette that stays visible longest as noise is added (a mean-brightness term
    would favour a bag that fills the frame and reads as a bright square under noise)."""
    x = (np.asarray(images, dtype=np.float64).reshape(len(images), -1) + 1.0) / 2.0
    return x.std(axis=1)


def class_representatives(images: np.ndarray, names: list[str]) -> dict[str, int]:
    """For each caption in ``names`` (in first-seen order), the index of its most legible
    image (see :func:`legibility`): what the strip shows in "One per class"."""
    score = legibility(images)
    best: dict[str, int] = {}
    for i, name in enumerate(names):
        if name not in best or score[i] > score[best[name]]:
            best[name] = i
    return best


def default_sample(images: np.ndarray, names: list[str]) -> int:
    """The image the panel opens on: the highest-contrast image (:func:`legibility`) of a class
    in CLEAR_CLASSES, or of all images when none of those classes is there."""
    score = legibility(images)
    pool = [i for i, n in enumerate(names) if n in CLEAR_CLASSES] or list(range(len(names)))
    return max(pool, key=lambda i: score[i])
