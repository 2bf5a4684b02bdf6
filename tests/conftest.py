"""Shared test setup. Headless from the first line: Qt must never try to open a display."""

import os
import sys
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data" / "fashion-mnist"


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """Never touch the user's real QSettings or config: point Qt and XDG at a temp dir."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("DIFFVIEW_SETTINGS_DIR", str(home / "settings"))
    yield


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)


@pytest.fixture
def fashion_dir():
    """The full Fashion-MNIST IDX folder when this checkout sits beside ../shared."""
    if not (SHARED_DATA / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("../shared/data/fashion-mnist is not present")
    return SHARED_DATA


sys.path.insert(0, str(ROOT))
