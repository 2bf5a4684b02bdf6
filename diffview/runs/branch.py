"""Branches and inpainting: several continuations of one x_t, and resampling a masked region.

**Branch.** A sampling run paused after step k holds x = ``result.xs[k]`` (image j of the
batch) at the timestep its next step starts from, ``result.t_indices[k]``. :func:`run_branch`
continues that one x with ``n`` different noise streams side by side, as one
:func:`~diffview.runs.sampling.run_sampling` over ``Start(x, t_index)``: branch b draws the noise
of image ``image + b`` of the seed under the seeding rule (:mod:`diffview.runs.seeding`). A run
from a given x_t still draws x_T and the skipped steps' noise first, so branch 0 repeats the
original image's own continuation bit for bit, for eta = 0 and for eta > 0 or DDPM alike; the
other branches differ only where the sampler takes noise (eta > 0 or DDPM; with eta = 0 every
branch is the same).

**Inpainting.** :func:`run_inpaint` keeps the region ``mask`` of an image and generates the
rest, by the replacement method or RePaint resampling (:mod:`diffview.core.inpaint`).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from diffview.core.inpaint import INPAINT_METHODS, inpaint_iter
from diffview.runs.base import Cancelled, CancelToken, Progress
from diffview.runs.sampling import (
    SamplingFrame,
    SamplingResult,
    SamplingSpec,
    Start,
    _network,
    build_sampler,
    check_spec,
    run_sampling,
)
from diffview.runs.seeding import PerSampleNoise

__all__ = ["BranchSpec", "InpaintFrame", "InpaintResult", "InpaintSpec", "branch_point",
           "run_branch", "run_inpaint"]

BRANCH_MAX = 16


@dataclass(frozen=True, kw_only=True)
class BranchSpec:
    """Where to branch and how.

    Attributes
    ----------
    sampling : SamplingSpec
        The original run's spec (its sampler and steps must be kept for the timesteps to line
        up; ``eta`` may differ: a DDIM run with eta = 0 branched with eta = 0.8).
    x : ndarray, (*sample_shape)
        The x_t to continue (``result.xs[k][j]``).
    t_index : int
        The timestep the next step starts from (``result.t_indices[k]``).
    image : int
        Index of the image in the original run (``sampling.first_image + j``).
    n : int
        Number of branches, 1..16.
    """

    sampling: SamplingSpec
    x: np.ndarray
    t_index: int
    image: int = 0
    n: int = 4


def branch_point(result: SamplingResult, step: int, image: int = 0) -> tuple[np.ndarray, int]:
    """x after ``step`` steps of a kept trajectory and the timestep its next step starts from.

    Raises ValueError for a step past the last one that has a next step.
    """
    n = int(result.t_indices.size)
    if not 0 <= int(step) < n:
        raise ValueError(f"branch step must be in 0..{n - 1} (a step with a step after it), "
                         f"found {step}")
    if not 0 <= int(image) < result.xs.shape[1]:
        raise ValueError(f"image must be one of the {result.xs.shape[1]} kept trajectories, "
                         f"found {image}")
    return np.array(result.xs[int(step), int(image)]), int(result.t_indices[int(step)])


def run_branch(spec: BranchSpec, model, token: CancelToken | None = None
               ) -> Generator[SamplingFrame, None, SamplingResult]:
    """Continue ``spec.x`` at ``spec.t_index`` with ``spec.n`` noise streams (see the module).

    Returns
    -------
    SamplingResult whose batch is the branches (``final[b]`` is branch b's sample; branch 0 is
    the original continuation).
    """
    if isinstance(spec.n, bool) or not isinstance(spec.n, (int, np.integer)) \
            or not 1 <= spec.n <= BRANCH_MAX:
        raise ValueError(f"branches must be 1..{BRANCH_MAX}, found {spec.n!r}")
    if isinstance(spec.image, bool) or not isinstance(spec.image, (int, np.integer)) \
            or spec.image < 0:
        raise ValueError(f"image must be an index >= 0, found {spec.image!r}")
    x = np.asarray(spec.x, np.float32)
    if x.shape != tuple(model.info.sample_shape):
        raise ValueError(f"the branch point has shape {x.shape}; the model expects "
                         f"{tuple(model.info.sample_shape)}")
    classes = spec.sampling.classes
    if classes is not None and len(classes) > 1:
        classes = (classes[spec.image - spec.sampling.first_image],) \
            if 0 <= spec.image - spec.sampling.first_image < len(classes) else classes[:1]
    s = spec.sampling.replace(batch=int(spec.n), first_image=int(spec.image),
                              start=Start(x, int(spec.t_index)), classes=classes, keep=None)
    return (yield from run_sampling(s, model, token))


# -------------------------------------------------------------------------------- inpainting


@dataclass(frozen=True, kw_only=True)
class InpaintSpec:
    """An inpainting run.

    Attributes
    ----------
    sampling : SamplingSpec
        Sampler, steps, eta, seed and batch (``start`` is ignored).
    image : ndarray, (*sample_shape)
        The image whose known region is kept (model range).
    mask : ndarray, (*sample_shape) or (H, W)
        1 where ``image`` is known, 0 where it is generated.
    method : str
        "replace" or "repaint".
    resample : int
        U, takes of every step for RePaint (1..20).
    """

    sampling: SamplingSpec
    image: np.ndarray
    mask: np.ndarray
    method: str = "replace"
    resample: int = 5


@dataclass(frozen=True, kw_only=True)
class InpaintFrame(Progress):
    """One step: ``x`` (B, *sample_shape) after it, ``x0_pred`` its prediction, ``t_index``."""

    t_index: int
    x: np.ndarray
    x0_pred: np.ndarray


@dataclass
class InpaintResult:
    """``final`` (B, *sample_shape) inpainted images; ``cancelled`` when stopped early."""

    final: np.ndarray
    method: str
    steps: int
    cancelled: bool = False


def run_inpaint(spec: InpaintSpec, model, token: CancelToken | None = None
                ) -> Generator[InpaintFrame, None, InpaintResult]:
    """Inpaint ``spec.batch`` images (noise: the seeding rule's x_T, then each step's draws)."""
    info = model.info
    s = spec.sampling
    check_spec(s, info)
    if spec.method not in INPAINT_METHODS:
        raise ValueError(f"method must be one of {', '.join(INPAINT_METHODS)}, "
                         f"found {spec.method!r}")
    if isinstance(spec.resample, bool) or not isinstance(spec.resample, (int, np.integer)) \
            or not 1 <= spec.resample <= 20:
        raise ValueError(f"resample must be 1..20, found {spec.resample!r}")
    shape = tuple(info.sample_shape)
    image = np.asarray(spec.image, np.float32)
    if image.shape != shape:
        raise ValueError(f"the image has shape {image.shape}; the model expects {shape}")
    mask = np.asarray(spec.mask, np.float32)
    if mask.shape == shape[-2:]:
        mask = np.broadcast_to(mask, shape)
    if mask.shape != shape:
        raise ValueError(f"the mask has shape {mask.shape}; expected {shape} or {shape[-2:]}")
    sampler = build_sampler(s, info)
    noise = PerSampleNoise.for_images(s.seed, s.batch, s.first_image)
    x_T = noise.standard_normal((s.batch, *shape), dtype=np.float32)  # noqa: N806
    denoise, _ = _network(model, s, None if s.classes is None else np.resize(
        np.asarray(s.classes, np.int64), s.batch), token)
    n = len(sampler)
    x = x_T
    k = 0
    try:
        for k, frame in enumerate(inpaint_iter(sampler, denoise, x_T, noise, image, mask,
                                               spec.method, spec.resample), start=1):
            x = frame.x
            yield InpaintFrame(step=k, total=n, t_index=frame.t_index, x=frame.x,
                               x0_pred=frame.x0_pred)
    except Cancelled:
        return InpaintResult(x, spec.method, k, True)
    return InpaintResult(x, spec.method, k, False)
