"""The cold-diffusion panel: state (Qt-free), view, and the panel."""

from diffview.gui.panels.cold.panel import ColdPanel
from diffview.gui.panels.cold.state import ColdState

__all__ = ["ColdPanel", "ColdState"]
