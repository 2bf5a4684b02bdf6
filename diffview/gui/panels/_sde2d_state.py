"""Session state and the screenshot demo of the 2-D SDE panel."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QComboBox

from diffview.gui.panels._sde2d_compute import mixture_from_drawing
from diffview.gui.panels._sde2d_ui import DRAWING, set_item_enabled

__all__ = ["StateMixin"]


class StateMixin:
    """``demo_state``, ``to_state`` and ``from_state`` of
    :class:`~diffview.gui.panels.sde2d.Sde2DPanel`."""

    def demo_state(self) -> None:
        """Moons under the VP SDE, a quarter of the way to noise, density and arrows on."""
        self.mode_combo.setCurrentIndex(self.mode_combo.findData("forward"))
        self.dataset_combo.setCurrentIndex(self.dataset_combo.findData("moons"))
        self.sde_combo.setCurrentIndex(self.sde_combo.findData("vp"))
        self.forward_combo.setCurrentIndex(self.forward_combo.findData("exact"))
        self.view_combo.setCurrentIndex(self.view_combo.findData("both"))
        self.arrows_check.setChecked(True)
        self.set_time(0.1)
        self.refresh_overlays_now()


    def to_state(self) -> dict:
        return {"mode": self.mode, "dataset": self.dataset, "sde": self.sde_combo.currentData(),
                "n": self.n_spin.value(), "seed": self.seed_spin.value(),
                "steps": self.steps_spin.value(), "forward": self.forward_method,
                "reverse": self.reverse_method, "score": self.score_source,
                "mcmc_step": self.mcmc_step_spin.value(), "view": self.view_mode,
                "arrows": self.arrows_check.isChecked(), "trails": self.trails_check.isChecked(),
                "zoom": self.zoom_check.isChecked(),
                "frame": self.time_slider.value(), "drawn": [list(p) for p in self._drawn],
                "draw_std": self.draw_std_spin.value(),
                "drawing_used": self._drawn_mixture is not None}

    def from_state(self, state: dict) -> None:
        def pick(box: QComboBox, key) -> None:
            i = box.findData(key)
            if i >= 0:
                box.setCurrentIndex(i)

        self.draw_std_spin.setValue(float(state.get("draw_std", 0.15)))
        self._drawn = [tuple(map(float, p)) for p in state.get("drawn", [])]
        if state.get("drawing_used") and self._drawn:
            self._drawn_mixture = mixture_from_drawing(np.asarray(self._drawn),
                                                       self.draw_std_spin.value())
            set_item_enabled(self.dataset_combo, DRAWING, True)
            self._trained.pop(DRAWING, None)
        pick(self.mode_combo, state.get("mode", "forward"))
        pick(self.sde_combo, state.get("sde", "vp"))
        self.n_spin.setValue(int(state.get("n", self.n_spin.value())))
        self.seed_spin.setValue(int(state.get("seed", 0)))
        self.steps_spin.setValue(int(state.get("steps", 200)))
        pick(self.dataset_combo, state.get("dataset", "double_gaussian"))
        pick(self.forward_combo, state.get("forward", "exact"))
        pick(self.reverse_combo, state.get("reverse", "sde"))
        score = state.get("score", "exact")
        view = state.get("view", "both")
        if self.learned_available or score == "exact":
            pick(self.score_combo, score)
        elif self.learned_loading():
            # the network is still loading: _set_learned_model picks these when it is there
            self._wanted_learned = (score, view if view == "error" else None)
        self.mcmc_step_spin.setValue(float(state.get("mcmc_step", 0.3)))
        if view != "error" or self.learned_available:
            pick(self.view_combo, view)
        self.arrows_check.setChecked(bool(state.get("arrows", False)))
        self.trails_check.setChecked(bool(state.get("trails", False)))
        self.zoom_check.setChecked(bool(state.get("zoom", self.zoom_check.isChecked())))
        self.set_frame(int(state.get("frame", 0)))
