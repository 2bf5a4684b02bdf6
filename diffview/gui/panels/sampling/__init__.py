"""The sampling panel: a sampler turning noise into images, replayed step by step, and the
sampler race.

- :mod:`.state`: the Qt-free :class:`SamplingState` (what the panel shows; sessions save it);
- :mod:`.panel`: :class:`SamplingPanel`, which composes the views and starts the runs;
- views: :mod:`.controls` (settings rows), :mod:`.trajectory` (x_t | x0, plots, timeline),
  :mod:`.race` (the race tab), drawn on :mod:`.board` image boards;
- Qt-free services: :mod:`.replay` (timeline, pixel values, animation frames),
  :mod:`.from_here` ("Denoise from here"); and :mod:`.pixels` (probe curves and markers).
"""

from diffview.gui.panels.sampling.panel import SamplingPanel
from diffview.gui.panels.sampling.state import NO_MODEL_TIP, SamplingState, parse_race_spec

__all__ = ["NO_MODEL_TIP", "SamplingPanel", "SamplingState", "parse_race_spec"]
