"""The 2-D point-cloud SDE panel: Qt-free state and scene, controls, plots, and the services it
owns (overlays, learned networks, drawing and training, animation export)."""

from diffview.gui.panels.sde2d.panel import JOB_NAME, Sde2DPanel
from diffview.gui.panels.sde2d.state import MODES, SDE_LABELS, VIEWS, Sde2DState

__all__ = ["JOB_NAME", "MODES", "SDE_LABELS", "VIEWS", "Sde2DPanel", "Sde2DState"]
