"""Bad data opened in the app: a clear message, the loaded data set and image kept.

Data folders go through ``MainWindow.open_data`` (File > Open data folder), single images
through the forward panel's ``open_image`` (File > Open image, drag and drop). Both load on a
worker; a failure must name the path and the problem and leave what was loaded before.
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
from PIL import Image

from tests.core.test_data import _huge_bilevel_png, idx_bytes, write_split

from .conftest import expect_error


def _images(n, rng):
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)


def _labels(n, rng):
    return rng.integers(0, 10, n).astype(np.uint8)


def make_bad_folder(kind: str, folder, rng):
    """A data folder with one problem; returns the path to open."""
    folder.mkdir(parents=True)
    if kind == "wrong_magic":
        blob = bytearray(idx_bytes(_images(5, rng)))
        blob[0:4] = b"\x12\x34\x08\x03"
        (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(blob)))
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(_labels(5, rng))))
    elif kind == "truncated":
        blob = idx_bytes(_images(5, rng))
        cut = 16 + 2 * 28 * 28 + 300  # in the middle of the third image
        (folder / "train-images-idx3-ubyte").write_bytes(blob[:cut])
        (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(_labels(5, rng)))
    elif kind == "lengths":
        write_split(folder, _images(6, rng), _labels(4, rng))
    elif kind == "empty":
        pass
    elif kind == "non_images":
        for k in range(3):
            (folder / f"notes_{k}.txt").write_text("not an image\n")
        (folder / "fake.png").write_text("a text file named .png")
        (folder / "data.csv").write_text("a,b\n1,2\n")
    elif kind == "only_huge_png":
        _huge_bilevel_png(folder / "huge.png", 20000, 20000)
    return folder


BAD_FOLDERS = {
    "wrong_magic": "magic",
    "truncated": "truncated",
    "lengths": "4 labels for 6 images",
    "empty": "empty folder",
    "non_images": "no readable images",
    "only_huge_png": "too large",
}


def test_bad_data_folders_keep_the_loaded_data_set(qtbot, window, tmp_path, rng):
    ctx = window.context
    write_split(tmp_path / "good", _images(9, rng), _labels(9, rng))
    with qtbot.waitSignal(ctx.dataset_changed, timeout=30000):
        window.open_data(tmp_path / "good")
    good = ctx.dataset
    assert len(good) == 9
    for kind, needle in BAD_FOLDERS.items():
        folder = make_bad_folder(kind, tmp_path / kind, rng)
        title, message = expect_error(qtbot, ctx, lambda f=folder: window.open_data(f))
        assert title == "Cannot open data folder", kind
        assert str(tmp_path / kind) in message and needle in message, (kind, message)
        assert "Traceback" not in message, kind
        assert ctx.dataset is good, kind
        qtbot.waitUntil(window.progress.isHidden)
        window.close_error_boxes()
    missing = tmp_path / "no" / "such" / "folder"
    title, message = expect_error(qtbot, ctx, lambda: window.open_data(missing))
    assert str(missing) in message and "not found" in message
    assert ctx.dataset is good
    window.close_error_boxes()


def test_a_huge_png_among_good_images_is_skipped_and_counted(qtbot, window, tmp_path, rng):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(_images(1, rng)[0]).save(folder / f"ok_{k}.png")
    _huge_bilevel_png(folder / "huge.png", 20000, 20000)
    with qtbot.waitSignal(window.context.dataset_changed, timeout=30000) as blocker:
        window.open_data(folder)
    images = blocker.args[0]
    assert len(images) == 3 and images.skipped == 1
    assert images.images.shape == (3, 28, 28)


def test_bad_images_keep_the_forward_panels_image(qtbot, window, tmp_path):
    panel = window.panels["forward"]
    before = panel.x0.copy()
    huge = _huge_bilevel_png(tmp_path / "huge.png", 20000, 20000)
    folder_named_png = tmp_path / "folder.png"
    folder_named_png.mkdir()
    cases = {huge: "image too large",
             tmp_path / "missing.png": "No such file",
             folder_named_png: "folder.png"}
    for path, needle in cases.items():
        title, message = expect_error(qtbot, window.context,
                                      lambda p=path: panel.open_image(p))
        assert str(path.name) in message and needle in message, message
        np.testing.assert_array_equal(panel.x0, before)
        window.close_error_boxes()
    # the panel still scrubs
    panel.slider.setValue(400)
    assert panel.step == 400


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root reads files whatever their permissions")
def test_unreadable_file_and_folder(qtbot, window, tmp_path, rng):
    img = tmp_path / "locked.png"
    Image.fromarray(_images(1, rng)[0]).save(img)
    img.chmod(0)
    locked = tmp_path / "locked_dir"
    write_split(locked, _images(4, rng), _labels(4, rng))
    locked.chmod(0)
    try:
        _, message = expect_error(qtbot, window.context,
                                  lambda: window.panels["forward"].open_image(img))
        assert "locked.png" in message
        window.close_error_boxes()
        _, message = expect_error(qtbot, window.context, lambda: window.open_data(locked))
        assert "locked_dir" in message
        window.close_error_boxes()
    finally:
        locked.chmod(0o755)
        img.chmod(0o644)
