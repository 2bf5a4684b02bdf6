"""The trained 2-D network of the SDE panel: loading it per data set off the GUI thread."""

from __future__ import annotations

from diffview.gui.panels._sde2d_ui import NO_MODEL_TIP, set_item_enabled

__all__ = ["LearnedMixin"]


class LearnedMixin:
    """Learned-score state of :class:`~diffview.gui.panels.sde2d.Sde2DPanel` (needs its
    ``score_combo``, ``view_combo``, ``_model_loader``, ``_wanted_learned`` ...)."""

    def _on_model_loaded(self, _rid: int, result) -> None:
        name, model, error = result
        if error:
            self.context.report_status(f"2-D network for {name} not usable: {error}")
        if name != self.dataset:
            return
        self._set_learned_model(model, name, loading=False)
        self._update_enabled()
        self._redraw()
        self.learned_changed.emit(model is not None)

    def _set_learned_model(self, model, name: str, loading: bool) -> None:
        """Enable the learned-score choices when ``model`` exists; remember the user's choice
        while a model loads so it comes back when the model is there."""
        self._learned_model = model
        if model is not None:
            tip = ""
        elif loading:
            tip = "Loading the trained 2-D network…"
        else:
            tip = NO_MODEL_TIP.format(name=name)
        for key in ("learned", "both"):
            set_item_enabled(self.score_combo, key, model is not None, tip)
        set_item_enabled(self.view_combo, "error", model is not None, tip)
        if model is None:
            wanted_score = self.score_source if self.score_source != "exact" else None
            wanted_view = "error" if self.view_mode == "error" else None
            if loading and (wanted_score or wanted_view):
                self._wanted_learned = (wanted_score, wanted_view)
            elif not loading:
                self._wanted_learned = None
            self.score_combo.blockSignals(True)
            self.view_combo.blockSignals(True)
            if wanted_score:
                self.score_combo.setCurrentIndex(self.score_combo.findData("exact"))
            if wanted_view:
                self.view_combo.setCurrentIndex(self.view_combo.findData("both"))
            self.score_combo.blockSignals(False)
            self.view_combo.blockSignals(False)
        elif self._wanted_learned is not None:
            score, view = self._wanted_learned
            self._wanted_learned = None
            self.score_combo.blockSignals(True)
            self.view_combo.blockSignals(True)
            if score:
                self.score_combo.setCurrentIndex(self.score_combo.findData(score))
            if view:
                self.view_combo.setCurrentIndex(self.view_combo.findData(view))
            self.score_combo.blockSignals(False)
            self.view_combo.blockSignals(False)

    def learned_loading(self) -> bool:
        """True while the data set's trained network is being looked up (for tests)."""
        return self._model_loader.is_busy()
