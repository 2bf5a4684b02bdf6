"""The 1-D diffusion physics panel: state (Qt-free), parameter column, plots, and the panel."""

from diffview.gui.panels.randomwalk.controls import MODE_LABELS, PROB_STEPS
from diffview.gui.panels.randomwalk.panel import RandomWalkPanel
from diffview.gui.panels.randomwalk.state import RandomWalkState

__all__ = ["MODE_LABELS", "PROB_STEPS", "RandomWalkPanel", "RandomWalkState"]
