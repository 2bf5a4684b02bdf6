"""core.data: IDX files and layouts, image folders, single images, samples, value conversion."""

import gzip
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from diffview.core import data
from diffview.core.data import (
    FASHION_CLASSES,
    DataError,
    bundled_samples,
    load_dataset,
    load_idx_folder,
    load_image,
    load_image_folder,
    read_idx,
    to_model_range,
    to_uint8,
)

_TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
               np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise an array in the IDX format (big-endian, like the original files)."""
    code = _TYPE_CODES[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, gz=False):
    payload = idx_bytes(array)
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def write_split(folder, images, labels, split="train", gz=True, dot=False):
    prefix = "train" if split == "train" else "t10k"
    sep = "." if dot else "-"
    ext = ".gz" if gz else ""
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{prefix}-images{sep}idx3-ubyte{ext}", images, gz)
    if labels is not None:
        write_idx(folder / f"{prefix}-labels{sep}idx1-ubyte{ext}", labels, gz)


@pytest.fixture
def small(rng):
    images = rng.integers(0, 256, (7, 5, 6), dtype=np.uint8)
    labels = rng.integers(0, 10, 7).astype(np.uint8)
    return images, labels


# ------------------------------------------------------------------------------------ read_idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_round_trip(tmp_path, rng, gz, dtype):
    array = (rng.standard_normal((3, 4, 2)) * 100).astype(dtype)
    back = read_idx(write_idx(tmp_path / "a.idx", array, gz))
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    back[0, 0, 0] = 1  # writable


@pytest.mark.parametrize(
    "head",
    [b"\x12\x34\x08\x03", b"\x00\x00\x07\x03", b"\x00\x00\x08\x00", b"\x00\x01\x08\x01"],
)
def test_wrong_magic(tmp_path, head):
    path = tmp_path / "bad-images-idx3-ubyte"
    path.write_bytes(head + bytes(64))
    with pytest.raises(DataError, match="not an IDX file") as info:
        read_idx(path)
    assert str(path) in str(info.value) and head.hex(" ") in str(info.value)


def test_text_file_is_not_idx(tmp_path):
    path = tmp_path / "x.gz"
    path.write_text("hello, I am text")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(path)


def test_empty_and_missing(tmp_path):
    (tmp_path / "e").write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        read_idx(tmp_path / "e")
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_mid_image(tmp_path, small, gz):
    images, _ = small
    payload = idx_bytes(images)
    cut = payload[: 16 + 3 * 30 + 11]  # header, 3 whole images, part of the 4th
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(gzip.compress(cut) if gz else cut)
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert str(info.value) == (f"{path}: truncated: expected 210 bytes of image data for shape "
                               "(7, 5, 6), found 101")


def test_truncated_gzip_stream(tmp_path, small):
    compressed = gzip.compress(idx_bytes(small[0]), compresslevel=0)
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[:120])  # stream cut short: partial data decompresses
    with pytest.raises(DataError, match=r"truncated: expected 210 bytes of image data"):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(6) + b"\xff" * 40)
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(path)


def test_gzip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_IDX_BYTES", 10_000)
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(bytes(50_000)))
    with pytest.raises(DataError, match="decompresses to more than 10,000 bytes"):
        read_idx(path)


def test_trailing_bytes(tmp_path, small):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(small[0]) + b"xyz")
    with pytest.raises(DataError, match="3 unexpected bytes"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "h"
    path.write_bytes(b"\x00\x00\x08\x03" + bytes(5))
    with pytest.raises(DataError, match="truncated header: expected 16 bytes"):
        read_idx(path)


# ------------------------------------------------------------------------------ IDX layouts


@pytest.mark.parametrize(
    ("sub", "gz", "dot"),
    [("", True, False),                     # Keras: gz files in one folder
     ("", False, False),                    # raw files copied by hand
     ("raw", True, False),                  # <root>/raw
     ("FashionMNIST/raw", False, False),    # torchvision, after extraction
     ("FashionMNIST/raw", True, False),     # torchvision, before extraction
     ("", False, True)],                    # the dotted names of some mirrors
)
def test_layouts(tmp_path, small, sub, gz, dot):
    images, labels = small
    root = tmp_path / "fashion"
    write_split(root / sub if sub else root, images, labels, gz=gz, dot=dot)
    s = load_idx_folder(root)
    np.testing.assert_array_equal(s.images, images)
    assert s.labels.dtype == np.int64
    np.testing.assert_array_equal(s.labels, labels)
    assert s.class_names == FASHION_CLASSES  # "fashion" in the path
    assert len(s) == 7 and s.image_shape == (5, 6) and s.channels == 1


def test_test_split_and_digit_names(tmp_path, small, rng):
    images, labels = small
    root = tmp_path / "mnist"
    write_split(root, images, labels, "train")
    write_split(root, images[:3], np.array([0, 1, 2], np.uint8), "test")
    s = load_idx_folder(root, "test")
    assert len(s) == 3 and s.class_names == ("0", "1", "2") and "(test)" in s.source
    assert load_idx_folder(root, "train", class_names=("a",) * 10).class_names[0] == "a"


def test_length_mismatch(tmp_path, small):
    images, labels = small
    write_split(tmp_path, images, labels[:5])
    with pytest.raises(DataError, match="5 labels for 7 images") as info:
        load_idx_folder(tmp_path)
    assert "train-labels-idx1-ubyte.gz" in str(info.value)


def test_missing_labels_give_none(tmp_path, small):
    write_split(tmp_path, small[0], None)
    s = load_idx_folder(tmp_path)
    assert s.labels is None and s.class_names == ()


def test_no_idx_files(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="no IDX images for split 'train'") as info:
        load_idx_folder(tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(DataError, match="split must be one of"):
        load_idx_folder(tmp_path, "validation")
    with pytest.raises(DataError, match="folder not found"):
        load_idx_folder(tmp_path / "missing")


def test_images_file_with_wrong_rank(tmp_path, rng):
    write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 9, (4, 4)).astype(np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 images of shape \(N, H, W\)"):
        load_idx_folder(tmp_path)


def test_real_fashion_mnist(fashion_dir):
    train = load_idx_folder(fashion_dir, "train")
    test = load_idx_folder(fashion_dir, "test")
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert train.images.dtype == np.uint8
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert train.class_names == FASHION_CLASSES
    assert train.images.max() == 255 and train.images.min() == 0
    # Garments are bright on a dark background: borders darker than the centre on average.
    assert train.images[:, 0, :].mean() < train.images[:, 10:18, 10:18].mean()


# ------------------------------------------------------------------------------ images


def _png(path, array, mode=None):
    Image.fromarray(array, mode).save(path)
    return path


def test_load_image_modes(tmp_path, rng):
    grey = rng.integers(0, 256, (10, 12), dtype=np.uint8)
    rgb = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    g, c = _png(tmp_path / "g.png", grey), _png(tmp_path / "c.png", rgb)
    np.testing.assert_array_equal(load_image(g), grey)
    np.testing.assert_array_equal(load_image(c), rgb)
    assert load_image(g, channels=3).shape == (10, 12, 3)
    assert load_image(c, channels=1).shape == (10, 12)
    assert load_image(c, size=8).shape == (8, 8, 3)
    assert load_image(g, size=28, channels=1).shape == (28, 28)


def test_transparent_pixels_become_black(tmp_path):
    rgba = np.full((4, 4, 4), 255, np.uint8)
    rgba[0, 0, 3] = 0
    out = load_image(_png(tmp_path / "a.png", rgba), channels=1)
    assert out[0, 0] == 0 and out[1, 1] == 255


def test_16_bit_png_is_rescaled(tmp_path):
    arr = np.array([[0, 65535], [32768, 1000]], np.uint16)
    Image.fromarray(arr).save(tmp_path / "d.png")
    out = load_image(tmp_path / "d.png")
    assert out.tolist() == [[0, 255], [128, 4]]


def test_load_image_errors(tmp_path, rng):
    (tmp_path / "t.png").write_text("not really a png")
    with pytest.raises(DataError, match="not an image Pillow can read"):
        load_image(tmp_path / "t.png")
    with pytest.raises(DataError, match="not found"):
        load_image(tmp_path / "none.png")
    good = _png(tmp_path / "g.png", rng.integers(0, 256, (40, 40), dtype=np.uint8))
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:800])  # ends inside IDAT
    with pytest.raises(DataError, match="cut.png"):
        load_image(tmp_path / "cut.png")
    with pytest.raises(DataError, match="channels"):
        load_image(good, channels=2)


def _huge_bilevel_png(path, width, height):
    """A 1-bit all-black PNG written row by row: tiny on disk, huge once decoded."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    row = bytes(1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def test_huge_png_is_refused_without_decoding(tmp_path):
    bomb = _huge_bilevel_png(tmp_path / "bomb.png", 20000, 20000)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(DataError, match="too large") as info:
        load_image(bomb, size=28)
    assert "bomb.png" in str(info.value)
    # Below Pillow's own bomb limit but above ours.
    big = _huge_bilevel_png(tmp_path / "big.png", 8000, 8000)
    with pytest.raises(DataError, match=r"image too large: 8000 x 8000 pixels"):
        load_image(big)


def test_big_jpeg_is_downscaled_by_the_decoder(tmp_path, monkeypatch, rng):
    Image.fromarray(rng.integers(0, 256, (800, 800, 3), dtype=np.uint8)).save(tmp_path / "b.jpg")
    _png(tmp_path / "b.png", rng.integers(0, 256, (800, 800), dtype=np.uint8))
    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 200 * 200)
    assert load_image(tmp_path / "b.jpg", size=28).shape == (28, 28, 3)  # drafted to 100x100
    with pytest.raises(DataError, match="too large"):
        load_image(tmp_path / "b.png", size=28)  # PNG has no draft mode


def test_large_allowed_png_is_reduced(tmp_path):
    arr = np.zeros((1200, 1600), np.uint8)
    arr[:, 800:] = 255
    out = load_image(_png(tmp_path / "wide.png", arr), size=28)
    assert out.shape == (28, 28)
    assert out[:, :10].max() < 30 and out[:, 18:].min() > 225  # centre crop keeps the edge


# ------------------------------------------------------------------------------ image folders


def test_flat_folder(tmp_path, rng):
    for i in range(3):
        _png(tmp_path / f"{i}.png", rng.integers(0, 256, (30, 20), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(tmp_path / "c.jpg")
    (tmp_path / "notes.txt").write_text("ignored")
    s = load_image_folder(tmp_path, size=16)
    assert s.images.shape == (4, 16, 16) and s.images.dtype == np.uint8
    assert s.labels is None and s.class_names == () and s.skipped == 0
    assert load_image_folder(tmp_path, size=8, channels=3).images.shape == (4, 8, 8, 3)
    assert len(load_image_folder(tmp_path, limit=2)) == 2


def test_class_subfolders(tmp_path, rng):
    for name, n in (("cats", 2), ("dogs", 3)):
        (tmp_path / name).mkdir()
        for i in range(n):
            _png(tmp_path / name / f"{i}.png", rng.integers(0, 256, (5, 5), dtype=np.uint8))
    (tmp_path / "empty_class").mkdir()
    s = load_image_folder(tmp_path, size=5)
    assert s.class_names == ("cats", "dogs")
    assert s.labels.tolist() == [0, 0, 1, 1, 1]
    assert len(s.of_class(1)) == 3


def test_unreadable_files_are_skipped_and_counted(tmp_path, rng):
    _png(tmp_path / "ok.png", rng.integers(0, 256, (5, 5), dtype=np.uint8))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "fake.jpg").write_text("text")
    _huge_bilevel_png(tmp_path / "huge.png", 8000, 8000)
    s = load_image_folder(tmp_path)
    assert len(s) == 1 and s.skipped == 3
    assert "2 unreadable" in s.source and "1 too large" in s.source


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="empty folder") as info:
        load_image_folder(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_folder_without_images(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.csv").write_text("y")
    with pytest.raises(DataError, match="no images found.*found 2 other file"):
        load_image_folder(tmp_path)


def test_folder_of_only_broken_images(tmp_path):
    (tmp_path / "a.png").write_text("x")
    (tmp_path / "b.jpg").write_text("y")
    with pytest.raises(DataError, match=r"no readable images: all 2 image file\(s\) failed"):
        load_image_folder(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        load_image_folder(tmp_path / "nope")


# ------------------------------------------------------------------------------ dispatch, samples


def test_load_dataset_dispatch(tmp_path, small, rng):
    images, labels = small
    write_split(tmp_path / "idx", images, labels)
    assert len(load_dataset(tmp_path / "idx")) == 7
    assert len(load_dataset(tmp_path / "idx" / "train-images-idx3-ubyte.gz")) == 7
    (tmp_path / "pics").mkdir()
    _png(tmp_path / "pics" / "a.png", rng.integers(0, 256, (5, 5), dtype=np.uint8))
    assert load_dataset(tmp_path / "pics", size=4).images.shape == (1, 4, 4)
    assert load_dataset(tmp_path / "pics" / "a.png", size=4).images.shape == (1, 4, 4)
    np.savez(tmp_path / "s.npz", images=images, labels=labels, class_names=np.array(["a"] * 10))
    s = load_dataset(tmp_path / "s.npz")
    np.testing.assert_array_equal(s.images, images)
    assert s.class_names == ("a",) * 10
    with pytest.raises(DataError, match="not found"):
        load_dataset(tmp_path / "missing")


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "f.npz", images=np.zeros((2, 3, 3), np.float32))
    with pytest.raises(DataError, match="expected uint8 images"):
        load_dataset(tmp_path / "f.npz")
    np.savez(tmp_path / "n.npz", pixels=np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(DataError, match="expected an 'images' array"):
        load_dataset(tmp_path / "n.npz")
    (tmp_path / "t.npz").write_text("nope")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_dataset(tmp_path / "t.npz")


def test_bundled_samples():
    s = bundled_samples()
    assert s.images.shape == (200, 28, 28) and s.images.dtype == np.uint8
    assert np.bincount(s.labels).tolist() == [20] * 10
    assert s.class_names == FASHION_CLASSES


def test_bundled_samples_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFVIEW_RESOURCES", str(tmp_path))
    with pytest.raises(DataError, match="fashion_mnist_samples.npz"):
        bundled_samples()


def test_bundled_samples_come_from_the_test_split(fashion_dir):
    test = load_idx_folder(fashion_dir, "test")
    s = bundled_samples()
    rows = {im.tobytes() for im in test.images}
    assert all(im.tobytes() in rows for im in s.images)


# ------------------------------------------------------------------------------ conversion


def test_model_range_round_trip(rng):
    images = rng.integers(0, 256, (4, 5, 6), dtype=np.uint8)
    x = to_model_range(images)
    assert x.shape == (4, 1, 5, 6) and x.dtype == np.float32
    assert to_model_range(np.array([[0, 255]], np.uint8)).ravel().tolist() == [-1.0, 1.0]
    np.testing.assert_array_equal(to_uint8(x), images)
    rgb = rng.integers(0, 256, (2, 3, 3, 3), dtype=np.uint8)
    assert to_model_range(rgb).shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(to_uint8(to_model_range(rgb)), rgb)
    np.testing.assert_array_equal(to_uint8(to_model_range(images, (0.0, 1.0)), (0.0, 1.0)),
                                  images)


def test_to_uint8_clips_and_handles_nan():
    x = np.array([[-3.0, 0.0, 1.0, 7.0, np.nan]], np.float32)
    assert to_uint8(x).tolist() == [[0, 128, 255, 255, 0]]
    with pytest.raises(ValueError, match="expected images"):
        to_model_range(np.zeros(3, np.uint8))
