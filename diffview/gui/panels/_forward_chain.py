"""The step-by-step Markov chain of the forward panel, computed on a worker.

x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z_t for t = 1..T from seeded z_t; every state is
kept (up to CHAIN_BUDGET_BYTES) so that scrubbing the chain is as quick as the closed form.
"""

from __future__ import annotations

import numpy as np

from diffview.core import forward as fwd
from diffview.gui.panels import to_display

__all__ = ["CHAIN_BUDGET_BYTES", "ChainMixin"]

CHAIN_BUDGET_BYTES = 256 * 2**20  # every chain state is kept in memory up to this size


class ChainMixin:
    """Noise and chain state of :class:`~diffview.gui.panels.forward.ForwardPanel` (needs its
    ``_x0``, ``_seed``, ``_schedule``, ``_chain_runner``, ``process_combo`` ...)."""

    def _draw_noise(self) -> None:
        rng = np.random.default_rng(self._seed)
        self._noise = rng.standard_normal(self._x0.shape, dtype=np.float32)
        self._noise_disp = np.ascontiguousarray(to_display(self._noise))
        self._mask_order = fwd.mask_order(self._x0.shape, np.random.default_rng(self._seed))
        self._chain_states = None
        if self.process == "chain":
            self._start_chain()

    def _current_chain_key(self) -> tuple:
        return (id(self._x0), self._seed, self._schedule.T, self.schedule_combo.currentText())

    def chain_noises(self) -> list[np.ndarray]:
        """The z_1..z_T the chain used (regenerated from the seed; for tests and export)."""
        rng = np.random.default_rng((self._seed, 1))
        return [rng.standard_normal(self._x0.shape, dtype=np.float32)
                for _ in range(self._schedule.T)]

    def _start_chain(self) -> None:
        nbytes = self._x0.nbytes * self._schedule.T
        if nbytes > CHAIN_BUDGET_BYTES:
            self.context.report_status(
                f"The step-by-step chain would need {nbytes / 2**20:.0f} MB for this image; "
                "showing the closed form (same distribution).")
            return
        x0, schedule, seed = self._x0, self._schedule, self._seed
        key = self._current_chain_key()
        total = schedule.T

        def job(token):
            states = np.empty((total,) + x0.shape, np.float32)
            rng = np.random.default_rng((seed, 1))
            for k, x in enumerate(fwd.markov_chain(x0, schedule, rng)):
                states[k] = x
                if k % 50 == 0:
                    yield k
            return key, states

        self.context.report_progress("Forward chain", 0, total)
        self._chain_runner.start(job)

    def _on_chain_progress(self, _rid: int, k: int) -> None:
        self.context.report_progress("Forward chain", int(k), self._schedule.T)

    def _on_chain_ready(self, _rid: int, result) -> None:
        key, states = result
        self.context.report_progress("Forward chain", self._schedule.T, self._schedule.T)
        if key != self._current_chain_key():
            return
        self._chain_states, self._chain_key = states, key
        self._refresh()

    def _on_cancel_requested(self, name: str) -> None:
        if name == "Forward chain":
            self._chain_runner.cancel()
            self.context.report_progress("Forward chain", 1, 1)
            self.process_combo.setCurrentIndex(0)
