"""What the forward panel scrubs: x_0, the noise held fixed, the schedule, the chain (no Qt).

Everything a slider move needs is precomputed here (the image and noise in display layout, the
mask order, for the step-by-step chain every state), so a move costs one ``q_sample_step``.
"""

from __future__ import annotations

import numpy as np

from diffview.core import forward as fwd
from diffview.core.schedules import make_schedule
from diffview.gui.imaging import resize_image, to_display
from diffview.runs.forward import chain_noise_rng

__all__ = ["HIST_MAX", "ForwardProcess"]

HIST_MAX = 65536  # pixels sampled for the histogram of a large image


class ForwardProcess:
    """x_0, the fixed noise eps (from ``seed``), the schedule, and x_t at any step.

    ``corruption`` is "noise" (DDPM's q(x_t | x_0)) or a cold degradation ("blur", "mask",
    "pixelate"); ``process`` is "closed" (one draw) or "chain" (t small steps, once computed).
    """

    def __init__(self, x0: np.ndarray, schedule_name: str = "linear", T: int = 1000,  # noqa: N803
                 seed: int = 0) -> None:
        self.schedule_name = schedule_name
        self.schedule = make_schedule(schedule_name, T)
        self.seed = seed
        self.chain_states: np.ndarray | None = None
        self.chain_key: tuple | None = None
        self.set_image(x0)

    # ---- inputs ----------------------------------------------------------------------------
    def set_image(self, x0: np.ndarray) -> None:
        x0 = np.ascontiguousarray(x0, dtype=np.float32)
        if x0.ndim != 3:
            raise ValueError(f"x0 must have shape (C, H, W), got {x0.shape}")
        self.x0 = x0
        self.x0_disp = np.ascontiguousarray(to_display(x0))
        n = self.x0_disp.size
        self.hist_index = (None if n <= HIST_MAX else
                           np.sort(np.random.default_rng(0).choice(n, HIST_MAX, replace=False)))
        self.draw_noise()

    def set_schedule(self, name: str, T: int) -> None:  # noqa: N803
        self.schedule_name = name
        self.schedule = make_schedule(name, T)
        self.chain_states = None

    def draw_noise(self, seed: int | None = None) -> None:
        """eps and the mask order from ``seed`` (default: the current one); drops the chain."""
        if seed is not None:
            self.seed = seed
        rng = np.random.default_rng(self.seed)
        self.noise = rng.standard_normal(self.x0.shape, dtype=np.float32)
        self.noise_disp = np.ascontiguousarray(to_display(self.noise))
        self.mask_order = fwd.mask_order(self.x0.shape, np.random.default_rng(self.seed))
        self.chain_states = None

    # ---- the chain -------------------------------------------------------------------------
    def current_chain_key(self) -> tuple:
        return (id(self.x0), self.seed, self.schedule.T, self.schedule_name)

    def chain_ready(self) -> bool:
        return self.chain_states is not None and self.chain_key == self.current_chain_key()

    def adopt_chain(self, key: tuple, states: np.ndarray) -> bool:
        """Keep a computed chain if it still belongs to the current image, seed and schedule."""
        if key != self.current_chain_key():
            return False
        self.chain_states, self.chain_key = states, key
        return True

    def chain_noises(self) -> list[np.ndarray]:
        """The z_1..z_T the chain used (regenerated from the seed; for tests and export)."""
        rng = chain_noise_rng(self.seed)
        return [rng.standard_normal(self.x0.shape, dtype=np.float32)
                for _ in range(self.schedule.T)]

    # ---- x_t -------------------------------------------------------------------------------
    def compute_xt(self, step: int, corruption: str = "noise",
                   process: str = "closed") -> np.ndarray:
        """x after ``step`` steps (float32 (C, H, W))."""
        if corruption != "noise":
            return fwd.degrade(corruption, self.x0, step, self.schedule.T,
                               order=self.mask_order if corruption == "mask" else None)
        if process == "chain" and self.chain_ready():
            return self.x0.copy() if step == 0 else self.chain_states[step - 1]
        return fwd.q_sample_step(self.x0, self.schedule, step, self.noise)

    def closed_form_display(self, step: int, out: np.ndarray | None = None) -> np.ndarray:
        """The closed-form x_t directly in display layout (H, W[, 3]): the scrub's fast path
        (the closed form is elementwise, so no transpose and no allocation per move)."""
        return fwd.q_sample_step(self.x0_disp, self.schedule, step, self.noise_disp, out=out)

    def degradation_curves(self, kind: str) -> tuple[np.ndarray, str, np.ndarray]:
        """For a cold degradation over t = 0..T: the severity t/T, the name of what grows with
        it, and its values (blur width, block size or masked share)."""
        T = self.schedule.T  # noqa: N806
        sev = np.arange(T + 1) / T
        shape = self.x0.shape
        if kind == "blur":
            return sev, "blur width σ (pixels)", np.array([fwd.blur_sigma(s, shape) for s in sev])
        if kind == "pixelate":
            return sev, "block size (pixels)", np.array(
                [fwd.pixelate_block(s, shape) for s in sev], float)
        n = shape[-1] * shape[-2]
        return sev, "masked pixels (%)", 100.0 * np.round(sev * n) / n

    def animation(self, n_frames: int, corruption: str, process: str):
        """A function (for a worker) returning the scrub from t = 0 to T as (C, H, W) frames;
        it works on a copy, so the panel may go on changing."""
        snapshot = ForwardProcess.__new__(ForwardProcess)
        snapshot.__dict__.update(self.__dict__)
        steps = np.unique(np.linspace(0, self.schedule.T, n_frames).round().astype(int))
        return lambda: snapshot.frames(steps, corruption, process)

    def frames(self, steps, corruption: str, process: str) -> list[np.ndarray]:
        """x_t (C, H, W) at each of ``steps``, for an animation."""
        return [self.compute_xt(int(s), corruption, process) for s in steps]

    def model_compatible_x0(self, info) -> tuple[np.ndarray, int | None, str]:
        """x_0 in the model's sample shape and, for the current step, the model timestep with
        the closest alpha-bar (None: same schedule, index = step - 1 applies)."""
        same_shape = info is None or tuple(info.sample_shape) == tuple(self.x0.shape)
        x0 = self.x0 if same_shape else resize_image(self.x0, tuple(info.sample_shape))
        return x0, None, "" if same_shape else "Resized to the model's image size."

    def model_timestep(self, step: int, info) -> tuple[int, str]:
        """The model's timestep index for the current step: the same alpha-bar."""
        if info is None or (info.schedule == self.schedule_name
                            and int(info.T) == self.schedule.T):
            return step - 1, ""
        model_sched = make_schedule(info.schedule, int(info.T))
        ab = self.schedule.alpha_bar_at_step(step)
        t_model = int(np.argmin(np.abs(model_sched.alpha_bars - ab)))
        return t_model, (f"t index {t_model} of the model's {info.schedule} T={info.T} "
                         f"(same ᾱ)")

    def model_compatible_xt(self, step: int, info) -> tuple[np.ndarray, int, str]:
        """The displayed x_t and its index in the model's terms (same image, same alpha-bar);
        resized and renoised afresh when shapes or schedules differ."""
        x_t = self.compute_xt(step).astype(np.float32, copy=True)
        t_index, note = self.model_timestep(step, info)
        if info is None or (not note and tuple(info.sample_shape) == tuple(self.x0.shape)):
            return x_t, t_index, ""
        x0, _, resized = self.model_compatible_x0(info)
        model_sched = make_schedule(info.schedule, int(info.T))
        noise = self.noise if not resized else np.random.default_rng(self.seed).standard_normal(
            x0.shape, dtype=np.float32)
        x_t = fwd.q_sample(x0, model_sched, t_index, noise).astype(np.float32)
        return x_t, t_index, f"Resized/renoised for the model: {note or 'same t'}."
