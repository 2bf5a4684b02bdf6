"""The Likelihood panel: the DDPM variational bound term by term, bits per dimension, the
probability-flow ODE likelihood beside it, and what each training objective weights.

Runs come from :mod:`diffview.runs.likelihood` through ``context.jobs``; the images are the
loaded training set if there is one, else the bundled test-split samples.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.imaging import IMAGE_FILTER, image_from_file, resize_image
from diffview.gui.jobs import Job
from diffview.gui.panels.likelihood.plots import LikelihoodPlots
from diffview.gui.panels.likelihood.state import ESTIMATORS, VARIANCES, LikelihoodState
from diffview.runs.likelihood import ElboSpec, OdeSpec, run_elbo, run_ode_nll

__all__ = ["LikelihoodPanel", "quantize"]

ELBO_JOB, ODE_JOB, USER_JOB = "Likelihood bound", "ODE likelihood", "Scoring your image"


def quantize(x: np.ndarray) -> np.ndarray:
    """Model-range floats onto the 8-bit grid 2 n / 255 - 1 (what the bound is defined on)."""
    levels = np.clip(np.rint((np.asarray(x, np.float64) + 1.0) * 127.5), 0, 255)
    return levels / 127.5 - 1.0


class LikelihoodPanel(QWidget):
    """How likely the model finds images, and why training optimises what it does.

    Signals
    -------
    result_ready(str)
        "elbo", "ode" or "user" when a run has finished and is drawn.
    """

    panel_name = "likelihood"
    title = "Likelihood"

    result_ready = Signal(str)

    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._elbo: dict | None = None
        self._ode: dict | None = None
        self._user_bpd: float | None = None
        self._last_images: np.ndarray | None = None
        self._shut_down = False
        # Settings and results in a strip on top, the plots below as wide as the dock.
        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        root.addWidget(self._build_controls())
        self.plots = LikelihoodPlots()
        root.addWidget(self.plots, 1)
        context.image_model_changed.connect(self._on_model_changed)
        self._on_model_changed(context.image_model)

    def _build_controls(self) -> QWidget:
        box = QWidget()
        strip = QHBoxLayout(box)
        strip.setContentsMargins(0, 0, 0, 0)
        group = QGroupBox("Estimate")
        form = QGridLayout(group)
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 10_000)
        self.n_spin.setValue(32)
        self.n_spin.setToolTip("The first N images of the data (the loaded training set, or the "
                               "bundled test-split samples)")
        self.variance_combo = QComboBox()
        for key, text in VARIANCES.items():
            self.variance_combo.addItem(text, key)
        self.variance_combo.setToolTip("The reverse step's fixed variance (Ho et al. 2020): "
                                       "β̃_t or β_t")
        self.estimator_combo = QComboBox()
        for key, text in ESTIMATORS.items():
            self.estimator_combo.addItem(text, key)
        self.estimator_combo.setToolTip("full: one draw of every L_t for every image (T network "
                                        "calls an image); fast: stratified t, refining until "
                                        "the standard error is below 0.05 bits/dim")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.ode_spin = QSpinBox()
        self.ode_spin.setRange(1, 10_000)
        self.ode_spin.setValue(8)
        self.ode_spin.setToolTip("Images for the ODE likelihood (about 100 ODE steps each)")
        for i, (label, w) in enumerate((("Images N", self.n_spin), ("Variance",
                                        self.variance_combo), ("Estimator", self.estimator_combo),
                                        ("Seed", self.seed_spin), ("ODE images", self.ode_spin))):
            form.addWidget(QLabel(label), i // 2, 2 * (i % 2))
            form.addWidget(w, i // 2, 2 * (i % 2) + 1)
        strip.addWidget(group)
        col = QVBoxLayout()
        self.elbo_button = QPushButton("Compute the bound")
        self.elbo_button.setToolTip("L = L_T + Σ L_{t−1} + L_0 in bits/dim (Ho et al. eq. 5)")
        self.elbo_button.clicked.connect(lambda: self.run_elbo())
        self.ode_button = QPushButton("ODE likelihood")
        self.ode_button.setToolTip("Exact log-likelihood along the probability-flow ODE "
                                   "(Song et al. 2021, sec. 4.3), Hutchinson divergence")
        self.ode_button.clicked.connect(lambda: self.run_ode())
        self.user_button = QPushButton("Score my image…")
        self.user_button.setToolTip("Your own picture, resized to the model and put on the "
                                    "8-bit grid; a picture unlike the training data scores "
                                    "worse (more bits/dim)")
        self.user_button.clicked.connect(self._ask_user_image)
        for b in (self.elbo_button, self.ode_button, self.user_button):
            col.addWidget(b)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.summary, 1)
        strip.addLayout(col, 1)
        return box

    # ---- data ------------------------------------------------------------------------------
    def images(self, n: int) -> np.ndarray:
        """The first ``n`` images of the data, uint8 (called on a worker)."""
        ds = self.context.dataset
        if ds is None:
            from diffview.core.data import bundled_samples

            ds = bundled_samples()
        return np.asarray(ds.images[:n])

    def _model_problem(self) -> str:
        model = self.context.image_model
        if model is None:
            return "Load an image model first (File > Open model)."
        info = model.info
        if info.kind != "image" or info.prediction != "eps":
            return "The likelihood needs an epsilon image model."
        return ""

    # ---- runs ------------------------------------------------------------------------------
    def run_elbo(self) -> None:
        problem = self._model_problem()
        if problem:
            self.context.report_status(problem)
            return
        model, n = self.context.image_model, self.n_spin.value()
        spec = ElboSpec(variance=self.variance_combo.currentData(),
                        estimator=self.estimator_combo.currentData(),
                        seed=self.seed_spin.value(), target_stderr=0.05)

        def start(token):
            images = self.images(n)
            self._last_images = images
            return (yield from run_elbo(spec, model, images, token))

        self.context.jobs.start(Job(ELBO_JOB, start, on_frame=self._on_elbo_frame,
                                    on_result=self._on_elbo, on_cancelled=self._on_elbo,
                                    lane=self._lane("elbo"), max_fps=5))

    def run_ode(self) -> None:
        problem = self._model_problem()
        if problem:
            self.context.report_status(problem)
            return
        model, n, seed = self.context.image_model, self.ode_spin.value(), self.seed_spin.value()

        def start(token):
            return (yield from run_ode_nll(OdeSpec(seed=seed), model, self.images(n), token))

        self.context.jobs.start(Job(ODE_JOB, start, on_result=self._on_ode,
                                    on_cancelled=self._on_ode, lane=self._lane("ode")))

    def score_image(self, path: str | Path) -> None:
        """The bound of one image file (fast estimator), drawn on the histogram."""
        problem = self._model_problem()
        if problem:
            self.context.report_status(problem)
            return
        model = self.context.image_model
        shape = tuple(model.info.sample_shape)
        spec = ElboSpec(variance=self.variance_combo.currentData(), estimator="fast",
                        seed=self.seed_spin.value(), target_stderr=0.05)

        def start(token):
            x = image_from_file(path)
            if x.shape[0] != shape[0]:
                x = np.repeat(x.mean(axis=0, keepdims=True), shape[0], axis=0)
            x = quantize(resize_image(x, shape))[None]
            return (yield from run_elbo(spec, model, x, token))

        self.context.jobs.start(Job(USER_JOB, start, on_result=self._on_user,
                                    error_title="Cannot score the image",
                                    lane=self._lane("user")))

    def _ask_user_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Score an image", "", IMAGE_FILTER)
        if path:
            self.score_image(path)

    # ---- results ---------------------------------------------------------------------------
    def _on_elbo_frame(self, frame) -> None:
        self.plots.show_elbo(frame.term_mean_bpd, frame.term_stderr_bpd, frame.image_bpd,
                             frame.eps_mse, frame.x0_mse)
        self._write_summary(live=(frame.bits_per_dim, frame.stderr, frame.n_done))

    def _on_elbo(self, result) -> None:
        if result is None:
            return
        self._elbo = result.to_json()
        for key in ("eps_mse", "x0_mse"):
            self._elbo[key] = [None if not math.isfinite(v) else float(v)
                               for v in np.asarray(getattr(result, key), float)]
        self._draw_elbo()
        self.plots.show_extremes(self._last_images, result.image_bpd)
        self.result_ready.emit("elbo")

    def _on_ode(self, result) -> None:
        if result is None:
            return
        self._ode = result.to_json() if hasattr(result, "to_json") else {
            "bits_per_dim": result.bits_per_dim, "stderr": result.stderr, "n": result.n,
            "image_bpd": [float(v) for v in result.image_bpd], "seconds": result.seconds,
            "cancelled": result.cancelled}
        self.plots.show_ode(_array(self._ode.get("image_bpd")))
        self._write_summary()
        self.result_ready.emit("ode")

    def _on_user(self, result) -> None:
        self._user_bpd = float(result.bits_per_dim)
        self.plots.show_user(self._user_bpd)
        self._write_summary()
        self.result_ready.emit("user")

    def _draw_elbo(self) -> None:
        e = self._elbo
        if e is None:
            return
        self.plots.show_elbo(_array(e.get("terms_bpd")), _array(e.get("terms_stderr_bpd")),
                             _array(e.get("image_bpd")), _array(e.get("eps_mse")),
                             _array(e.get("x0_mse")) if e.get("x0_mse") else None)
        self._write_summary()

    def _write_summary(self, live=None) -> None:
        lines = []
        if live is not None:
            bpd, se, n = live
            if math.isfinite(bpd):
                lines.append(f"<b>Bound so far</b>: {bpd:.3f} ± {se:.3f} bits/dim ({n} images)")
        elif self._elbo is not None:
            e = self._elbo
            note = " (cancelled: partial)" if e.get("cancelled") else ""
            lines.append(f"<b>ELBO</b>: {_num(e.get('bits_per_dim'))} ± {_num(e.get('stderr'))} "
                         f"bits/dim, {e.get('n')} images, {e.get('variance')} variance, "
                         f"{_num(e.get('seconds'), 1)} s{note}")
            prior = e.get("prior_bpd")
            prior = f"{prior:.2e}" if isinstance(prior, (int, float)) else "–"
            lines.append(f"prior L_T {prior}, decoder L_0 "
                         f"{_num(e.get('decoder_bpd'))} bits/dim")
        if self._ode is not None:
            o = self._ode
            lines.append(f"<b>ODE</b>: {_num(o.get('bits_per_dim'))} ± {_num(o.get('stderr'))} "
                         f"bits/dim, {o.get('n')} images, {_num(o.get('seconds'), 1)} s")
        if self._user_bpd is not None:
            lines.append(f"<b>Your image</b>: {self._user_bpd:.3f} bits/dim")
        if not lines:
            lines.append("No estimate yet: press <i>Compute the bound</i>. Fewer bits/dim means "
                         "the model finds the images more likely.")
        self.summary.setText("<br>".join(lines))

    def _on_model_changed(self, model) -> None:
        self._elbo = self._ode = None
        self._user_bpd = None
        self.plots.reset_plots()
        info = getattr(model, "info", None)
        ok = info is not None and info.kind == "image" and info.time_kind == "index"
        if ok:
            self.plots.show_weights(info.make_schedule())
        for b in (self.elbo_button, self.ode_button, self.user_button):
            b.setEnabled(model is not None)
        self._write_summary()

    # ---- the Panel protocol ----------------------------------------------------------------
    def _lane(self, what: str) -> str:
        return f"likelihood-{what}-{id(self)}"

    def state(self) -> LikelihoodState:
        return LikelihoodState(self.n_spin.value(), self.variance_combo.currentData(),
                               self.estimator_combo.currentData(), self.seed_spin.value(),
                               self.ode_spin.value(), self._elbo, self._ode)

    def state_dict(self) -> dict:
        return self.state().to_dict()

    def load_state(self, data: dict) -> None:
        s = LikelihoodState.from_dict(data)
        self.n_spin.setValue(s.n_images)
        self.variance_combo.setCurrentIndex(self.variance_combo.findData(s.variance))
        self.estimator_combo.setCurrentIndex(self.estimator_combo.findData(s.estimator))
        self.seed_spin.setValue(s.seed)
        self.ode_spin.setValue(s.ode_images)
        self._elbo, self._ode = s.elbo, s.ode
        self.plots.reset_plots()
        self._draw_elbo()
        if self._ode is not None:
            self.plots.show_ode(_array(self._ode.get("image_bpd")))
        self._write_summary()

    def is_busy(self) -> bool:
        return any(self.context.jobs.is_busy(self._lane(w)) for w in ("elbo", "ode", "user"))

    def shutdown(self) -> None:
        if not self._shut_down:
            self._shut_down = True
            for w in ("elbo", "ode", "user"):
                self.context.jobs.cancel(self._lane(w))

    def animation_source(self):
        return None

    def animation_hint(self) -> str:
        return "The Likelihood panel has no animation; export its view as PNG instead."

    def demo_state(self) -> None:
        """Nothing runs for a screenshot: the weighting explorer is drawn from the schedule."""


def _array(values) -> np.ndarray:
    if values is None:
        return np.zeros(0)
    return np.array([np.nan if v is None else float(v) for v in values], float)


def _num(value, digits: int = 3) -> str:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"
