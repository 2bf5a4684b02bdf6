"""Drawing your own distribution on the 2-D SDE panel's left plot."""

from __future__ import annotations

import numpy as np

from diffview.gui.panels._sde2d_compute import mixture_from_drawing
from diffview.gui.panels._sde2d_ui import DRAWING, set_item_enabled

__all__ = ["DrawingMixin"]


class DrawingMixin:
    """The drawing half of :class:`~diffview.gui.panels.sde2d.Sde2DPanel` (needs its
    ``plot_a``, ``draw_btn``, ``draw_std_spin``, ``dataset_combo``, ``_drawn`` ...)."""

    def set_drawing(self, on: bool) -> None:
        """Drawing mode: drags on the left plot add points; leaving it fits the mixture."""
        self.plot_a.view.drawing = bool(on)
        if self.draw_btn.isChecked() != bool(on):
            self.draw_btn.blockSignals(True)
            self.draw_btn.setChecked(bool(on))
            self.draw_btn.blockSignals(False)
        self.draw_btn.setText("Use drawing as data" if on else "Draw my distribution")
        if on:
            self.context.report_status("Drag on the left plot to draw; click again to use it.")
            self._show_drawn()
        elif self._drawn:
            self.use_drawing()
        else:
            self._show_drawn()

    def add_drawn_point(self, x: float, y: float) -> None:
        self._drawn.append((x, y))
        self._show_drawn()

    def _show_drawn(self, *_) -> None:
        """The strokes not yet used, as discs of radius σ (the brush's footprint)."""
        if self.plot_a.view.drawing and self._drawn:
            self.plot_a.set_drawn(np.asarray(self._drawn), self.draw_std_spin.value())
        else:
            self.plot_a.set_drawn(None, 0.0)

    def clear_drawing(self) -> None:
        self._drawn = []
        self._show_drawn()

    def use_drawing(self) -> None:
        """Fit the drawn points as a mixture of small Gaussians and make it the data set."""
        try:
            self._drawn_mixture = mixture_from_drawing(np.asarray(self._drawn),
                                                       self.draw_std_spin.value())
        except ValueError as exc:
            self.context.report_status(str(exc))
            return
        set_item_enabled(self.dataset_combo, DRAWING, True)
        self._show_drawn()
        self._trained.pop(DRAWING, None)   # a network of an earlier drawing does not apply
        k = self._drawn_mixture.n_components
        self.context.report_status(f"Drawing: a kernel density of {k} Gaussians of σ = "
                                   f"{self.draw_std_spin.value():g} (its score is exact). "
                                   "Train network to learn it.")
        idx = self.dataset_combo.findData(DRAWING)
        if self.dataset_combo.currentIndex() == idx:
            self._on_dataset_changed()
        else:
            self.dataset_combo.setCurrentIndex(idx)
