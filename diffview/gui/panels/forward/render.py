"""Draws the forward panel's scrub: x_t, the noise (or the change) and the histogram."""

from __future__ import annotations

import math

import numpy as np

from diffview.gui.imaging import histogram_density, to_display
from diffview.gui.panels.forward.process import ForwardProcess
from diffview.gui.panels.forward.widgets import DISPLAY_LEVELS, ForwardImages, ForwardPlots

__all__ = ["ScrubRenderer"]


class ScrubRenderer:
    """Updates the image items and plots in place for a step of a :class:`ForwardProcess`."""

    def __init__(self, process: ForwardProcess, images: ForwardImages,
                 plots: ForwardPlots) -> None:
        self.process = process
        self.images = images
        self.plots = plots
        self._xt_disp: np.ndarray | None = None
        self._noise_key = None

    def forget_noise(self) -> None:
        """The noise image must be redrawn at the next refresh (new noise or mode)."""
        self._noise_key = None

    def refresh(self, step: int, corruption: str, process_name: str) -> np.ndarray | None:
        """Draw step ``step``; returns x_t (C, H, W) when it was computed, else None (the
        closed form is drawn straight in display layout)."""
        model = self.process
        chain = process_name == "chain" and model.chain_ready() and corruption == "noise"
        xt = None
        if corruption == "noise" and not chain:
            if self._xt_disp is None or self._xt_disp.shape != model.x0_disp.shape:
                self._xt_disp = np.empty_like(model.x0_disp)
            disp = model.closed_form_display(step, out=self._xt_disp)
        else:
            xt = model.compute_xt(step, corruption, process_name)
            disp = to_display(xt)
        self.images.xt_item.setImage(disp, autoLevels=False, levels=DISPLAY_LEVELS)
        ab = model.schedule.alpha_bar_at_step(step)
        a, s = math.sqrt(ab), math.sqrt(max(0.0, 1.0 - ab))
        if corruption == "noise":
            if chain and step > 0:
                self._show_noise((xt - a * model.x0) / max(s, 1e-12), None,
                                 "effective ε of the chain")
            else:
                self._show_noise(model.noise_disp, ("eps", id(model.noise_disp)),
                                 "noise ε (held fixed)")
            coef = f"√ᾱ_t = {a:.4f}   √(1−ᾱ_t) = {s:.4f}"
        else:
            self._show_noise(xt - model.x0, None, "change x_t − x_0")
            coef = f"severity t/T = {step / model.schedule.T:.3f}"
        self.coef_text = coef
        self.images.xt_label.setText(f"x_t at t = {step}" + (" (chain)" if chain else ""))
        self.plots.set_cursor(step)
        values = disp.reshape(-1)
        if model.hist_index is not None:
            values = values[model.hist_index]
        counts, edges = histogram_density(values)
        self.plots.hist_curve.setData(edges, counts)
        return xt

    def _show_noise(self, x: np.ndarray, key, text: str) -> None:
        """Update the third image; an unchanged ``key`` (fixed ε) skips the redraw."""
        if key is not None and key == self._noise_key:
            return
        self._noise_key = key
        self.images.noise_item.setImage(x if key is not None else to_display(x),
                                        autoLevels=False, levels=DISPLAY_LEVELS)
        self.images.noise_label.setText(text)
