"""The Likelihood panel: state (Qt-free), plots, and the panel."""

from diffview.gui.panels.likelihood.panel import LikelihoodPanel, quantize
from diffview.gui.panels.likelihood.state import LikelihoodState

__all__ = ["LikelihoodPanel", "LikelihoodState", "quantize"]
