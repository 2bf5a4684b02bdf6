"""Cold diffusion both ways (Bansal et al. 2022): restoration networks undo blur, masking and
pixelation without noise, and only the right sampler does it well.

- **Algorithm 1 vs 2**: the same degraded image restored by the naive sampler
  x_{s-1} = D(R(x_s, s), s-1) and the improved one x_{s-1} = x_s - D(x0_hat, s) + D(x0_hat, s-1),
  live, with their PSNR at every step and a timeline to replay them.
- **Hot vs cold**: the same image degraded to the same severity by Gaussian noise and by the
  cold degradation, restored by DDIM (the loaded epsilon model) and by Algorithm 2.
- **Generate**: images from the fully degraded start distribution (a Gaussian mixture fitted
  to fully degraded training images, plus a little noise) walked back by Algorithm 2.

The restoration models are the bundled ``resources/models/cold_<degradation>.onnx``; the
forward panel's "Restore from here" hands its image over (``context.restore_requested``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffview.core.forward import mask_order
from diffview.gui.handover import DenoiseRequest
from diffview.gui.imaging import resize_image
from diffview.gui.jobs import Job
from diffview.gui.panels.cold.state import DEGRADATIONS, ColdState
from diffview.gui.panels.cold.view import ColdView
from diffview.runs.cold import (
    ColdGenerationSpec,
    HotColdSpec,
    RestorationSpec,
    degradation_of,
    run_cold_generation,
    run_hot_vs_cold,
    run_side_by_side,
)

__all__ = ["ColdPanel"]


class ColdPanel(QWidget):
    """Restoration and generation without noise.

    Signals
    -------
    result_ready(str)
        "side_by_side", "hot_cold" or "generate" when a run has finished and is drawn.
    """

    panel_name = "cold"
    title = "Cold diffusion"

    result_ready = Signal(str)

    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        from diffview.gui.panels.forward.samples import load_bundled

        self._bundled, self._names = load_bundled()
        self._models: dict[str, object] = {}
        self._given_x0: np.ndarray | None = None
        self._replay = None
        self._shut_down = False
        root = QVBoxLayout(self)  # settings strip on top, the images and plot below
        root.setContentsMargins(4, 4, 4, 4)
        root.addWidget(self._build_controls())
        right = QVBoxLayout()
        self.view = ColdView()
        right.addWidget(self.view, 1)
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setEnabled(False)
        self.timeline.setToolTip("Replay the restoration step by step")
        self.timeline.valueChanged.connect(self._show_step)
        right.addWidget(self.timeline)
        root.addLayout(right, 1)
        if hasattr(context, "restore_requested"):
            context.restore_requested.connect(self.restore_from)
        self._show_original()

    def _build_controls(self) -> QWidget:
        box = QWidget()
        strip = QHBoxLayout(box)
        strip.setContentsMargins(0, 0, 0, 0)
        group = QGroupBox("Degradation")
        form = QGridLayout(group)
        self.kind_combo = QComboBox()
        for key, text in DEGRADATIONS.items():
            self.kind_combo.addItem(text, key)
        self.kind_combo.setToolTip("Which degradation D(x_0, t) to invert; each has its own "
                                   "restoration network R(x_t, t) ≈ x_0 (L1 on x_0)")
        self.severity_spin = QSpinBox()
        self.severity_spin.setRange(1, 100)
        self.severity_spin.setValue(60)
        self.severity_spin.setSuffix(" %")
        self.severity_spin.setToolTip("How far the image is degraded: t / T")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(0, 10_000)
        self.steps_spin.setSpecialValueText("every step")
        self.steps_spin.setToolTip("Restoration steps from t down to 0 (0: every step)")
        self.sample_spin = QSpinBox()
        self.sample_spin.setRange(0, max(len(self._bundled) - 1, 0))
        self.sample_spin.setToolTip("Which bundled test image to degrade")
        self.sample_spin.valueChanged.connect(self._on_sample)
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 256)
        self.n_spin.setValue(16)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        for label, w in (("Degradation", self.kind_combo), ("Severity", self.severity_spin),
                         ("Steps", self.steps_spin), ("Image", self.sample_spin),
                         ("Generate N", self.n_spin), ("Seed", self.seed_spin)):
            k = form.count() // 2
            form.addWidget(QLabel(label), k // 2, 2 * (k % 2))
            form.addWidget(w, k // 2, 2 * (k % 2) + 1)
        strip.addWidget(group)
        col = QVBoxLayout()
        self.side_button = QPushButton("Algorithm 1 vs 2")
        self.side_button.setToolTip("Restore the degraded image with both samplers from the "
                                    "same start (Bansal et al. sec. 3.3)")
        self.side_button.clicked.connect(lambda: self.run_side_by_side())
        self.hot_button = QPushButton("Hot vs cold")
        self.hot_button.setToolTip("The same image noised and degraded to the same severity, "
                                   "restored by DDIM and by Algorithm 2")
        self.hot_button.clicked.connect(lambda: self.run_hot_cold())
        self.gen_button = QPushButton("Generate without noise")
        self.gen_button.setToolTip("Images from the fully degraded start distribution "
                                   "(blur and pixelate)")
        self.gen_button.clicked.connect(lambda: self.run_generate())
        for b in (self.side_button, self.hot_button, self.gen_button):
            col.addWidget(b)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        col.addWidget(self.summary, 1)
        strip.addLayout(col, 1)
        return box

    # ---- inputs ----------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.kind_combo.currentData()

    def model(self, kind: str):
        """The bundled restoration model of ``kind`` (loaded once; call from a worker)."""
        model = self._models.get(kind)
        if model is None:
            from diffview.engine import OnnxDenoiser
            from diffview.paths import resource

            model = OnnxDenoiser(resource("models", f"cold_{kind}.onnx"),
                                 device=self.context.device)
            degradation_of(model)       # refuse a file that is not a restoration model
            self._models[kind] = model
        return model

    def original(self) -> np.ndarray:
        """x_0 (1, C, H, W): the forward panel's image if one was handed over, else the chosen
        bundled sample."""
        x0 = self._given_x0 if self._given_x0 is not None \
            else self._bundled[self.sample_spin.value()]
        return np.asarray(x0, np.float32)[None]

    def restore_from(self, request: DenoiseRequest) -> None:
        """"Restore from here": take the forward panel's x_0, degradation and severity."""
        if request.x0 is None or request.degradation not in DEGRADATIONS:
            return
        x0 = np.asarray(request.x0, np.float32)
        if x0.shape != (1, 28, 28):
            gray = x0.mean(axis=0, keepdims=True) if x0.shape[0] != 1 else x0
            x0 = resize_image(gray, (1, 28, 28))
        self._given_x0 = x0
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(request.degradation))
        severity = getattr(request, "severity", None)
        if severity:
            self.severity_spin.setValue(max(1, round(100 * severity)))
        self.run_side_by_side()

    def _on_sample(self, _i: int) -> None:
        self._given_x0 = None
        self._show_original()

    def _show_original(self) -> None:
        self.view.show_tiles([self.original()[0]], ["x_0 (original)"])
        self.view.show_psnr([])
        self._write("Choose a degradation and press <i>Algorithm 1 vs 2</i>.")

    # ---- runs ------------------------------------------------------------------------------
    def run_side_by_side(self) -> None:
        kind, sev, x0 = self.kind, self.severity_spin.value() / 100.0, self.original()
        n_steps, seed = self.steps_spin.value() or None, self.seed_spin.value()

        def start(token):
            model = self.model(kind)
            deg = degradation_of(model)
            t = deg.step_for(sev)
            order = mask_order(x0.shape, np.random.default_rng(seed)) if kind == "mask" \
                else None
            x_t = deg(x0, t, order).astype(np.float32)
            spec = RestorationSpec(t=t, n_steps=n_steps, mask_seed=seed)
            result = yield from run_side_by_side(spec, model, x_t, x0=x0, order=order,
                                                 token=token)
            return t, x_t, result

        self.context.jobs.start(Job("Cold restoration", start, on_frame=self._on_side_frame,
                                    on_result=self._on_side_done,
                                    error_title="Cannot restore", lane=self._lane("run")))

    def _on_side_frame(self, f) -> None:
        x0 = self.original()[0]
        self.view.show_tiles([x0, None, f.x1[0], f.x0_hat1[0], f.x2[0], f.x0_hat2[0]],
                             ["x_0 (original)", "", f"Alg. 1: x at s = {f.next_s}",
                              "Alg. 1: R(x_s, s)", f"Alg. 2: x at s = {f.next_s}",
                              "Alg. 2: R(x_s, s)"])

    def _on_side_done(self, out) -> None:
        t, x_t, r = out
        self._replay = (t, x_t, r)
        k = r.naive.xs.shape[0] - 1
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, k)
        self.timeline.setValue(k)
        self.timeline.blockSignals(False)
        self.timeline.setEnabled(k > 0)
        p1 = None if r.psnr1 is None else r.psnr1[:, 0]
        p2 = None if r.psnr2 is None else r.psnr2[:, 0]
        self.view.show_psnr([p1, p2])
        self._show_step(k)
        if p1 is not None:
            self._write(f"From t = {t} ({self.kind}): Algorithm 1 ends at <b>{p1[-1]:.1f} dB"
                        f"</b>, Algorithm 2 at <b>{p2[-1]:.1f} dB</b> (PSNR against the "
                        f"original; higher is closer).")
        self.result_ready.emit("side_by_side")

    def _show_step(self, k: int) -> None:
        if self._replay is None:
            return
        t, x_t, r = self._replay
        k = int(min(k, r.naive.xs.shape[0] - 1))
        s = int(r.naive.steps[k])
        hat1 = r.naive.x0_hats[k - 1][0] if k > 0 else None
        hat2 = r.improved.x0_hats[k - 1][0] if k > 0 else None
        self.view.show_tiles([self.original()[0], x_t[0], r.naive.xs[k][0], hat1,
                              r.improved.xs[k][0], hat2],
                             ["x_0 (original)", f"degraded, t = {t}", f"Alg. 1: x at s = {s}",
                              "Alg. 1: R(x_s, s)", f"Alg. 2: x at s = {s}", "Alg. 2: R(x_s, s)"])
        self.view.set_cursor(k)

    def run_hot_cold(self) -> None:
        eps_model = self.context.image_model
        if eps_model is None or eps_model.info.prediction != "eps":
            self.context.report_status("Hot vs cold needs the epsilon image model loaded.")
            return
        kind, sev, x0 = self.kind, self.severity_spin.value() / 100.0, self.original()
        seed = self.seed_spin.value()

        def start(token):
            spec = HotColdSpec(severity=sev, seed=seed, mask_seed=seed)
            return (yield from run_hot_vs_cold(spec, eps_model, self.model(kind), x0, token))

        self.context.jobs.start(Job("Hot vs cold", start, on_result=self._on_hot_cold,
                                    error_title="Cannot compare", lane=self._lane("run")))

    def _on_hot_cold(self, r) -> None:
        self._replay = None
        self.timeline.setEnabled(False)
        self.view.show_psnr([])
        self.view.show_tiles(
            [r.x0[0], r.x_hot[0], r.restored_hot[0], r.x_cold[0], r.restored_cold[0]],
            ["x_0 (original)", f"noised (t index {r.hot_t_index})",
             f"DDIM: {r.psnr_hot[0]:.1f} dB", f"{self.kind} (s = {r.cold_step})",
             f"Algorithm 2: {r.psnr_cold[0]:.1f} dB"])
        self._write(f"Noise restored by DDIM: {r.psnr_hot[0]:.1f} dB in {r.hot_nfe} network "
                    f"calls; {self.kind} restored by Algorithm 2: {r.psnr_cold[0]:.1f} dB in "
                    f"{r.cold_nfe}.")
        self.result_ready.emit("hot_cold")

    def run_generate(self) -> None:
        kind, n, seed = self.kind, self.n_spin.value(), self.seed_spin.value()
        n_steps = self.steps_spin.value() or None

        def start(token):
            spec = ColdGenerationSpec(n=n, seed=seed, n_steps=n_steps)
            return (yield from run_cold_generation(spec, self.model(kind), token))

        self.context.jobs.start(Job("Cold generation", start, on_frame=self._on_gen_frame,
                                    on_result=self._on_generated,
                                    error_title="Cannot generate", lane=self._lane("run")))

    def _on_gen_frame(self, f) -> None:
        self.view.show_tiles([f.x, f.x0_hat], [f"x at s = {f.next_s}", "R(x_s, s) ≈ x_0"])

    def _on_generated(self, r) -> None:
        self._replay = None
        self.timeline.setEnabled(False)
        self.view.show_psnr([])
        self.view.show_tiles([r.starts, r.samples], ["starts x_T", "generated x_0"])
        self._write(f"{len(r.samples)} images from a start fitted to {r.fitted_to}, "
                    f"{r.nfe} network calls each, no noise in the steps.")
        self.result_ready.emit("generate")

    def _write(self, text: str) -> None:
        self.summary.setText(text)

    # ---- the Panel protocol ----------------------------------------------------------------
    def _lane(self, what: str) -> str:
        return f"cold-{what}-{id(self)}"

    def state(self) -> ColdState:
        return ColdState(self.kind, self.severity_spin.value() / 100.0, self.steps_spin.value(),
                         self.sample_spin.value(), self.n_spin.value(), self.seed_spin.value())

    def state_dict(self) -> dict:
        return self.state().to_dict()

    def load_state(self, data: dict) -> None:
        s = ColdState.from_dict(data)
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(s.degradation))
        self.severity_spin.setValue(max(1, round(100 * s.severity)))
        self.steps_spin.setValue(s.n_steps)
        self.sample_spin.setValue(min(s.sample, self.sample_spin.maximum()))
        self.n_spin.setValue(s.n_generate)
        self.seed_spin.setValue(s.seed)

    def is_busy(self) -> bool:
        return self.context.jobs.is_busy(self._lane("run"))

    def shutdown(self) -> None:
        if not self._shut_down:
            self._shut_down = True
            self.context.jobs.cancel(self._lane("run"))

    def animation_source(self):
        return None

    def animation_hint(self) -> str:
        return "The cold-diffusion panel has no animation export yet; use its timeline."

    def demo_state(self) -> None:
        """Nothing runs for a screenshot: the chosen image is shown."""
