"""Images of the forward panel: the bundled samples and a fallback demo image (no Qt)."""

from __future__ import annotations

import numpy as np

from diffview.gui.panels import images_to_model_range

__all__ = ["CORRUPTIONS", "demo_image", "load_bundled"]

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
    x = images_to_model_range(s.images)
    if s.labels is None:
        return x, [f"sample {i}" for i in range(len(x))]
    order = np.argsort(s.labels, kind="stable")
    names = [s.class_names[int(lab)] if int(lab) < len(s.class_names) else str(int(lab))
             for lab in s.labels[order]]
    return x[order], names
