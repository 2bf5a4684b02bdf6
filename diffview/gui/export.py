"""Animation files: frames ``(C, H, W)`` in [-1, 1] (C = 1 or 3) as a looping GIF or an MP4.

The window's :class:`~diffview.gui.window.export.AnimationExporter` calls these on the export
worker, never on the GUI thread; every file is written atomically.

MP4 is H.264 (yuv420p, the most widely playable kind) through PyAV, which wraps FFmpeg's
libraries in-process: no ffmpeg executable to find, the same on every platform and in the
frozen app. MPEG-4 part 2 is the fallback where an FFmpeg build lacks an H.264 encoder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from diffview.fileio import atomic_path

__all__ = ["ANIMATION_FORMATS", "write_animation", "write_gif", "write_mp4"]

ANIMATION_FORMATS = {"gif": "GIF animation (*.gif)", "mp4": "MP4 video, H.264 (*.mp4)"}


def _to_rgb8(x: np.ndarray, min_side: int) -> np.ndarray:
    """A (C, H, W) float frame in [-1, 1], or an already rendered uint8 (H, W, 3) frame, as
    uint8 (H, W) or (H, W, 3), small images enlarged by an integer factor (nearest) so the
    shorter side is at least ``min_side``."""
    from diffview.gui.imaging import to_display

    x = np.asarray(x)
    if x.dtype == np.uint8 and x.ndim == 3 and x.shape[-1] == 3:
        u8 = x
    else:
        u8 = np.clip((to_display(x.astype(np.float32)) + 1.0) * 127.5, 0, 255)
        u8 = u8.round().astype(np.uint8)
    scale = max(1, -(-min_side // max(1, min(u8.shape[:2]))))  # ceiling division
    if scale > 1:
        u8 = np.repeat(np.repeat(u8, scale, axis=0), scale, axis=1)
    return u8


@contextlib.contextmanager
def _atomic_write(path: Path, suffix: str, cancelled: Callable[[], bool] | None):
    """Yield a temporary name beside ``path``; rename it over ``path`` if the block completes
    and ``cancelled()`` is not true, else remove it (nothing half-written is ever left).
    :func:`diffview.fileio.atomic_path`: fsync, rename, one-line OutputError on OSError."""
    from diffview.gui.workers import JobCancelled

    with atomic_path(path, suffix=f"{suffix}.part") as tmp:
        yield tmp
        if cancelled is not None and cancelled():
            raise JobCancelled


def write_gif(frames, path: str | Path, fps: float = 20.0, min_side: int = 256,
              cancelled: Callable[[], bool] | None = None) -> Path:
    """Write (C, H, W) frames in [-1, 1] as a looping GIF, small images enlarged (nearest).

    The GIF is encoded into a temporary file beside ``path`` and renamed over it only when
    complete, so an interrupted export (cancelled, failed, the app closed) never leaves a
    half-written file. ``cancelled()`` is polled between frames; when it turns true the
    export stops with :class:`~diffview.gui.workers.JobCancelled` and nothing is written.
    """
    from PIL import Image

    from diffview.gui.workers import JobCancelled

    images = []
    for x in frames:
        if cancelled is not None and cancelled():
            raise JobCancelled
        images.append(Image.fromarray(_to_rgb8(x, min_side)))
    if not images:
        raise ValueError("there are no frames to write")
    path = Path(path)
    with _atomic_write(path, ".gif", cancelled) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=max(20, int(1000 / fps)))
    return path


def _video_codec(av) -> str:
    from av.codec import Codec

    for name in ("libx264", "h264", "mpeg4"):
        try:
            Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001, S112 - PyAV raises its own types for a missing codec
            continue
    raise RuntimeError("this FFmpeg build has neither an H.264 nor an MPEG-4 encoder")


def write_mp4(frames: Iterable, path: str | Path, fps: float = 20.0, min_side: int = 256,
              cancelled: Callable[[], bool] | None = None, crf: int = 18) -> Path:
    """Write (C, H, W) frames in [-1, 1] as an H.264 MP4 (yuv420p), small images enlarged.

    Frames are encoded one at a time (nothing is held in memory but the current one); every
    frame must have the first one's size. An odd width or height is padded by one pixel
    (repeating the edge): yuv420p needs even sizes. Written to a temporary file and renamed
    into place when complete; ``cancelled()`` is polled between frames and stops the export
    with :class:`~diffview.gui.workers.JobCancelled`, leaving nothing behind.

    Raises
    ------
    ValueError
        if there are no frames or their sizes differ.
    """
    import av

    from diffview.gui.workers import JobCancelled

    path = Path(path)
    count = 0
    with _atomic_write(path, ".mp4", cancelled) as tmp:
        with av.open(tmp, mode="w", format="mp4") as container:
            stream = None
            size = None
            for x in frames:
                if cancelled is not None and cancelled():
                    raise JobCancelled
                rgb = _to_rgb8(x, min_side)
                if rgb.ndim == 2:
                    rgb = np.repeat(rgb[..., None], 3, axis=2)
                h, w = rgb.shape[:2]
                if h % 2 or w % 2:
                    rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
                if stream is None:
                    codec = _video_codec(av)
                    stream = container.add_stream(codec, rate=max(1, round(fps)))
                    stream.width, stream.height = rgb.shape[1], rgb.shape[0]
                    stream.pix_fmt = "yuv420p"
                    if codec in ("libx264", "h264"):
                        stream.options = {"crf": str(int(crf)), "preset": "medium"}
                    else:
                        stream.bit_rate = 4_000_000
                    size = rgb.shape[:2]
                elif rgb.shape[:2] != size:
                    raise ValueError(f"frame {count} is {rgb.shape[1]}x{rgb.shape[0]} pixels, "
                                     f"the first was {size[1]}x{size[0]}")
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
                count += 1
            if stream is None:
                raise ValueError("there are no frames to write")
            for packet in stream.encode():  # flush the encoder's delayed frames
                container.mux(packet)
    return path


def write_animation(frames, path: str | Path, fmt: str | None = None, **kw) -> Path:
    """Write with :func:`write_gif` or :func:`write_mp4`, chosen by ``fmt`` or the suffix."""
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    if fmt == "gif":
        return write_gif(frames, path, **kw)
    if fmt == "mp4":
        return write_mp4(frames, path, **kw)
    raise ValueError(f"unknown animation format {fmt!r}: use .gif or .mp4")
