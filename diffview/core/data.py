"""Image data: IDX files (MNIST / Fashion-MNIST), image folders, single images, bundled samples.

Everything returns uint8 pixels in an :class:`ImageSet`; :func:`to_model_range` turns them into
the float32 ``(N, C, H, W)`` arrays in ``[-1, 1]`` that the models take, and :func:`to_uint8`
goes back. Every malformed input raises :class:`DataError` with a message that names the file
and says what was expected and what was found.

Supported layouts
-----------------
IDX (the format of MNIST and Fashion-MNIST; ``.gz`` or raw), for ``split`` "train" or "test"
(file prefix ``t10k``), looked up in this order:

- ``<folder>/train-images-idx3-ubyte[.gz]`` (Keras layout, or files copied by hand)
- ``<folder>/raw/...``
- ``<folder>/<Name>/raw/...`` (torchvision layout, e.g. ``<root>/FashionMNIST/raw``)

Image folders: PNG, JPEG, BMP, GIF, WebP or TIFF files, either directly in the folder (no
labels) or in one subfolder per class (labels from the sorted subfolder names). Nothing outside
the chosen folder is read: symbolic links are resolved, and a link that leads outside the
folder (``up -> ..``, ``etc -> /etc``) or back into itself (a loop) refuses the whole folder
with a message naming the link; links that stay inside the folder are followed.

Pillow is imported only by the functions that decode images, so importing this module is cheap.
"""

from __future__ import annotations

import math
import os
import re
import warnings
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "FASHION_CLASSES",
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "DataError",
    "ImageSet",
    "bundled_samples",
    "find_idx_files",
    "load_dataset",
    "load_idx_folder",
    "load_image",
    "load_image_folder",
    "load_npz",
    "read_idx",
    "to_model_range",
    "to_uint8",
]

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Images that would decode to more than this many pixels are refused before decoding (a 1-bit
# or palette PNG of 20000 x 20000 is tiny on disk but needs hundreds of MB once decoded).
# JPEGs are checked after the decoder's own 1/2..1/8 downscaling (Image.draft).
MAX_IMAGE_PIXELS = 36_000_000
SAMPLES_FILE = "fashion_mnist_samples.npz"
# A gzip file that inflates past this is refused (Fashion-MNIST's largest file is 47 MB); the
# same limit bounds raw IDX files, IDX headers and the arrays of an .npz.
MAX_IDX_BYTES = 2**31
# Image folders: sub-folders deeper than this are refused (a loop the checks missed, or a tree
# no data set has).
MAX_FOLDER_DEPTH = 32

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


class DataError(ValueError):
    """A data file or folder cannot be read; the message names it and says why."""


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A set of uint8 images with optional labels.

    Attributes
    ----------
    images : ndarray, uint8, shape (N, H, W) or (N, H, W, C)
        Grayscale images have no channel axis; colour images have C = 3.
    labels : ndarray, int64, shape (N,), or None
    class_names : tuple of str
        ``class_names[label]`` is the name of a label; empty when unknown.
    source : str
        Where the images came from (a path and a short description).
    skipped : int
        Files that could not be read and were left out (image folders only).
    """

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    source: str
    skipped: int = 0

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        """1 for grayscale ``(N, H, W)``, else the size of the last axis."""
        return 1 if self.images.ndim == 3 else int(self.images.shape[-1])

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def subset(self, index) -> ImageSet:
        """The images (and labels) selected by an index array, slice or boolean mask."""
        labels = None if self.labels is None else self.labels[index]
        return ImageSet(self.images[index], labels, self.class_names, self.source)

    def of_class(self, label: int) -> ImageSet:
        """Only the images with this label."""
        if self.labels is None:
            raise DataError(f"{self.source}: has no labels, cannot select class {label}")
        return self.subset(self.labels == label)


# ------------------------------------------------------------------------------------ IDX


def _read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the file starts with the gzip magic bytes.

    A truncated gzip stream yields what could be decompressed, so that the caller's size
    check can report how much data is missing.
    """
    try:
        if path.is_file() and path.stat().st_size > MAX_IDX_BYTES:
            raise DataError(f"{path}: {path.stat().st_size:,} bytes, more than the "
                            f"{MAX_IDX_BYTES:,} an IDX data file may have")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, MAX_IDX_BYTES + 1)
    except zlib.error as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc})") from None
    if len(data) > MAX_IDX_BYTES:
        raise DataError(f"{path}: decompresses to more than {MAX_IDX_BYTES:,} bytes, "
                        "expected an IDX data file of at most that size")
    return data


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (raw or gzip-compressed, detected from its content).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    ndarray
        Shape from the file header (e.g. ``(60000, 28, 28)`` uint8 for images, ``(60000,)``
        for labels), native byte order, writable.

    Raises
    ------
    DataError
        For a missing or empty file, a wrong magic number (not IDX, unknown type byte, zero
        dimensions), or a data size that does not match the header ("truncated: expected N
        bytes of image data, found M").
    """
    path = Path(path)
    data = _read_bytes(path)
    if not data:
        raise DataError(f"{path}: empty file, expected an IDX file")
    if len(data) < 4:
        raise DataError(f"{path}: not an IDX file: expected a 4-byte magic number, "
                        f"found {len(data)} bytes")
    magic = data[:4]
    type_code, ndim = magic[2], magic[3]
    if magic[:2] != b"\x00\x00" or type_code not in _IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{path}: not an IDX file: expected magic bytes 00 00 <type 08/09/0b/0c/0d/0e> "
            f"<dims 1..>, found {magic.hex(' ')}"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated header: expected {header} bytes for {ndim} "
                        f"dimensions, found {len(data)}")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    # Python integers: a header such as 4 x 2^32-1 would overflow numpy's int64 product.
    expected = math.prod(dims) * dtype.itemsize
    if expected > MAX_IDX_BYTES:
        raise DataError(f"{path}: the header claims shape {dims} = {expected:,} bytes of data, "
                        f"more than the {MAX_IDX_BYTES:,} an IDX data file may hold")
    found = len(data) - header
    what = "image data" if ndim >= 3 else "data"
    if found < expected:
        raise DataError(f"{path}: truncated: expected {expected} bytes of {what} for shape "
                        f"{dims}, found {found}")
    if found > expected:
        raise DataError(f"{path}: {found - expected} unexpected bytes after the {what}: "
                        f"expected {expected} bytes for shape {dims}, found {found}")
    # bytearray -> a writable array; one copy, no per-image Python work.
    array = np.frombuffer(bytearray(memoryview(data)[header:]), dtype=dtype).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def _idx_candidates(prefix: str, kind: str) -> list[str]:
    rank = "3" if kind == "images" else "1"
    names = [f"{prefix}-{kind}-idx{rank}-ubyte", f"{prefix}-{kind}.idx{rank}-ubyte"]
    return [n + ext for n in names for ext in ("", ".gz")]


def find_idx_files(folder: str | Path, split: str = "train") -> tuple[Path, Path | None]:
    """Locate the images (and labels) IDX files of a split in the supported layouts.

    Returns
    -------
    images : Path
    labels : Path or None
        None when the folder holds the images but no labels file.

    Raises
    ------
    DataError
        If ``split`` is unknown, the folder does not exist, or no images file is found.
    """
    folder = Path(folder)
    if split not in _SPLIT_PREFIX:
        raise DataError(f"{folder}: split must be one of {list(_SPLIT_PREFIX)}, "
                        f"found {split!r}")
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    prefix = _SPLIT_PREFIX[split]
    dirs = [folder, folder / "raw", *sorted(p / "raw" for p in folder.iterdir() if p.is_dir())]
    for d in dirs:
        for name in _idx_candidates(prefix, "images"):
            images = d / name
            if images.is_file():
                labels = next((d / n for n in _idx_candidates(prefix, "labels")
                               if (d / n).is_file()), None)
                for found in (images, labels):
                    if found is not None:
                        _check_inside(found, folder)
                return images, labels
    raise DataError(
        f"{folder}: no IDX images for split {split!r}: expected {prefix}-images-idx3-ubyte"
        f"[.gz] in the folder, in raw/ or in <name>/raw/ (torchvision layout)"
    )


def _guess_class_names(path: Path, labels: np.ndarray | None) -> tuple[str, ...]:
    if labels is None or labels.size == 0:
        return ()
    n = int(labels.max()) + 1
    if "fashion" in str(path).lower() and n <= len(FASHION_CLASSES):
        return FASHION_CLASSES
    return tuple(str(i) for i in range(n))


def load_idx_folder(folder: str | Path, split: str = "train",
                    class_names: tuple[str, ...] | None = None) -> ImageSet:
    """Load an MNIST-style IDX data set (Fashion-MNIST, MNIST, KMNIST, ...).

    Parameters
    ----------
    folder : str or Path
        See the module docstring for the layouts looked for.
    split : {"train", "test"}
    class_names : tuple of str, optional
        Default: :data:`FASHION_CLASSES` when the path mentions "fashion", else "0", "1", ...

    Returns
    -------
    ImageSet
        images uint8 ``(N, H, W)``, labels int64 ``(N,)`` (None if there is no labels file).

    Raises
    ------
    DataError
        No files found, a malformed file, images that are not uint8 ``(N, H, W)``, labels that
        are not ``(N,)``, or a different number of images and labels.
    """
    images_path, labels_path = find_idx_files(folder, split)
    images = read_idx(images_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected uint8 images of shape (N, H, W), found "
                        f"{images.dtype} of shape {images.shape}")
    labels = None
    if labels_path is not None:
        raw_labels = read_idx(labels_path)
        if raw_labels.ndim != 1:
            raise DataError(f"{labels_path}: expected labels of shape (N,), found shape "
                            f"{raw_labels.shape}")
        if raw_labels.shape[0] != images.shape[0]:
            raise DataError(f"{labels_path}: {raw_labels.shape[0]} labels for "
                            f"{images.shape[0]} images in {images_path.name}: expected "
                            "the same number")
        labels = raw_labels.astype(np.int64)
        if labels.size and labels.min() < 0:
            raise DataError(f"{labels_path}: expected labels >= 0, found {labels.min()}")
    names = tuple(class_names) if class_names is not None else _guess_class_names(
        images_path, labels)
    return ImageSet(images, labels, names, f"{images_path} ({split})")


# ------------------------------------------------------------------------------- images


def _decode(path: Path, size: int | None, channels: int | None) -> np.ndarray:
    """Decode one image to uint8 ``(H, W)`` or ``(H, W, 3)``; raises DataError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if size is not None and (not isinstance(size, (int, np.integer)) or size < 1):
        raise DataError(f"{path}: size must be a positive integer or None, found {size!r}")
    if channels not in (None, 1, 3):
        raise DataError(f"{path}: channels must be 1, 3 or None, found {channels!r}")
    try:
        with warnings.catch_warnings():
            # We apply our own, lower limit below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                color = img.mode not in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F") \
                    and not (img.mode == "P" and _grey_palette(img))
                want_rgb = channels == 3 or (channels is None and color)
                if size is not None:
                    # JPEG: let the decoder scale down by 1/2..1/8 while decoding.
                    img.draft("RGB" if want_rgb else "L", (size, size))
                if img.size[0] * img.size[1] > MAX_IMAGE_PIXELS:
                    raise DataError(f"{path}: image too large: {width} x {height} pixels, "
                                    f"expected at most {MAX_IMAGE_PIXELS:,} pixels")
                img.load()
                if size is not None and min(img.size) >= 4 * size:
                    img = _reduce(img, min(img.size) // (2 * size))
                img = _to_mode(img, "RGB" if want_rgb else "L")
                if size is not None and img.size != (size, size):
                    img = ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR,
                                       centering=(0.5, 0.5))
                return np.asarray(img, dtype=np.uint8).copy()
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: image too large (decompression bomb guard): {exc}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read (expected PNG, JPEG, BMP, "
                        "GIF, WebP or TIFF)") from None
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise DataError(f"{path}: cannot decode image ({exc})") from None


def _reduce(img, factor: int):
    """Shrink by an integer factor (box filter) before mode conversion, to save memory."""
    try:
        return img.reduce(factor) if factor > 1 else img
    except (ValueError, NotImplementedError):  # modes such as "1" and "P" cannot be reduced
        return img


def _grey_palette(img) -> bool:
    palette = img.getpalette() or []
    rgb = np.asarray(palette[: len(palette) // 3 * 3], dtype=np.int16).reshape(-1, 3)
    return bool(np.all(rgb == rgb[:, :1]))


def _to_mode(img, mode: str):
    """Convert to "L" or "RGB"; transparency is composited on black, 16-bit is rescaled."""
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        grey = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
        return grey.convert(mode)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, rgba)
    return img if img.mode == mode else img.convert(mode)


def load_image(path: str | Path, size: int | None = None,
               channels: int | None = None) -> np.ndarray:
    """Read one image file.

    Parameters
    ----------
    path : str or Path
    size : int, optional
        Centre-crop to a square and resize to ``size x size``; None keeps the original size.
    channels : {1, 3}, optional
        1: grayscale ``(H, W)``; 3: colour ``(H, W, 3)``; None: as stored (grayscale and
        grey-palette images give ``(H, W)``, everything else ``(H, W, 3)``).

    Returns
    -------
    ndarray, uint8, shape (H, W) or (H, W, 3)

    Raises
    ------
    DataError
        Missing, unreadable, truncated or too large (more than :data:`MAX_IMAGE_PIXELS`).
    """
    return _decode(Path(path), size, channels)


def _check_inside(path: Path, folder: Path) -> None:
    """Refuse ``path`` (found inside ``folder``) if a symbolic link takes it outside."""
    try:
        real, root = path.resolve(strict=True), folder.resolve(strict=True)
    except (OSError, RuntimeError):
        raise DataError(f"{path}: a symbolic link that cannot be resolved (a loop?)") from None
    if not _inside(real, root):
        raise DataError(f"{path}: leads to {real} through a symbolic link, outside the chosen "
                        f"folder {root}; diffview reads only files inside the folder you chose")


def _is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith(".")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _folder_files(root: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """Every regular file under ``root`` (resolved), as ``(path, parts relative to root)``.

    Symbolic links are resolved. One that leads outside ``root``, or into a folder on the way
    to itself (``up -> ..``, a loop), or cannot be resolved because it points to itself,
    raises :class:`DataError` naming the link; broken links are ignored like unreadable files.
    """
    files: list[tuple[Path, tuple[str, ...]]] = []
    # (folder as reached, its real path, relative parts, real paths of the folders above it)
    stack = [(root, root, (), (root,))]
    while stack:
        here, real_here, parts, chain = stack.pop()
        if len(parts) > MAX_FOLDER_DEPTH:
            raise DataError(f"{here}: folders nested deeper than {MAX_FOLDER_DEPTH} levels "
                            f"inside {root}; expected images or one folder per class")
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as exc:
            raise DataError(f"{here}: cannot list the folder ({exc.strerror or exc})") from None
        for entry in entries:
            path = Path(entry.path)
            real = path
            if entry.is_symlink():
                try:
                    real = path.resolve(strict=True)
                except FileNotFoundError:
                    continue  # a broken link: nothing to read
                except (OSError, RuntimeError):  # ELOOP / "Symlink loop"
                    raise DataError(f"{path}: a symbolic link that leads back to itself (a "
                                    "loop); remove it from the folder") from None
                if not _inside(real, root):
                    raise DataError(
                        f"{path}: a symbolic link to {real}, outside the chosen folder {root}; "
                        "diffview reads only files inside the folder you chose")
            try:
                is_dir = real.is_dir()
                is_file = not is_dir and real.is_file()
            except OSError:
                continue
            if is_dir:
                if real in chain:
                    raise DataError(
                        f"{path}: a symbolic link to {real}, a folder that contains it (a "
                        "loop); remove it from the folder")
                stack.append((path, real, (*parts, entry.name), (*chain, real)))
            elif is_file:
                files.append((path, (*parts, entry.name)))
    files.sort(key=lambda f: f[1])
    return files


def load_image_folder(folder: str | Path, size: int = 28, channels: int = 1,
                      limit: int | None = None) -> ImageSet:
    """Read a folder of images, with class labels when it has one subfolder per class.

    Parameters
    ----------
    folder : str or Path
        Images directly inside (no labels), or in subfolders named after their classes
        (then images at the top level are ignored).
    size : int
        Every image is centre-cropped to a square and resized to ``size x size``.
    channels : {1, 3}
    limit : int, optional
        Read at most this many images (in sorted path order).

    Returns
    -------
    ImageSet
        images uint8 ``(N, size, size)`` (channels 1) or ``(N, size, size, 3)``; files that
        could not be decoded are left out and counted in ``skipped``.

    Raises
    ------
    DataError
        The folder is missing, empty, holds no image files, or none of them could be read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    if channels not in (1, 3):
        raise DataError(f"{folder}: channels must be 1 or 3, found {channels!r}")
    try:
        root = folder.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise DataError(f"{folder}: cannot resolve the folder ({exc})") from None
    everything = _folder_files(root)
    images_found = [(f, p) for f, p in everything if _is_image_name(p[-1])]
    class_names = tuple(sorted({p[0] for _, p in images_found
                                if len(p) > 1 and not p[0].startswith(".")}))
    if class_names:
        index = {name: k for k, name in enumerate(class_names)}
        files = [(f, index[p[0]]) for name in class_names
                 for f, p in images_found if len(p) > 1 and p[0] == name]
    else:
        files = [(f, -1) for f, _ in images_found]
    if not files:
        others = len(everything)
        if others == 0:
            raise DataError(f"{folder}: empty folder, expected image files "
                            f"({', '.join(IMAGE_SUFFIXES)})")
        raise DataError(f"{folder}: no images found: expected files ending in "
                        f"{', '.join(IMAGE_SUFFIXES)}, found {others} other file(s)")
    if limit is not None:
        files = files[: max(int(limit), 0)]
    images, labels, reasons = [], [], Counter()
    for path, label in files:
        try:
            images.append(_decode(path, size, channels))
        except DataError as exc:
            reasons["too large" if "too large" in str(exc) else "unreadable"] += 1
            continue
        labels.append(label)
    skipped = sum(reasons.values())
    if not images:
        why = ", ".join(f"{n} {r}" for r, n in reasons.items())
        raise DataError(f"{folder}: no readable images: all {len(files)} image file(s) "
                        f"failed to load ({why})")
    source = f"{folder} (image folder)"
    if skipped:
        source += f", skipped {skipped} file(s): " + ", ".join(
            f"{n} {r}" for r, n in reasons.items())
    label_array = np.asarray(labels, dtype=np.int64) if class_names else None
    return ImageSet(np.stack(images), label_array, class_names, source, skipped)


# --------------------------------------------------------------------------- npz, dispatch


def load_npz(path: str | Path) -> ImageSet:
    """Read an ``.npz`` with ``images`` uint8 ``(N, H, W[, C])`` and optional ``labels``
    ``(N,)`` and ``class_names`` (the format of the bundled samples)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                inflated = sum(info.file_size for info in z.infolist())
            if inflated > MAX_IDX_BYTES:
                raise DataError(f"{path}: its arrays inflate to {inflated:,} bytes, more than "
                                f"the {MAX_IDX_BYTES:,} a data file may hold")
        with np.load(path, allow_pickle=False) as npz:
            contents = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError, zlib.error, EOFError, zipfile.BadZipFile, KeyError,
            MemoryError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable .npz archive ({text[:200]})") from None
    if "images" not in contents:
        raise DataError(f"{path}: expected an 'images' array, found {sorted(contents)}")
    images = contents["images"]
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DataError(f"{path}: expected uint8 images of shape (N, H, W) or (N, H, W, C), "
                        f"found {images.dtype} of shape {images.shape}")
    labels = contents.get("labels")
    if labels is not None:
        if labels.shape != (images.shape[0],):
            raise DataError(f"{path}: expected labels of shape ({images.shape[0]},), "
                            f"found {labels.shape}")
        labels = labels.astype(np.int64)
    names = tuple(str(s) for s in contents.get("class_names", np.array([], dtype=str)))
    return ImageSet(images, labels, names, str(path))


_IDX_NAME = re.compile(r"(train|t10k)-images[-.]idx3-ubyte(\.gz)?$")


def load_dataset(path: str | Path, split: str = "train", size: int = 28, channels: int = 1,
                 limit: int | None = None) -> ImageSet:
    """Load images from whatever ``path`` is: an IDX folder, an image folder, an IDX images
    file, an ``.npz`` or a single image.

    Parameters
    ----------
    path : str or Path
    split : {"train", "test"}
        For IDX data; ignored otherwise (an IDX file names its own split).
    size, channels, limit
        For image folders and single images; IDX and npz data keep their own size.

    Raises
    ------
    DataError
        Naming the path, when nothing usable is found.
    """
    path = Path(path)
    if path.is_dir():
        try:
            find_idx_files(path, split)
        except DataError:
            return load_image_folder(path, size=size, channels=channels, limit=limit)
        return load_idx_folder(path, split)
    if not path.exists():
        raise DataError(f"{path}: not found")
    if path.suffix.lower() == ".npz":
        return load_npz(path)
    match = _IDX_NAME.search(path.name)
    if match:
        return load_idx_folder(path.parent, "train" if match.group(1) == "train" else "test")
    image = load_image(path, size=size, channels=channels)
    return ImageSet(image[None], None, (), str(path))


def bundled_samples() -> ImageSet:
    """The small Fashion-MNIST test-split subset shipped in ``resources/samples``.

    Raises
    ------
    DataError
        If the sample file is missing from this installation.
    """
    from diffview.paths import resource

    path = resource("samples", SAMPLES_FILE)
    if not path.is_file():
        raise DataError(f"{path}: bundled sample images not found (the installation is "
                        "incomplete; scripts/make_samples.py builds them)")
    samples = load_npz(path)
    return ImageSet(samples.images, samples.labels, samples.class_names or FASHION_CLASSES,
                    f"bundled Fashion-MNIST samples ({len(samples)} test images)")


# ------------------------------------------------------------------------------ conversion


def to_model_range(images: np.ndarray,
                   value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """uint8 pixels -> float32 model input.

    Parameters
    ----------
    images : ndarray, uint8
        ``(N, H, W)`` grayscale, ``(N, H, W, C)`` channels-last, or one ``(H, W)`` image.
    value_range : (float, float)
        Pixel 0 maps to the low end, 255 to the high end.

    Returns
    -------
    ndarray, float32, shape (N, C, H, W)
    """
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        x = np.moveaxis(x, -1, 1)
    else:
        raise ValueError(f"expected images of shape (H, W), (N, H, W) or (N, H, W, C), "
                         f"found {x.shape}")
    lo, hi = value_range
    out = x.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
    return np.ascontiguousarray(out)


def to_uint8(x: np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Model-range floats -> uint8 pixels (clipped; NaN becomes 0).

    Parameters
    ----------
    x : ndarray, float
        ``(N, C, H, W)`` model output, or any other shape (converted elementwise).
    value_range : (float, float)

    Returns
    -------
    ndarray, uint8
        ``(N, H, W)`` when C = 1, ``(N, H, W, C)`` for C > 1; other shapes unchanged.
    """
    x = np.asarray(x, dtype=np.float32)
    lo, hi = value_range
    scaled = np.nan_to_num((x - lo) * (255.0 / (hi - lo)), nan=0.0, posinf=255.0, neginf=0.0)
    pixels = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if pixels.ndim == 4:
        pixels = pixels[:, 0] if pixels.shape[1] == 1 else np.moveaxis(pixels, 1, -1)
    return np.ascontiguousarray(pixels)
