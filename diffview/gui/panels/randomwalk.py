"""1-D diffusion physics: Einstein's random walk, the heat equation, the Ornstein-Uhlenbeck process.

Lattice mode (seed 001): N walkers start at site 0; every step each one jumps left with
probability p, right with probability q, and stays otherwise.  The concentration obeys the
master equation

    C_i(t+1) = q C_{i-1}(t) + p C_{i+1}(t) + (1 - p - q) C_i(t),

whose continuum limit is the drift-diffusion (heat) equation dC/dt = -v dC/dx + D d²C/dx² with
D = (p + q)/2 and v = q - p, solved by C(x, t) = exp(-(x - vt)² / 4Dt) / sqrt(4 pi D t).
The mean squared displacement grows as <x²> = 2Dt + (vt)² (Einstein: linear in t without drift).

OU mode: dx = -gamma x dt + sigma dW from x(0) = x0 relaxes to N(0, sigma² / 2 gamma); at time
t the law is N(x0 e^{-gamma t}, sigma²/(2 gamma) (1 - e^{-2 gamma t})).

Each animation tick advances a few steps of cheap numpy on the GUI thread (N <= 100k).
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QWidget

from diffview.core import randomwalk as rw
from diffview.gui.panels._randomwalk_ui import MODES, PROB_STEPS, RandomWalkUiMixin

__all__ = ["MODES", "PROB_STEPS", "RandomWalkPanel"]

HISTORY_BUDGET_BYTES = 64 * 2**20      # positions of every step kept up to this size
OU_BINS = 61


class RandomWalkPanel(RandomWalkUiMixin, QWidget):
    """Particles, their histogram against the heat kernel and the master equation, and the MSD.

    Signals
    -------
    stepped(int)
        The step counter after an advance (or a reset to 0).
    """

    panel_name = "randomwalk"
    title = "1-D diffusion physics"

    stepped = Signal(int)

    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._rng = np.random.default_rng(0)
        self._pos = np.zeros(0)
        self._step = 0
        self._msd: list[float] = [0.0]
        self._mean: list[float] = [0.0]
        self._var: list[float] = [0.0]
        self._history: list[np.ndarray] | None = None
        self._conc = np.zeros(1)
        self._jitter = np.zeros(0)
        self._build_ui()
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(lambda: self.advance(self.per_frame_spin.value()))
        self.reset()

    # ---- UI ---------------------------------------------------------------------------------

    # ---- parameters ---------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.mode_combo.currentData()

    @property
    def p(self) -> float:
        return self.p_slider.value() * 0.5 / PROB_STEPS

    @property
    def q(self) -> float:
        return self.q_slider.value() * 0.5 / PROB_STEPS

    @property
    def D(self) -> float:  # noqa: N802 - the physics symbol
        """Diffusion coefficient (p + q) / 2 of the lattice walk."""
        return 0.5 * (self.p + self.q)

    @property
    def v(self) -> float:
        """Drift q - p (sites per step) of the lattice walk."""
        return self.q - self.p

    @property
    def step(self) -> int:
        return self._step

    @property
    def time(self) -> float:
        """Steps for the lattice walk, steps * dt for OU."""
        return float(self._step) * (self.dt_spin.value() if self.mode == "ou" else 1.0)

    @property
    def positions(self) -> np.ndarray:
        """Current particle positions (N,): int sites (lattice) or floats (OU)."""
        return self._pos

    @property
    def history(self) -> np.ndarray | None:
        """Positions at every step (steps + 1, N), or None when over the memory budget."""
        return None if self._history is None else np.stack(self._history)

    def set_pq(self, p: float, q: float) -> None:
        """Set both sliders (values rounded to the slider's 0.005 grid), then reset."""
        self.p_slider.blockSignals(True)
        self.p_slider.setValue(round(p / 0.5 * PROB_STEPS))
        self.p_slider.blockSignals(False)
        self.q_slider.setValue(round(q / 0.5 * PROB_STEPS))
        self.reset()

    # ---- simulation ---------------------------------------------------------------------------
    def reset(self, *_) -> None:
        """All particles back to the start; the step counter to 0."""
        n = self.n_spin.value()
        self._rng = np.random.default_rng(self.seed_spin.value())
        self._jitter = np.random.default_rng((self.seed_spin.value(), 1)).random(n)
        self._step = 0
        if self.mode == "ou":
            self._pos = np.full(n, self.x0_spin.value())
        else:
            self._pos = np.zeros(n, dtype=np.int64)
        fits = n * (self.max_steps_spin.value() + 1) * 8 <= HISTORY_BUDGET_BYTES
        self._history = [self._pos.copy()] if fits else None
        self._msd, self._mean, self._var = [0.0], [float(self._pos.mean())], [0.0]
        half = self.max_steps_spin.value() + 2
        self._sites = np.arange(-half, half + 1)
        self._conc = (self._sites == 0).astype(np.float64)
        self.lattice_box.setVisible(self.mode == "lattice")
        self.ou_box.setVisible(self.mode == "ou")
        self._setup_axes()
        self._redraw()
        self.stepped.emit(0)

    def _on_max_steps(self, *_) -> None:
        self.reset()

    def advance(self, n_steps: int = 1) -> None:
        """Advance every particle by ``n_steps`` steps (at most up to Max steps)."""
        n_steps = min(int(n_steps), self.max_steps_spin.value() - self._step)
        if n_steps <= 0:
            self.set_playing(False)
            return
        if self.mode == "lattice":
            walk = rw.lattice_walk(self._pos.size, n_steps, self.p, self.q, self._rng)
            rows = self._pos[None, :] + np.asarray(walk[1:], dtype=np.int64)   # (k, N)
            self._conc = rw.master_equation(self._conc, self.p, self.q, n_steps)[-1]
        else:
            out = np.asarray(rw.ou_simulate(self._pos, self.gamma_spin.value(),
                                            self.sigma_spin.value(), self.dt_spin.value(),
                                            n_steps, self._rng))
            rows = out[1:] if out.ndim == 2 and out.shape[0] == n_steps + 1 else out[None]
        start = self._start_positions()
        # core.msd over [start, rows]: mean squared displacement from the start, per step
        self._msd.extend(np.asarray(rw.msd(np.concatenate([start[None], rows])))[1:].tolist())
        self._mean.extend(rows.mean(axis=1).tolist())
        self._var.extend(rows.var(axis=1).tolist())
        if self._history is not None:
            self._history.extend(list(rows))
        self._pos = rows[-1]
        self._step += n_steps
        self._redraw()
        self.stepped.emit(self._step)
        if self._step >= self.max_steps_spin.value():
            self.set_playing(False)

    def _start_positions(self) -> np.ndarray:
        n = self._pos.size
        if self.mode == "ou":
            return np.full(n, self.x0_spin.value())
        return np.zeros(n, dtype=np.int64)

    def set_playing(self, playing: bool) -> None:
        if playing and self._step >= self.max_steps_spin.value():
            self.reset()
        if playing:
            self._timer.start()
        else:
            self._timer.stop()
        if self.play_btn.isChecked() != playing:
            self.play_btn.blockSignals(True)
            self.play_btn.setChecked(playing)
            self.play_btn.blockSignals(False)
        self.play_btn.setText("Pause" if playing else "Play")

    # ---- what is drawn ------------------------------------------------------------------------
    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges, particle counts) as plotted: one bin per site (lattice) or OU_BINS bins."""
        if self.mode == "lattice":
            edges = np.append(self._sites, self._sites[-1] + 1) - 0.5
            counts = np.bincount(self._pos - self._sites[0], minlength=self._sites.size)
            return edges, counts[:self._sites.size].astype(np.float64)
        lo, hi = self._ou_range()
        edges = np.linspace(lo, hi, OU_BINS + 1)
        counts, _ = np.histogram(np.clip(self._pos, lo, hi), bins=edges)
        return edges, counts.astype(np.float64)

    def _ou_range(self) -> tuple[float, float]:
        s = rw.ou_stationary_std(self.gamma_spin.value(), self.sigma_spin.value())
        x0 = self.x0_spin.value()
        return min(-4.5 * s, x0 - 1.0), max(4.5 * s, x0 + 1.0)

    def theory(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, expected particle counts per bin) of the curve drawn over the histogram."""
        n = self._pos.size
        if self.mode == "lattice":
            x = np.linspace(self._sites[0], self._sites[-1], 8 * self._sites.size)
            if self._step == 0 or self.D == 0:
                return x, np.zeros_like(x)
            return x, n * np.asarray(rw.heat_kernel(x, float(self._step), self.D, self.v))
        edges, _ = self.histogram()
        width = edges[1] - edges[0]
        x = np.linspace(edges[0], edges[-1], 400)
        mean, var = self._ou_moments(self.time)
        if var <= 0:
            return x, np.zeros_like(x)
        dens = np.exp(-0.5 * (x - mean) ** 2 / var) / math.sqrt(2 * math.pi * var)
        return x, n * width * dens

    def stationary(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, expected counts per bin) of the stationary law N(0, σ²/2γ) (OU mode)."""
        edges, _ = self.histogram()
        width = edges[1] - edges[0]
        x = np.linspace(edges[0], edges[-1], 400)
        s = rw.ou_stationary_std(self.gamma_spin.value(), self.sigma_spin.value())
        dens = np.exp(-0.5 * (x / s) ** 2) / (s * math.sqrt(2 * math.pi))
        return x, self._pos.size * width * dens

    def _ou_moments(self, t: float) -> tuple[float, float]:
        g, s = self.gamma_spin.value(), self.sigma_spin.value()
        mean = self.x0_spin.value() * math.exp(-g * t)
        var = rw.ou_stationary_std(g, s) ** 2 * (-math.expm1(-2 * g * t))
        return mean, var

    def msd_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(time, plotted value): MSD from the start (lattice) or the variance (OU)."""
        scale = self.dt_spin.value() if self.mode == "ou" else 1.0
        t = np.arange(len(self._msd)) * scale
        return t, np.asarray(self._msd if self.mode == "lattice" else self._var)

    def msd_theory(self) -> tuple[np.ndarray, np.ndarray]:
        t, _ = self.msd_curve()
        if self.mode == "lattice":
            return t, 2 * self.D * t + (self.v * t) ** 2
        g = self.gamma_spin.value()
        return t, rw.ou_stationary_std(g, self.sigma_spin.value()) ** 2 * (-np.expm1(-2 * g * t))

    def _setup_axes(self) -> None:
        lattice = self.mode == "lattice"
        self.particle_plot.setTitle("Particles (vertical spread only for visibility)")
        if lattice:
            self.hist_plot.setTitle("Particles per site n_i vs N·C(x, t) "
                                    "(heat kernel with drift) and the master equation")
            self.hist_plot.setLabel("left", "particles per site")
            self.msd_plot.setTitle("Mean squared displacement ⟨x²⟩ vs 2Dt + (vt)²")
            self.msd_plot.setLabel("bottom", "time t (steps)")
            self.msd_plot.setLabel("left", "⟨(x − x₀)²⟩ (sites²)")
        else:
            self.hist_plot.setTitle("Histogram vs N(x₀e^(−γt), σ²/2γ (1 − e^(−2γt))) "
                                    "and the stationary N(0, σ²/2γ)")
            self.hist_plot.setLabel("left", "particles per bin")
            self.msd_plot.setTitle("Variance of x(t) vs σ²/2γ (1 − e^(−2γt))")
            self.msd_plot.setLabel("bottom", "time t")
            self.msd_plot.setLabel("left", "Var x(t)")
        self.hist_plot.setLabel("bottom", "position x")
        self._set_legend_names()
        if lattice:
            horizon = self.max_steps_spin.value()
            spread = 4.0 * math.sqrt(2 * self.D * horizon) + 3.0
            lo = min(0.0, self.v * horizon) - spread
            hi = max(0.0, self.v * horizon) + spread
            self.hist_plot.setXRange(lo, hi, padding=0.02)
        else:
            self.hist_plot.setXRange(*self._ou_range(), padding=0.02)
        self.hist_plot.enableAutoRange(axis="y")
        self.msd_plot.enableAutoRange()

    def _set_legend_names(self) -> None:
        legend = self.hist_plot.legend
        if legend is None:
            return
        legend.clear()
        legend.addItem(self.hist_curve, "particles")
        if self.mode == "lattice":
            legend.addItem(self.theory_curve, "N·C(x,t), D=(p+q)/2, v=q−p")
            legend.addItem(self.master_curve, "master equation N·c_i(t)")
        else:
            legend.addItem(self.theory_curve, "exact law at t")
            legend.addItem(self.master_curve, "stationary N(0, σ²/2γ)")
        mleg = self.msd_plot.legend
        if mleg is not None:
            mleg.clear()
            mleg.addItem(self.msd_item, "particles")
            mleg.addItem(self.msd_theory_item, "2Dt + (vt)²" if self.mode == "lattice"
                         else "σ²/2γ (1 − e^(−2γt))")

    def _redraw(self) -> None:
        pos = self._pos.astype(np.float64)
        self.particles.setData(np.column_stack([pos, self._jitter[:pos.size]]))
        edges, counts = self.histogram()
        self.hist_curve.setData(edges, counts)
        x, y = self.theory()
        self.theory_curve.setData(x, y)
        if self.mode == "lattice":
            keep = self._conc > 1e-6
            self.master_curve.setData(self._sites[keep], self._pos.size * self._conc[keep])
        else:
            sx, sy = self.stationary()
            self.master_curve.setData(sx[::8], sy[::8])
        self.msd_item.setData(*self.msd_curve())
        self.msd_theory_item.setData(*self.msd_theory())
        self._update_labels()

    def _update_labels(self) -> None:
        self.p_label.setText(f"{self.p:.3f}")
        self.q_label.setText(f"{self.q:.3f}")
        self.step_label.setText(f"{self._step} / {self.max_steps_spin.value()}"
                                + (f"   (t = {self.time:.3g})" if self.mode == "ou" else ""))
        if self.mode == "lattice":
            msd = self._msd[-1]
            t = self._step
            txt = (f"<b>Einstein's random walk</b><br>"
                   f"C<sub>i</sub>(t+1) = q C<sub>i−1</sub> + p C<sub>i+1</sub>"
                   f" + (1−p−q) C<sub>i</sub><br>"
                   f"∂C/∂t = −v ∂C/∂x + D ∂²C/∂x²<br>"
                   f"D = (p+q)/2 = {self.D:.3f}, v = q−p = {self.v:+.3f}<br>"
                   f"C(x,t) = exp(−(x−vt)²/4Dt) / √(4πDt)<br>"
                   f"⟨x²⟩ = {msd:.2f}, 2Dt + (vt)² = {2 * self.D * t + (self.v * t) ** 2:.2f}")
        else:
            g, s = self.gamma_spin.value(), self.sigma_spin.value()
            st = rw.ou_stationary_std(g, s)
            mean, var = self._ou_moments(self.time)
            txt = (f"<b>Ornstein-Uhlenbeck</b><br>dx = −γx dt + σ dW<br>"
                   f"stationary N(0, σ²/2γ): std {st:.3f}<br>"
                   f"now: mean {self._mean[-1]:+.3f} (exact {mean:+.3f}),<br>"
                   f"variance {self._var[-1]:.3f} (exact {var:.3f})")
        self.formula_label.setText(txt)

    # ---- session, demo, shutdown --------------------------------------------------------------
    def demo_state(self) -> None:
        """A drifting walk part of the way: histogram, kernel and MSD all visible."""
        self.mode_combo.setCurrentIndex(self.mode_combo.findData("lattice"))
        self.n_spin.setValue(5000)
        self.max_steps_spin.setValue(400)
        self.set_pq(0.2, 0.3)
        self.advance(150)

    def shutdown(self) -> None:
        self._timer.stop()

    def to_state(self) -> dict:
        return {"mode": self.mode, "n": self.n_spin.value(), "seed": self.seed_spin.value(),
                "p": self.p, "q": self.q, "gamma": self.gamma_spin.value(),
                "sigma": self.sigma_spin.value(), "x0": self.x0_spin.value(),
                "dt": self.dt_spin.value(), "per_frame": self.per_frame_spin.value(),
                "max_steps": self.max_steps_spin.value(), "step": self._step}

    def from_state(self, state: dict) -> None:
        widgets = (self.mode_combo, self.n_spin, self.seed_spin, self.p_slider, self.q_slider,
                   self.gamma_spin, self.sigma_spin, self.x0_spin, self.dt_spin,
                   self.max_steps_spin)
        for w in widgets:
            w.blockSignals(True)
        try:
            i = self.mode_combo.findData(state.get("mode", "lattice"))
            self.mode_combo.setCurrentIndex(max(i, 0))
            self.n_spin.setValue(int(state.get("n", 5000)))
            self.seed_spin.setValue(int(state.get("seed", 0)))
            self.p_slider.setValue(round(float(state.get("p", 0.25)) / 0.5 * PROB_STEPS))
            self.q_slider.setValue(round(float(state.get("q", 0.25)) / 0.5 * PROB_STEPS))
            self.gamma_spin.setValue(float(state.get("gamma", 1.0)))
            self.sigma_spin.setValue(float(state.get("sigma", 1.0)))
            self.x0_spin.setValue(float(state.get("x0", 3.0)))
            self.dt_spin.setValue(float(state.get("dt", 0.01)))
            self.max_steps_spin.setValue(int(state.get("max_steps", 500)))
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.per_frame_spin.setValue(int(state.get("per_frame", 1)))
        self.reset()
        self.advance(int(state.get("step", 0)))
