"""The 1-D diffusion physics panel: Einstein's random walk and the Ornstein-Uhlenbeck process.

The panel owns a :class:`~diffview.runs.walk1d.Walk1D` (the simulation), a
:class:`~.controls.WalkControls` column and :class:`~.plots.WalkPlots`. Step advances on the GUI
thread (at most 100 steps of 100,000 walkers, simulated in bounded chunks); Play and a session's
restore run on a worker through ``context.jobs``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QWidget

from diffview.core import randomwalk as rw
from diffview.gui.jobs import Job
from diffview.gui.panels.randomwalk.controls import PROB_STEPS, WalkControls
from diffview.gui.panels.randomwalk.plots import WalkPlots
from diffview.gui.panels.randomwalk.state import RandomWalkState
from diffview.runs.walk1d import Walk1D, WalkView, run_play, run_walk

__all__ = ["RandomWalkPanel"]

PLAY_JOB = "1-D walk"


class RandomWalkPanel(QWidget):
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
        self.controls = WalkControls()
        self.plots = WalkPlots()
        root = QHBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # As wide as the column needs (no clipped spin boxes), and no wider: the plots get the
        # rest of a dock that may be half of a 1280-px window.
        width = self.controls.minimumSizeHint().width() \
            + scroll.verticalScrollBar().sizeHint().width()
        scroll.setFixedWidth(max(width + 4, 250))
        root.addWidget(scroll)
        root.addWidget(self.plots, 1)
        c = self.controls
        c.spec_changed.connect(self.reset)
        c.play_btn.toggled.connect(self.set_playing)
        c.step_btn.clicked.connect(lambda: self.advance(c.per_frame_spin.value()))
        c.reset_btn.clicked.connect(self.reset)
        self.walk = Walk1D(c.spec())
        self._shut_down = False
        self.reset()

    # ---- what the simulation is -----------------------------------------------------------
    @property
    def spec(self):
        return self.walk.spec

    @property
    def p(self) -> float:
        return self.walk.spec.p

    @property
    def q(self) -> float:
        return self.walk.spec.q

    @property
    def D(self) -> float:  # noqa: N802 - the physics symbol
        return self.walk.spec.D

    @property
    def v(self) -> float:
        return self.walk.spec.v

    @property
    def step(self) -> int:
        return self.walk.step

    @property
    def time(self) -> float:
        return self.walk.time

    @property
    def positions(self):
        return self.walk.positions

    @property
    def history(self):
        return self.walk.history

    def histogram(self):
        return self.walk.histogram()

    def set_pq(self, p: float, q: float) -> None:
        """Set both sliders (rounded to the slider's 0.005 grid), then reset."""
        self.controls.p_slider.setValue(round(p / 0.5 * PROB_STEPS))
        self.controls.q_slider.setValue(round(q / 0.5 * PROB_STEPS))

    # ---- simulation ------------------------------------------------------------------------
    def reset(self, *_) -> None:
        """A fresh simulation from the widgets' spec; the step counter to 0."""
        self._stop_job()
        self.walk = Walk1D(self.controls.spec())
        self.plots.setup_axes(self.walk)
        self._show(WalkView.of(self.walk))

    def advance(self, n_steps: int = 1) -> None:
        """Advance every particle by ``n_steps`` steps (at most up to Max steps)."""
        if self.is_busy():
            return
        if self.walk.advance(n_steps) == 0:
            self.set_playing(False)
            return
        self._show(WalkView.of(self.walk))

    def set_playing(self, playing: bool) -> None:
        if playing and self.walk.finished:
            self.reset()
        if playing and not self.is_busy():
            walk, per_frame = self.walk, self.controls.per_frame_spin.value()
            self.context.jobs.start(Job(
                PLAY_JOB, lambda token: run_play(walk, per_frame, token),
                on_frame=self._show, on_result=lambda _w: self._play_ended(),
                on_cancelled=lambda _w: self._play_ended(), lane=self._lane,
                show_progress=False))
        elif not playing:
            self._stop_job()
        self._show_play_button(playing)

    def _play_ended(self) -> None:
        self._show(WalkView.of(self.walk))
        self._show_play_button(False)

    def _show_play_button(self, playing: bool) -> None:
        btn = self.controls.play_btn
        if btn.isChecked() != playing:
            btn.blockSignals(True)
            btn.setChecked(playing)
            btn.blockSignals(False)
        btn.setText("Pause" if playing else "Play")

    @property
    def _lane(self) -> str:
        return f"{self.panel_name}-{id(self)}"

    def _stop_job(self) -> None:
        if self.context.jobs.is_busy(self._lane):
            self.context.jobs.cancel(self._lane)

    # ---- drawing ---------------------------------------------------------------------------
    def _show(self, view: WalkView) -> None:
        self.plots.render_view(view)
        self._update_labels(view)
        self.stepped.emit(view.step)

    def _update_labels(self, view: WalkView) -> None:
        s, c = self.walk.spec, self.controls
        c.step_label.setText(f"{view.step} / {s.max_steps}"
                             + (f"   (t = {view.time:.3g})" if s.mode == "ou" else ""))
        if s.mode == "lattice":
            t = view.step
            msd = view.msd[1][-1] if len(view.msd[1]) else 0.0
            txt = (f"<b>Einstein's random walk</b><br>"
                   f"C<sub>i</sub>(t+1) = q C<sub>i−1</sub> + p C<sub>i+1</sub>"
                   f" + (1−p−q) C<sub>i</sub><br>"
                   f"∂C/∂t = −v ∂C/∂x + D ∂²C/∂x²<br>"
                   f"D = (p+q)/2 = {s.D:.3f}, v = q−p = {s.v:+.3f}<br>"
                   f"C(x,t) = exp(−(x−vt)²/4Dt) / √(4πDt)<br>"
                   f"⟨x²⟩ = {msd:.2f}, 2Dt + (vt)² = {2 * s.D * t + (s.v * t) ** 2:.2f}")
        else:
            st = rw.ou_stationary_std(s.gamma, s.sigma)
            mean, var = self.walk.ou_moments(view.time)
            txt = (f"<b>Ornstein-Uhlenbeck</b><br>dx = −γx dt + σ dW<br>"
                   f"stationary N(0, σ²/2γ): std {st:.3f}<br>"
                   f"now: mean {view.mean:+.3f} (exact {mean:+.3f}),<br>"
                   f"variance {view.var:.3f} (exact {var:.3f})")
        c.formula_label.setText(txt)

    # ---- the Panel protocol ----------------------------------------------------------------
    def state(self) -> RandomWalkState:
        return RandomWalkState(self.walk.spec, self.controls.per_frame_spin.value(),
                               self.walk.step)

    def state_dict(self) -> dict:
        return self.state().to_dict()

    def load_state(self, data: dict) -> None:
        """Validate ``data`` whole, then show its spec and simulate up to its step on a worker
        (memory stays bounded: chunks of 32 MiB, history only while it fits 64 MiB)."""
        state = RandomWalkState.from_dict(data)
        self._stop_job()
        self.controls.show_spec(state.spec, state.per_frame)
        self.walk = Walk1D(state.spec)
        self.plots.setup_axes(self.walk)
        self._show(WalkView.of(self.walk))
        if state.step > 0:
            self.context.jobs.start(Job(
                "Restoring the 1-D walk", lambda token: run_walk(state.spec, state.step, token),
                on_result=self._adopt, lane=self._lane))

    def _adopt(self, walk: Walk1D) -> None:
        self.walk = walk
        self._show(WalkView.of(walk))

    def is_busy(self) -> bool:
        return self.context.jobs.is_busy(self._lane)

    def shutdown(self) -> None:
        if not self._shut_down:
            self._shut_down = True
            self._stop_job()

    def animation_source(self):
        return None

    def animation_hint(self) -> str:
        return "The 1-D physics panel has no animation export; use the forward, sampling or " \
               "2-D panel."

    def demo_state(self) -> None:
        """A drifting walk part of the way: histogram, kernel and MSD all visible."""
        c = self.controls
        c.mode_combo.setCurrentIndex(c.mode_combo.findData("lattice"))
        c.n_spin.setValue(5000)
        c.max_steps_spin.setValue(400)
        self.set_pq(0.2, 0.3)
        self.advance(150)
