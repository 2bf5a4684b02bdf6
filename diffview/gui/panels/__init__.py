"""The panels, one module or package each: forward, sampling, grid, sde2d, randomwalk, training.

Each panel is a Qt-free state object, a view and the services it owns; see
:mod:`diffview.gui.panel` for the protocol the main window uses.
"""

from diffview.gui.imaging import *  # noqa: F403 - transitional: import from diffview.gui.imaging
from diffview.gui.imaging import __all__  # noqa: F401
