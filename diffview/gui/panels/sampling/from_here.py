""""Denoise from here": the start of a batch restored from the forward panel's image. Qt-free.

Given the clean image x_0 and a timestep t, every image i of the batch starts from its own
x_t^(i) = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε_i, a draw from q(x_t | x_0) (Ho et al. 2020, eq. 4),
with ε_i the starting noise that the seeding rule gives image i (:mod:`diffview.runs.seeding`):
the B restorations then show the spread of what the model makes of x_0 at that noise level,
even with a deterministic sampler. With x_t alone every image starts from that one x_t; a
deterministic sampler then returns B equal images, and the note says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffview.core.forward import q_sample
from diffview.gui.handover import DenoiseRequest
from diffview.runs.sampling import SamplingSpec, Start, build_sampler
from diffview.runs.seeding import PerSampleNoise

__all__ = ["DenoiseStart", "denoise_start", "is_deterministic", "one_image"]


@dataclass(frozen=True, eq=False)
class DenoiseStart:
    """The run's start and a one-line note for the status line."""

    start: Start
    note: str


def is_deterministic(spec: SamplingSpec, info) -> bool:
    """Whether the spec's sampler draws no noise after x_T (DDIM at eta 0, DPM-Solver++)."""
    sampler = build_sampler(spec, info)
    return not any(sampler.needs_noise(i) for i in range(len(sampler.timesteps)))


def denoise_start(request: DenoiseRequest, spec: SamplingSpec, info) -> DenoiseStart:
    """The start of ``spec``'s batch for ``request`` (x_0 given: B draws of q(x_t | x_0)).

    Raises ValueError (one line) when the image does not fit the model.
    """
    shape = tuple(info.sample_shape)
    t = int(request.t_index)
    if not 0 <= t < int(info.T):
        raise ValueError(f"t index {t} is outside the model's 0..{info.T - 1}")
    batch = int(spec.batch)
    x0 = None if request.x0 is None else np.asarray(request.x0, np.float32)
    if x0 is not None and x0.shape == shape:
        # eps_i is image i's x_T under the seeding rule, so the run is reproducible from its seed.
        eps = PerSampleNoise.for_images(spec.seed, batch, spec.first_image).standard_normal(
            (batch, *shape), dtype=np.float32)
        x_t = q_sample(np.broadcast_to(x0, (batch, *shape)), info.make_schedule(), t, eps)
        note = (f"{batch} restorations of one image from t index {t}, each from its own "
                f"x_t ~ q(x_t | x₀) (seed {spec.seed}): their spread is what the model is "
                "unsure of.")
        return DenoiseStart(Start(x_t.astype(np.float32), t), note)
    x_t = np.asarray(request.x_t, np.float32)
    if x_t.shape != shape:
        raise ValueError(f"The image has shape {x_t.shape}; the model expects {shape}.")
    note = f"Restoring from t index {t}."
    if batch > 1 and is_deterministic(spec, info):
        note = (f"All {batch} images start from the same x_t (the forward panel sent no x₀) "
                "and this sampler is deterministic, so they come out equal; DDPM or DDIM η > 0 "
                "shows a spread.")
    return DenoiseStart(Start(x_t, t), note)


def one_image(spec: SamplingSpec, index: int) -> SamplingSpec:
    """The run of image ``index`` of ``spec``'s batch alone, trajectory kept: under the seeding
    rule it ends on the same image (its own x_T and step noise, its own class label)."""
    classes = spec.classes
    if classes is not None and len(classes) > 1:
        classes = (classes[index],)
    return spec.replace(batch=1, first_image=spec.first_image + int(index), keep=None,
                        classes=classes)
