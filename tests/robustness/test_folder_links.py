"""Image folders don't reach outside what the user chose: symbolic links are resolved, and a link
that escapes the folder or loops back into it refuses the folder with a message naming the link.
Links that stay inside the folder still work, and data errors always name the file."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest
from PIL import Image

from diffview.core.data import (
    DataError,
    find_idx_files,
    load_dataset,
    load_idx_folder,
    load_image_folder,
    load_npz,
    read_idx,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")


def _png(path, value: int = 128, size: int = 8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)
    return path


@pytest.fixture
def tree(tmp_path):
    """tmp_path/outside.png beside tmp_path/data/{a,b}/*.png: the user picks data/."""
    _png(tmp_path / "outside.png", 7)
    data = tmp_path / "data"
    for cls, values in (("a", (10, 20)), ("b", (30,))):
        for i, v in enumerate(values):
            _png(data / cls / f"{i}.png", v)
    return data


@pytest.mark.parametrize(("link", "target", "words"), [
    ("up", "..", "outside the chosen folder"),                  # the example
    ("a/up", "../..", "outside the chosen folder"),             # the same, one level down
    ("etc", "/etc", "outside the chosen folder"),               # a system folder
    ("passwd.png", "/etc/passwd", "outside the chosen folder"),  # a system file posing as image
    ("stolen.png", "../outside.png", "outside the chosen folder"),
    ("self", ".", "a folder that contains it (a loop)"),        # the folder itself
    ("a/back", "..", "a folder that contains it (a loop)"),     # back to the chosen folder
    ("a/me", ".", "a folder that contains it (a loop)"),
    ("x.png", "x.png", "leads back to itself (a loop)"),        # a link to itself
])
def test_links_out_of_the_folder_or_into_a_loop_are_refused(tree, link, target, words):
    if target.startswith("/") and not os.path.exists(target):
        pytest.skip(f"{target} does not exist here")
    os.symlink(target, tree / link)
    with pytest.raises(DataError) as err:
        load_image_folder(tree, size=8)
    message = str(err.value)
    assert words in message and str(tree.resolve() / link) in message
    assert "\n" not in message


def test_a_two_link_loop_is_refused(tree):
    os.symlink("../b", tree / "a" / "to_b")
    os.symlink("../a", tree / "b" / "to_a")
    with pytest.raises(DataError, match="a loop"):
        load_image_folder(tree, size=8)


def test_the_escape_is_refused_through_load_dataset_too(tree):
    os.symlink("..", tree / "up")
    with pytest.raises(DataError, match="outside the chosen folder"):
        load_dataset(tree, size=8)


def test_without_links_the_folder_loads_its_own_images_only(tree):
    s = load_image_folder(tree, size=8)
    assert s.class_names == ("a", "b") and len(s) == 3
    assert sorted(int(v) for v in s.images[:, 0, 0]) == [10, 20, 30]


def test_links_inside_the_folder_are_followed(tree):
    os.symlink("a", tree / "c")                  # a class that is another class's folder
    os.symlink("0.png", tree / "b" / "again.png")  # a file linked within the folder
    os.symlink("nowhere.png", tree / "b" / "broken.png")  # a broken link: ignored
    s = load_image_folder(tree, size=8)
    assert s.class_names == ("a", "b", "c")
    by_class = {name: sorted(int(v) for v in s.images[s.labels == k][:, 0, 0])
                for k, name in enumerate(s.class_names)}
    assert by_class == {"a": [10, 20], "b": [30, 30], "c": [10, 20]}


def test_a_chosen_folder_that_is_itself_a_link_works(tree, tmp_path):
    os.symlink(tree, tmp_path / "alias")
    assert len(load_image_folder(tmp_path / "alias", size=8)) == 3


def _idx(path, array: np.ndarray, dims=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    dims = array.shape if dims is None else dims
    header = struct.pack(">BBBB", 0, 0, 0x08, len(dims))
    header += b"".join(struct.pack(">I", d) for d in dims)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())
    return path


def test_an_idx_layout_reached_through_an_escaping_link_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    _idx(elsewhere / "raw" / "train-images-idx3-ubyte.gz", np.zeros((2, 4, 4)))
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    os.symlink(elsewhere, chosen / "FashionMNIST")
    with pytest.raises(DataError, match="outside the chosen folder") as err:
        load_idx_folder(chosen)
    assert "FashionMNIST" in str(err.value)
    inside = tmp_path / "inside"
    _idx(inside / "raw" / "train-images-idx3-ubyte.gz", np.ones((3, 4, 4)))
    assert find_idx_files(inside)[0].name == "train-images-idx3-ubyte.gz"


# --------------------------------------------------------------------- every error names a file


@pytest.mark.parametrize("dims", [
    (2**32 - 1, 2**32 - 1, 2**32 - 1),   # 2^96: past 2^64, numpy's int64 product would wrap
    (2**32 - 1,) * 4,
    (65536, 65536, 65536),              # exactly 2^48
    (100000, 28, 28),                   # plausible but far more than the file holds
])
def test_an_idx_header_whose_sizes_overflow_names_the_file(tmp_path, dims):
    path = _idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros(16), dims=dims)
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(path) in str(err.value)
    assert "bytes" in str(err.value) and "\n" not in str(err.value)


def test_every_folder_and_file_error_names_its_path(tmp_path):
    cases = []
    with pytest.raises(DataError) as err:
        find_idx_files(tmp_path, split="validation")
    cases.append((err, tmp_path))
    with pytest.raises(DataError) as err:
        load_image_folder(tmp_path, channels=2)
    cases.append((err, tmp_path))
    img = _png(tmp_path / "one.png")
    with pytest.raises(DataError) as err:
        load_dataset(img, size=0)
    cases.append((err, img))
    bad_zip = tmp_path / "bad.npz"
    bad_zip.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(DataError) as err:
        load_npz(bad_zip)
    cases.append((err, bad_zip))
    for err, path in cases:
        assert str(path) in str(err.value), str(err.value)


def test_an_npz_that_inflates_past_the_limit_is_refused_unread(tmp_path, monkeypatch):
    import diffview.core.data as data

    path = tmp_path / "big.npz"
    np.savez_compressed(path, images=np.zeros((64, 32, 32), np.uint8))
    monkeypatch.setattr(data, "MAX_IDX_BYTES", 10_000)
    with pytest.raises(DataError, match="inflate to 65,") as err:
        load_npz(path)
    assert str(path) in str(err.value)


def test_training_on_an_escaping_folder_is_one_line(tree, capsys):
    pytest.importorskip("torch")
    from diffview.cli import run_cli

    os.symlink("..", tree / "up")
    code = run_cli(["train", "--data", str(tree), "--steps", "1", "--image-size", "8",
                    "--run-dir", str(tree.parent / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "outside the chosen folder" in err
