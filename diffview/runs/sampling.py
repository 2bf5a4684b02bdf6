"""Image sampling as runs: one sampling run, the sampler race, a grid batch, many-image generation.

Every face of the app samples through here: the sampling panel and the image grid (GUI jobs),
``diffview sample`` and ``python -m diffview.eval.fid`` (through
:func:`diffview.runs.generate.generate`), and the self-test. The sampler race lives in
:mod:`diffview.runs.race`, many-image generation (any sampler, continuous-time models too) in
:mod:`diffview.runs.generate`. One spec and one seeding rule (:mod:`diffview.runs.seeding`)
give the same images everywhere.

The reverse steps themselves are the core's: :func:`diffview.core.samplers.sample_iter` with the
DDPM (Ho et al. 2020, Alg. 2), DDIM (Song et al. 2021, eq. 12) and DPM-Solver++(2M) (Lu et al.
2022, Alg. 2) samplers for models of timestep indices, and
:func:`diffview.core.sde.reverse_iter` (reverse SDE, probability-flow ODE, predictor-corrector;
Song et al. 2021, eqs. 6, 13 and Alg. 4/5) for continuous-time models.

Defaults (declared once, here and in :mod:`diffview.core.samplers`): steps are the sampler's
``default_steps`` (DDIM 50, DPM-Solver++ 20, DDPM all T; sde 500, ode 100, pc 250); x0_pred is
clipped to the image model's data range (:data:`~diffview.core.samplers.CLIP_X0_DEFAULT`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np

from diffview.core.guidance import guided
from diffview.core.samplers import (
    CLIP_X0_DEFAULT,
    SAMPLER_LABELS,
    SAMPLERS,
    make_sampler,
    sample_iter,
    sampler_class,
)
from diffview.runs.base import Cancelled, CancelToken, Progress, cancellable
from diffview.runs.seeding import PerSampleNoise, check_seed

__all__ = [
    "CONTINUOUS_DEFAULT_STEPS",
    "CONTINUOUS_SAMPLERS",
    "KEEP_BUDGET",
    "KEEP_MAX",
    "MOSAIC_MAX",
    "SamplingFrame",
    "SamplingResult",
    "SamplingSpec",
    "Start",
    "build_sampler",
    "check_spec",
    "describe",
    "keep_count",
    "resolve_clip",
    "run_batch",
    "run_sampling",
]

CONTINUOUS_SAMPLERS = ("sde", "ode", "pc")
"""Samplers of continuous-time (SDE) models: reverse SDE (Euler-Maruyama), probability-flow ODE
(Heun) and predictor-corrector."""
CONTINUOUS_DEFAULT_STEPS = {"sde": 500, "ode": 100, "pc": 250}
KEEP_MAX = 64               # trajectories kept per run by default (the first images of the batch)
KEEP_BUDGET = 192 * 2**20   # bytes for the kept trajectories (x_t and predicted x0) by default
MOSAIC_MAX = 16             # images of the batch in each live frame


# ------------------------------------------------------------------------------------ specs


@dataclass(frozen=True, eq=False)
class Start:
    """Where a run starts when not from fresh noise.

    Attributes
    ----------
    x : ndarray, (B, *sample_shape) or (*sample_shape,)
        The starting sample; one sample is repeated over the batch (a stochastic sampler then
        shows the spread of restorations).
    t_index : int or None
        The timestep index ``x`` is noised to (e.g. ``q_sample(x0, schedule, t_index, noise)``):
        the run takes only the sampler's steps at or below it. None: ``x`` is an x_T and the run
        takes every step.
    """

    x: np.ndarray
    t_index: int | None = None


@dataclass(frozen=True, kw_only=True)
class SamplingSpec:
    """Everything that defines a sampling run (the model aside).

    Attributes
    ----------
    sampler : str
        "ddpm", "ddim", "dpm++2m" (timestep-index models) or "sde", "ode", "pc" (continuous-time
        models, :func:`run_generate` only).
    n_steps : int or None
        Sampler steps; None: the sampler's ``default_steps``. For DDPM, T or more means the full
        chain.
    eta : float
        DDIM noise scale in [0, 1] (samplers whose ``uses_eta`` is False must have 0).
    spacing : str or None
        Timestep spacing ("leading", "trailing", "linspace"); None: the sampler's own.
    clip_x0 : bool or float or None
        True: clip x0_pred to the image model's data range (no clipping for point models);
        False or None: no clipping; a number c > 0: clip to [-c, c].
    seed : int
        Seed of the seeding rule (:mod:`diffview.runs.seeding`), >= 0.
    batch : int
        Number of images.
    first_image : int
        Index of the batch's first image in the seeding rule: images ``first_image ..
        first_image + batch - 1`` of the run with ``seed`` (used to split a large run).
    start : Start or None
        None: start from the seeding rule's noise; else a given x_t (see :class:`Start`).
    keep : int or None
        Trajectories kept for replay (the first images of the batch); None: up to
        :data:`KEEP_MAX`. Always within ``keep_bytes``.
    keep_bytes : int
        Byte budget of the kept trajectories (x_t and x0_pred, float32).
    classes : tuple of int or None
        Class labels (one for the whole batch, or one per image) for a class-conditional model.
    guidance : float
        Classifier-free guidance scale w (Ho and Salimans 2022): eps = eps_u + w (eps_c - eps_u);
        1 is plain conditional sampling.
    variance : str
        DDPM's step variance, "beta" or "posterior".
    """

    sampler: str = "ddim"
    n_steps: int | None = None
    eta: float = 0.0
    spacing: str | None = None
    clip_x0: bool | float | None = CLIP_X0_DEFAULT
    seed: int = 0
    batch: int = 16
    first_image: int = 0
    start: Start | None = None
    keep: int | None = None
    keep_bytes: int = KEEP_BUDGET
    classes: tuple[int, ...] | None = None
    guidance: float = 1.0
    variance: str = "beta"

    def replace(self, **changes) -> SamplingSpec:
        """A copy with the given fields changed."""
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------------- frames


@dataclass(frozen=True, kw_only=True)
class SamplingFrame(Progress):
    """One step of a sampling run (``step`` of ``total``, 1-based).

    Attributes
    ----------
    t_index : int
        The timestep the step started from.
    x : ndarray, (m, *sample_shape)
        The first m = min(batch, MOSAIC_MAX) images after the step.
    x0_pred : ndarray, (m, *sample_shape)
        Their x0 predictions made at ``t_index``.
    nfe : int
        Network evaluations per image so far.
    """

    t_index: int
    x: np.ndarray
    x0_pred: np.ndarray
    nfe: int


@dataclass
class SamplingResult:
    """A finished (or cancelled) sampling run: kept trajectories and per-step statistics.

    Attributes
    ----------
    xs : ndarray, (n + 1, keep, *sample_shape)
        ``xs[k]`` is x after k steps (``xs[0]`` the start).
    x0s : ndarray, (n + 1, keep, *sample_shape)
        ``x0s[k]`` the x0 predicted from ``xs[k]``; the last is the final sample itself (of a
        cancelled run: the last prediction made, or the start when none was).
    t_indices : ndarray, (n,) int64
        Timestep each step started from.
    final : ndarray, (B, *sample_shape)
        The whole batch after the last step taken.
    norms : dict of str to ndarray (n,)
        RMS over the batch of x_t, x0_pred and the step's change, per step.
    description : str
    seed : int
    nfe : int
        Network evaluations per image.
    cancelled : bool
        True when the run was cancelled: everything above covers the n steps done.
    x_start : ndarray, (B, *sample_shape) or None
        Each image's starting sample (x_T from the seeding rule, or the given start).
    """

    xs: np.ndarray
    x0s: np.ndarray
    t_indices: np.ndarray
    final: np.ndarray
    norms: dict = field(default_factory=dict)
    description: str = ""
    seed: int = 0
    nfe: int = 0
    cancelled: bool = False
    x_start: np.ndarray | None = None


# ---------------------------------------------------------------------------------- helpers


def resolve_clip(clip_x0, info) -> float | None:
    """The x0 clipping bound of ``clip_x0`` (see :class:`SamplingSpec`) for a model's info."""
    if clip_x0 is None or clip_x0 is False:
        return None
    if clip_x0 is True:
        if info.kind != "image":
            return None
        lo, hi = info.value_range
        return float(max(abs(lo), abs(hi)))
    try:
        c = float(clip_x0)
    except (TypeError, ValueError):
        raise ValueError(f"clip_x0 must be True, False, None or a positive number, "
                         f"found {clip_x0!r}") from None
    if not (np.isfinite(c) and c > 0):
        raise ValueError(f"clip_x0 must be a positive number, found {clip_x0!r}")
    return c


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, found {value!r}")
    return int(value)


def check_spec(spec: SamplingSpec, info) -> None:
    """Raise ValueError naming the first field of ``spec`` that does not fit ``info``'s model."""
    check_seed(spec.seed)
    _check_int("batch", spec.batch, 1)
    _check_int("first_image", spec.first_image, 0)
    if not 0.0 <= float(spec.eta) <= 1.0:
        raise ValueError(f"eta must be in [0, 1], found {spec.eta}")
    if spec.n_steps is not None:
        _check_int("n_steps", spec.n_steps, 1)
    if spec.keep is not None:
        _check_int("keep", spec.keep, 0)
    _check_int("keep_bytes", spec.keep_bytes, 0)
    if spec.classes is not None:
        if not info.conditional:
            raise ValueError("class labels were given, but the model is unconditional "
                             "(it has no class input)")
        if len(spec.classes) not in (1, spec.batch):
            raise ValueError(f"give one class label or one per image ({spec.batch}), "
                             f"found {len(spec.classes)}")
        bad = [c for c in spec.classes if not 0 <= int(c) < info.num_classes]
        if bad:
            raise ValueError(f"class labels must be in 0..{info.num_classes - 1}, found {bad[0]}")
    if float(spec.guidance) != 1.0 and spec.classes is None:
        raise ValueError("a guidance scale other than 1 needs class labels")


def build_sampler(spec: SamplingSpec, info):
    """The core sampler of ``spec`` for a model of timestep indices (schedule from ``info``)."""
    if info.time_kind != "index":
        raise ValueError(f"this model takes continuous SDE time: use a sampler of "
                         f"{', '.join(CONTINUOUS_SAMPLERS)}, not {spec.sampler!r}")
    if spec.sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)} for a model of "
                         f"timestep indices, found {spec.sampler!r}")
    cls = sampler_class(spec.sampler)
    if spec.eta and not cls.uses_eta:
        raise ValueError(f"eta applies to the ddim sampler only, not {spec.sampler}")
    schedule = info.make_schedule()
    steps = spec.n_steps
    if steps is not None and steps > schedule.T:
        if spec.sampler != "ddpm":
            raise ValueError(f"steps must be at most the model's T = {schedule.T}, found {steps}")
        steps = None
    if spec.sampler == "ddpm" and steps == schedule.T:
        steps = None
    if steps is None and cls.default_steps is not None:
        steps = min(cls.default_steps, schedule.T)
    return make_sampler(spec.sampler, schedule, n_steps=steps, eta=spec.eta,
                        spacing=spec.spacing, variance=spec.variance,
                        clip_x0=resolve_clip(spec.clip_x0, info))


def keep_count(batch: int, sample_nbytes: int, n_steps: int, keep: int | None = None,
               budget: int = KEEP_BUDGET) -> int:
    """How many trajectories of a batch to keep: ``keep`` (None: up to KEEP_MAX) within
    ``budget`` bytes for x_t and x0_pred over ``n_steps + 1`` positions (0 when none fits)."""
    per_image = 2 * int(sample_nbytes) * (int(n_steps) + 1)
    limit = KEEP_MAX if keep is None else int(keep)
    return int(max(0, min(batch, limit, int(budget) // max(per_image, 1))))


def describe(spec: SamplingSpec, n_steps: int, clipped: bool | None = None) -> str:
    """A one-line description, e.g. "DDIM η=0.5, x̂₀ clipped, 50 steps, seed 7".

    ``clipped``: whether x0_pred is clipped (None: as ``spec.clip_x0`` says).
    """
    text = SAMPLER_LABELS.get(spec.sampler, spec.sampler)
    if spec.sampler == "ddim":
        text += f" η={spec.eta:g}"
    if clipped is None:
        clipped = spec.clip_x0 is not None and spec.clip_x0 is not False
    if clipped:
        text += ", x̂₀ clipped"
    if spec.classes is not None:
        text += f", classes {', '.join(map(str, spec.classes[:4]))}"
        text += "…" if len(spec.classes) > 4 else ""
        if float(spec.guidance) != 1.0:
            text += f", guidance {spec.guidance:g}"
    text += f", {n_steps} steps, seed {spec.seed}"
    if spec.start is not None and spec.start.t_index is not None:
        text += f", restoring from t index {spec.start.t_index}"
    return text


def _labels(spec: SamplingSpec) -> np.ndarray | None:
    """The class labels of the batch, int64 (B,), or None for an unconditional run."""
    if spec.classes is None:
        return None
    c = np.asarray(spec.classes, np.int64)
    return np.full(spec.batch, c[0]) if c.size == 1 else c


def _network(model, spec: SamplingSpec, labels: np.ndarray | None,
             token: CancelToken | None) -> tuple[Callable, int]:
    """``denoise(x, t) -> eps`` for the spec (labels, guidance) and its network calls per step."""
    if labels is None:
        return cancellable(model.predict_eps, token), 1
    # Classifier-free guidance (core.guidance): conditional and null rows in one call.
    w = float(spec.guidance)
    predict = cancellable(model.predict_eps, token)
    return guided(predict, labels, model.info.null_class, w), 1 if w in (0.0, 1.0) else 2


def _first_position(timesteps: np.ndarray, start_index: int | None) -> int:
    """Position of the first step ``sample_iter`` takes from ``start_index`` (same rule)."""
    if start_index is None:
        return 0
    first = int(np.searchsorted(-timesteps, -int(start_index), side="left"))
    return min(first, timesteps.size - 1)


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))


# -------------------------------------------------------------------------------------- runs


def run_sampling(spec: SamplingSpec, model, token: CancelToken | None = None
                 ) -> Generator[SamplingFrame, None, SamplingResult]:
    """Sample ``spec.batch`` images with a discrete-time sampler, step by step.

    Parameters
    ----------
    spec : SamplingSpec
    model : Denoiser
        ``info`` (a ModelInfo of timestep indices) and ``predict_eps(x, t[, labels])``.
    token : CancelToken, optional
        A cancelled run returns what it has (``cancelled=True``), replayable as a finished one.

    Yields
    ------
    SamplingFrame after every step.

    Returns
    -------
    SamplingResult
    """
    info = model.info
    check_spec(spec, info)
    sampler = build_sampler(spec, info)
    shape = tuple(info.sample_shape)
    batch = int(spec.batch)
    noise = PerSampleNoise.for_images(spec.seed, batch, spec.first_image)
    x_T = noise.standard_normal((batch, *shape), dtype=np.float32)  # noqa: N806
    start_index = None
    if spec.start is None:
        x = x_T
    else:
        x = np.asarray(spec.start.x, np.float32)
        if x.shape == shape:
            x = np.repeat(x[None], batch, axis=0)
        if x.shape != (batch, *shape):
            raise ValueError(f"the start sample has shape {x.shape}; the model expects "
                             f"{shape} or ({batch}, {', '.join(map(str, shape))})")
        if spec.start.t_index is not None:
            start_index = _check_int("start t_index", spec.start.t_index, 0)
            if start_index > info.T - 1:
                raise ValueError(f"start t_index must be in 0..{info.T - 1}, found {start_index}")
    ts = sampler.timesteps
    first = _first_position(ts, start_index)
    for i in range(first):  # the noise of skipped steps, so the rule's streams stay aligned
        if sampler.needs_noise(i):
            noise.standard_normal(x.shape, dtype=np.float32)
    n = int(ts.size - first)
    keep = keep_count(batch, x[0].nbytes, n, spec.keep, spec.keep_bytes)
    buf_shape = (n + 1, keep, *shape)
    xs = np.empty(buf_shape, np.float32)
    x0s = np.empty(buf_shape, np.float32)
    xs[0] = x[:keep]
    t_indices = np.zeros(n, np.int64)
    names = ("‖x_t‖ rms", "‖x̂₀‖ rms", "‖Δx‖ rms")
    norms = {name: np.zeros(n) for name in names}
    denoise, calls = _network(model, spec, _labels(spec), token)
    m = min(batch, MOSAIC_MAX)
    prev = x
    k = 0
    cancelled = False
    try:
        for k, frame in enumerate(sample_iter(sampler, denoise, x, noise,
                                              start_index=start_index), start=1):
            xs[k] = frame.x[:keep]
            x0s[k - 1] = frame.x0_pred[:keep]
            t_indices[k - 1] = frame.t_index
            norms[names[0]][k - 1] = _rms(frame.x)
            norms[names[1]][k - 1] = _rms(frame.x0_pred)
            norms[names[2]][k - 1] = _rms(frame.x - prev)
            prev = frame.x
            yield SamplingFrame(step=k, total=n, t_index=frame.t_index, x=frame.x[:m],
                                x0_pred=frame.x0_pred[:m], nfe=k * calls)
    except Cancelled:
        cancelled = True  # k steps were taken; one cancelled inside its network call was not
    if cancelled and k < n and k > 0:
        x0s[k] = x0s[k - 1]  # the prediction from xs[k] was never made
    else:
        x0s[k] = xs[k]
    return SamplingResult(xs[:k + 1], x0s[:k + 1], t_indices[:k], prev,
                          {key: v[:k] for key, v in norms.items()},
                          describe(spec, n, sampler.clip_x0 is not None), int(spec.seed),
                          k * calls, cancelled, x)


def run_batch(spec: SamplingSpec, model, token: CancelToken | None = None
              ) -> Generator[SamplingFrame, None, SamplingResult]:
    """A grid batch: :func:`run_sampling` keeping no trajectories (``final`` and ``x_start``
    are what the grid shows and re-runs)."""
    return (yield from run_sampling(spec.replace(keep=0), model, token))
