"""Image helpers the image panels share: conversions between uint8 files and the model range,
the display layout of an ImageItem, mosaics, thumbnails."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QImage, QPixmap

__all__ = [
    "HIST_BINS", "HIST_RANGE", "IMAGE_FILTER", "MAX_SIDE", "X_LEVELS", "histogram_density",
    "image_from_file", "images_to_model_range", "make_image_view", "mosaic", "mosaic_cell",
    "cancellable", "resize_image", "thumbnail_icon", "to_display",
]

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp);;All files (*)"
MAX_SIDE = 512  # larger images are scaled down on load so scrubbing stays instant
X_LEVELS = (-1.0, 1.0)  # fixed display levels of model-range images
HIST_BINS, HIST_RANGE = 64, (-4.0, 4.0)


def images_to_model_range(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, C, H, W) in [-1, 1]."""
    try:
        from diffview.core.data import to_model_range

        return to_model_range(images)
    except ImportError:  # pragma: no cover - core.data not there yet
        x = np.asarray(images, np.float32) / 127.5 - 1.0
        return x[:, None] if x.ndim == 3 else np.moveaxis(x, -1, 1)


def image_from_file(path: str | Path, max_side: int = MAX_SIDE) -> np.ndarray:
    """Load a PNG/JPEG (grey or colour, any size) as float32 (C, H, W) in [-1, 1].

    Colour images keep 3 channels, grey ones 1; images larger than ``max_side`` are scaled
    down (Lanczos) keeping their aspect ratio. Runs on a worker.
    """
    from PIL import Image

    from diffview.core.data import MAX_IMAGE_PIXELS

    try:
        with Image.open(path) as im:
            # Refuse a decompression bomb from its header, before decoding a single pixel.
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise ValueError(f"image too large: {im.width} x {im.height} pixels, expected "
                                 f"at most {MAX_IMAGE_PIXELS:,} pixels")
            im.load()
            if im.mode in ("L", "I;16", "I", "F", "1", "LA"):
                im = im.convert("L")
            else:
                im = im.convert("RGB")
            if max(im.size) > max_side:
                scale = max_side / max(im.size)
                size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
                im = im.resize(size, Image.Resampling.LANCZOS)
            arr = np.asarray(im)
    except Image.DecompressionBombError as exc:  # past twice Pillow's limit: refused at open
        raise ValueError(f"Cannot read {Path(path).name}: image too large ({exc})") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"Cannot read {Path(path).name} as an image: {exc}") from None
    if arr.ndim == 3 and np.array_equal(arr[..., 0], arr[..., 1]) \
            and np.array_equal(arr[..., 1], arr[..., 2]):
        arr = arr[..., 0]  # an RGB file holding a grey picture
    return images_to_model_range(arr[None])[0]


def histogram_density(values: np.ndarray, bins: int = HIST_BINS,
                      value_range: tuple[float, float] = HIST_RANGE):
    """Like ``np.histogram(values, bins, value_range, density=True)``, several times faster."""
    lo, hi = value_range
    scaled = (values - lo) * (bins / (hi - lo))
    inside = (scaled >= 0) & (scaled <= bins)
    idx = np.minimum(scaled[inside].astype(np.intp), bins - 1)
    counts = np.bincount(idx, minlength=bins).astype(np.float64)
    total = counts.sum()
    width = (hi - lo) / bins
    density = counts / (total * width) if total else counts
    return density, np.linspace(lo, hi, bins + 1)


def to_display(x: np.ndarray) -> np.ndarray:
    """(C, H, W) -> what an ImageItem shows: (H, W) for one channel, (H, W, 3) for colour."""
    if x.shape[0] == 1:
        return x[0]
    return np.ascontiguousarray(np.moveaxis(x[:3], 0, -1))


def make_image_view(layout: pg.GraphicsLayoutWidget, title: str, row: int = 0, col: int = 0):
    """An aspect-locked, mouse-less view box with one row-major ImageItem; returns the item."""
    vb = layout.addViewBox(row=row, col=col, lockAspect=True, enableMouse=False, invertY=True)
    vb.setMenuEnabled(False)
    item = pg.ImageItem(axisOrder="row-major")
    vb.addItem(item)
    label = pg.LabelItem(title, size="10pt")
    layout.addItem(label, row=row + 1, col=col)
    return item, label, vb


def thumbnail_icon(x: np.ndarray, size: int = 56) -> QIcon:
    """A QIcon from a (C, H, W) image in [-1, 1]."""
    u8 = np.clip((to_display(x) + 1.0) * 127.5, 0, 255).astype(np.uint8)
    u8 = np.ascontiguousarray(u8)
    h, w = u8.shape[:2]
    if u8.ndim == 2:
        qimg = QImage(u8.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        qimg = QImage(u8.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    pix = QPixmap.fromImage(qimg.copy()).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
    return QIcon(pix)


def mosaic(images: np.ndarray, cols: int | None = None, pad: int = 1,
           fill: float = -1.0) -> np.ndarray:
    """Tile (N, C, H, W) images into one (C, rows*(H+pad)-pad, cols*(W+pad)-pad) image."""
    n, c, h, w = images.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    out = np.full((c, rows * (h + pad) - pad, cols * (w + pad) - pad), fill, np.float32)
    for k in range(n):
        r, q = divmod(k, cols)
        out[:, r * (h + pad):r * (h + pad) + h, q * (w + pad):q * (w + pad) + w] = images[k]
    return out


def mosaic_cell(x: float, y: float, n: int, h: int, w: int, cols: int,
                pad: int = 1) -> tuple[int, int, int] | None:
    """(tile, row, col) under mosaic coordinates (x, y), or None on padding/outside."""
    if x < 0 or y < 0:
        return None
    q, cx = divmod(int(x), w + pad)
    r, cy = divmod(int(y), h + pad)
    k = r * cols + q
    if cx >= w or cy >= h or q >= cols or k >= n:
        return None
    return k, cy, cx


def resize_image(x: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Resize a (C, H, W) image in [-1, 1] to ``shape`` (C', H', W'), converting grey/colour."""
    from PIL import Image

    c, h, w = shape
    chans = []
    for ch in x:
        im = Image.fromarray(ch.astype(np.float32)).resize((w, h),
                                                                    Image.Resampling.LANCZOS)
        chans.append(np.asarray(im, np.float32))
    out = np.stack(chans)
    if out.shape[0] == 3 and c == 1:
        out = (0.299 * out[0] + 0.587 * out[1] + 0.114 * out[2])[None]
    elif out.shape[0] == 1 and c == 3:
        out = np.repeat(out, 3, axis=0)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def cancellable(predict, token, chunk: int = 32):
    """``diffview.runs.base.cancellable`` (kept here for the panels that import it from here)."""
    from diffview.runs.base import cancellable as _cancellable

    return _cancellable(predict, token, chunk)
