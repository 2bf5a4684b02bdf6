"""The image grid: the last run's samples beside real images and each sample's nearest
training image.

- :mod:`.state`: the Qt-free :class:`GridState` (sessions save it) and :class:`NearestResult`;
- :mod:`.nearest`: the Qt-free nearest-neighbour search (:func:`nearest_neighbours`) and its run;
- :mod:`.view`: :class:`GridView`, the widgets; :mod:`.panel`: :class:`GridPanel`.
"""

from diffview.gui.panels.grid.nearest import nearest_neighbours
from diffview.gui.panels.grid.panel import GridPanel
from diffview.gui.panels.grid.state import GridState

__all__ = ["GridPanel", "GridState", "nearest_neighbours"]
