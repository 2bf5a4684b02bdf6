"""Cold diffusion as runs: restoration (Algorithm 1 or 2), the two side by side, hot against
cold, and generation from the blur (or pixelation) start distribution.

The steps are the core's (:mod:`diffview.core.cold`, Bansal et al. 2022, Alg. 1 and 2, sec.
3.3 and 5.1). A restoration model is a :class:`~diffview.engine.protocol.Denoiser` whose
metadata says ``prediction == "x0"`` and names its ``degradation`` (with T and the severity
schedule); its ``predict_eps(x, i)`` output is then x0_hat = R(x_s, s) itself, for the network
index i = s - 1 (the engine passes the network's output through unchanged whatever it
predicts). Every network call goes through :func:`~diffview.runs.base.cancellable`.

Seeding: image ``i`` of a generation with seed ``s`` draws its start (mixture component, the
mixture's Gaussian, then the symmetry-breaking noise) from
``default_rng(SeedSequence(s, spawn_key=(i,)))``, the sampling runs' rule, so image i does not
depend on the batch size or on how many images are drawn. A mask's pixel order comes from
``default_rng(mask_seed)`` unless the caller passes the order its image was masked with.

Command line (restoration PSNR against t, on test images)::

    python -m diffview.runs.cold psnr --model resources/models/cold_blur.onnx --n 200
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np

from diffview.core.cold import ColdDegradation, ColdStart, restore_iter, step_table
from diffview.core.forward import mask_order, q_sample
from diffview.runs.base import Cancelled, CancelToken, Progress, cancellable, check

__all__ = [
    "ColdGenerationFrame",
    "ColdGenerationResult",
    "ColdGenerationSpec",
    "HotColdFrame",
    "HotColdResult",
    "HotColdSpec",
    "RestorationFrame",
    "RestorationResult",
    "RestorationSpec",
    "SideBySideFrame",
    "SideBySideResult",
    "cold_start_of",
    "degradation_of",
    "psnr",
    "run_cold_generation",
    "run_hot_vs_cold",
    "run_restoration",
    "run_side_by_side",
    "sample_cold_model",
]

DEFAULT_NOISE_STD = 0.002   # the start's symmetry-breaking noise (Bansal et al. sec. 5.1)
MOSAIC_MAX = 16             # images of a batch in each live frame


# ------------------------------------------------------------------------------ the model


def degradation_of(model) -> ColdDegradation:
    """The :class:`ColdDegradation` a restoration model inverts; ValueError if it is not one."""
    info = model.info
    if info.prediction != "x0" or not info.degradation:
        raise ValueError(f"{_name(model)} is not a restoration model (it predicts "
                         f"{info.prediction!r}; a cold-diffusion model predicts 'x0' and names "
                         "its degradation)")
    deg = ColdDegradation.from_dict(info.degradation)
    if deg.T != info.T:
        raise ValueError(f"{_name(model)}: its degradation has T = {deg.T} steps but the network "
                         f"takes {info.T} timesteps")
    return deg


def cold_start_of(model) -> ColdStart:
    """The generation start distribution stored in a restoration model's metadata."""
    deg = degradation_of(model)
    data = model.info.extra.get("cold_start")
    if not data:
        why = ("every fully masked image is the same constant, so there is nothing to start "
               "a generation from" if deg.name == "mask" else
               "the model has no start distribution in its metadata (extra.cold_start)")
        raise ValueError(f"{_name(model)} cannot generate: {why}; restore degraded real "
                         "images with it instead")
    return ColdStart.from_dict(data)


def _name(model) -> str:
    path = getattr(model, "path", None)
    return getattr(path, "name", None) or "the model"


def _restorer(model, token: CancelToken | None):
    """R(x, s) for the core samplers: the network at index s - 1, cancellable in chunks."""
    predict = cancellable(model.predict_eps, token)

    def r(x: np.ndarray, s: np.ndarray) -> np.ndarray:
        return predict(np.asarray(x, np.float32), np.asarray(s, np.int64) - 1)

    return r


def _order(deg: ColdDegradation, shape, order, mask_seed: int):
    if deg.name != "mask":
        return None
    if order is not None:
        return np.asarray(order)
    return mask_order(tuple(shape), np.random.default_rng(mask_seed))


def _check_algorithm(algorithm: int) -> None:
    if algorithm not in (1, 2):
        raise ValueError(f"algorithm must be 1 (naive) or 2 (improved), got {algorithm!r}")


def _check_images(x: np.ndarray, model, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    want = tuple(model.info.sample_shape)
    if x.ndim == len(want):
        x = x[None]
    if x.shape[1:] != want:
        raise ValueError(f"{name} has shape {x.shape}, expected (B, {', '.join(map(str, want))})")
    return x


def psnr(x: np.ndarray, ref: np.ndarray, data_range: float = 2.0) -> np.ndarray:
    """Peak signal-to-noise ratio per image, 10 log10(range^2 / MSE) in dB; (B,).

    ``x`` and ``ref`` (B, ...); the range of images in [-1, 1] is 2. Identical images give inf.
    """
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    mse = ((x - ref) ** 2).reshape(x.shape[0], -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range ** 2 / mse)


# ---------------------------------------------------------------------------- restoration


@dataclass(frozen=True, kw_only=True)
class RestorationSpec:
    """A restoration of degraded images by a cold-diffusion model.

    Attributes
    ----------
    t : int
        The degradation step of the images, 1..T (severity t / T).
    algorithm : int
        1 (naive: x_{s-1} = D(x0_hat, s-1)) or 2 (improved: x_{s-1} = x_s - D(x0_hat, s) +
        D(x0_hat, s-1)).
    n_steps : int or None
        Steps from t to 0 (evenly spaced, :func:`diffview.core.cold.step_table`); None: all t.
    mask_seed : int
        Seeds the mask's pixel order when the caller passes none.
    """

    t: int
    algorithm: int = 2
    n_steps: int | None = None
    mask_seed: int = 0


@dataclass(frozen=True, kw_only=True)
class RestorationFrame(Progress):
    """One restoration step (``step`` of ``total``, 1-based).

    Attributes
    ----------
    s : int
        The degradation step the step started from (x0_hat = R(x_s, s)).
    next_s : int
        The step reached.
    x : ndarray (m, C, H, W)
        x_{next_s} of the first m = min(B, 16) images.
    x0_hat : ndarray (m, C, H, W)
        R(x_s, s) of the same images.
    """

    s: int
    next_s: int
    x: np.ndarray
    x0_hat: np.ndarray


@dataclass
class RestorationResult:
    """A finished (or cancelled) restoration.

    Attributes
    ----------
    x_t : (B, C, H, W) the degraded input.
    final : (B, C, H, W) the restored images (after the last step taken).
    xs : (k + 1, m, C, H, W) x after 0..k steps of the first m images (``xs[0]`` is x_t).
    x0_hats : (k, m, C, H, W) the restoration predicted at each step.
    steps : (n + 1,) int64 the step table t .. 0.
    algorithm : 1 or 2.
    degradation : the model's :class:`ColdDegradation`.
    order : the mask's pixel order, or None.
    cancelled : True when cancelled after k < n steps.
    """

    x_t: np.ndarray
    final: np.ndarray
    xs: np.ndarray
    x0_hats: np.ndarray
    steps: np.ndarray
    algorithm: int
    degradation: ColdDegradation
    order: np.ndarray | None = None
    cancelled: bool = False


def run_restoration(spec: RestorationSpec, model, x_t: np.ndarray,
                    order: np.ndarray | None = None, token: CancelToken | None = None
                    ) -> Generator[RestorationFrame, None, RestorationResult]:
    """Restore degraded images ``x_t`` (B, C, H, W) at step ``spec.t`` with Algorithm 1 or 2.

    ``order`` is the mask order ``x_t`` was masked with ((H*W,) or (B, H*W)); without it the
    order of ``spec.mask_seed`` is used. A cancel ends the run with a partial result.
    """
    deg = degradation_of(model)
    _check_algorithm(spec.algorithm)
    if not isinstance(spec.t, (int, np.integer)) or not 1 <= spec.t <= deg.T:
        raise ValueError(f"t must be an int in 1..{deg.T} (the model's degradation steps), "
                         f"got {spec.t!r}")
    x_t = _check_images(x_t, model, "x_t")
    order = _order(deg, x_t.shape, order, spec.mask_seed)
    table = step_table(int(spec.t), spec.n_steps)
    m = min(x_t.shape[0], MOSAIC_MAX)
    xs, x0s = [x_t[:m].copy()], []
    final = x_t
    cancelled = False
    frames = restore_iter(_restorer(model, token), deg.bind(order), x_t, int(spec.t),
                          spec.algorithm, table)
    try:
        for f in frames:
            check(token)
            final = f.x
            xs.append(f.x[:m].copy())
            x0s.append(f.x0_hat[:m].copy())
            yield RestorationFrame(step=f.index + 1, total=f.n_total, s=f.step,
                                   next_s=f.next_step, x=xs[-1], x0_hat=x0s[-1])
    except Cancelled:
        cancelled = True
    return RestorationResult(x_t, final, np.stack(xs), _stack(x0s, xs[0]), table,
                             spec.algorithm, deg, order, cancelled)


def _stack(arrays: list[np.ndarray], like: np.ndarray) -> np.ndarray:
    return np.stack(arrays) if arrays else np.zeros((0, *like.shape), like.dtype)


# ---------------------------------------------------------------------------- side by side


@dataclass(frozen=True, kw_only=True)
class SideBySideFrame(Progress):
    """One step of both algorithms from the same degraded images.

    Attributes
    ----------
    s, next_s : the step started from and the one reached.
    x1, x2 : (m, C, H, W) x_{next_s} of Algorithm 1 and of Algorithm 2.
    x0_hat1, x0_hat2 : (m, C, H, W) their restorations R(x_s, s).
    psnr1, psnr2 : (m,) PSNR (dB) of x1, x2 against the original, when it was given; else None.
    """

    s: int
    next_s: int
    x1: np.ndarray
    x2: np.ndarray
    x0_hat1: np.ndarray
    x0_hat2: np.ndarray
    psnr1: np.ndarray | None = None
    psnr2: np.ndarray | None = None


@dataclass
class SideBySideResult:
    """Both restorations of the same x_t (see :class:`RestorationResult` for the arrays).

    ``psnr1``/``psnr2`` are (k + 1, B) PSNR against the original of x after 0..k steps of each
    algorithm, or None without an original.
    """

    naive: RestorationResult
    improved: RestorationResult
    psnr1: np.ndarray | None
    psnr2: np.ndarray | None
    cancelled: bool = False


def run_side_by_side(spec: RestorationSpec, model, x_t: np.ndarray,
                     x0: np.ndarray | None = None, order: np.ndarray | None = None,
                     token: CancelToken | None = None
                     ) -> Generator[SideBySideFrame, None, SideBySideResult]:
    """Algorithm 1 and Algorithm 2 from the same ``x_t`` in lockstep (one network call a step
    for both), with their PSNR against ``x0`` when given: the paper's fig. 3 / sec. 3.3 on blur,
    where the naive walk drifts and the improved one recovers. ``spec.algorithm`` is ignored."""
    x_t = _check_images(x_t, model, "x_t")
    ref = None if x0 is None else _check_images(x0, model, "x0")
    if ref is not None and ref.shape != x_t.shape:
        raise ValueError(f"x0 has shape {ref.shape}, x_t {x_t.shape}: expected the same")
    deg = degradation_of(model)
    order = _order(deg, x_t.shape, order, spec.mask_seed)
    b = x_t.shape[0]
    if order is not None and order.ndim == 2:
        both_order = np.concatenate([order, order])
    else:
        both_order = order
    if not isinstance(spec.t, (int, np.integer)) or not 1 <= spec.t <= deg.T:
        raise ValueError(f"t must be an int in 1..{deg.T} (the model's degradation steps), "
                         f"got {spec.t!r}")
    table = step_table(int(spec.t), spec.n_steps)
    # the two walks go through the network as one batch of 2B images
    deg_b = deg.bind(both_order)
    restore_fn = _restorer(model, token)
    walks = {1: x_t.copy(), 2: x_t.copy()}
    m = min(b, MOSAIC_MAX)
    hist = {1: [x_t[:m].copy()], 2: [x_t[:m].copy()]}
    x0h = {1: [], 2: []}
    ps = {1: [], 2: []}
    if ref is not None:
        ps[1].append(psnr(x_t, ref))
        ps[2].append(psnr(x_t, ref))
    cancelled = False
    try:
        for k in range(table.size - 1):
            check(token)
            s, s_next = int(table[k]), int(table[k + 1])
            x = np.concatenate([walks[1], walks[2]])
            x0_hat = np.asarray(restore_fn(x, np.full(2 * b, s, np.int64)), np.float32)
            # Algorithm 1 on the first half, Algorithm 2 on the second (core/cold.py's steps)
            nxt = deg_b(x0_hat, s_next)
            walks[1] = nxt[:b]
            walks[2] = (walks[2] - deg_b(x0_hat, s)[b:]) + nxt[b:]
            for a, sl in ((1, slice(0, b)), (2, slice(b, 2 * b))):
                hist[a].append(walks[a][:m].copy())
                x0h[a].append(x0_hat[sl][:m].copy())
                if ref is not None:
                    ps[a].append(psnr(walks[a], ref))
            yield SideBySideFrame(step=k + 1, total=table.size - 1, s=s, next_s=s_next,
                                  x1=hist[1][-1], x2=hist[2][-1], x0_hat1=x0h[1][-1],
                                  x0_hat2=x0h[2][-1],
                                  psnr1=None if ref is None else ps[1][-1][:m],
                                  psnr2=None if ref is None else ps[2][-1][:m])
    except Cancelled:
        cancelled = True
    results = {a: RestorationResult(x_t, walks[a], np.stack(hist[a]), _stack(x0h[a], x_t[:m]),
                                    table, a, deg, order, cancelled) for a in (1, 2)}
    return SideBySideResult(results[1], results[2],
                            None if ref is None else np.stack(ps[1]),
                            None if ref is None else np.stack(ps[2]), cancelled)


# ---------------------------------------------------------------------------- hot vs cold


@dataclass(frozen=True, kw_only=True)
class HotColdSpec:
    """The same images degraded to the same severity by noise and by a cold degradation.

    Attributes
    ----------
    severity : float in (0, 1]
        Fraction of each process: the cold step is max(1, round(severity * T_cold)), the noise
        timestep index round(severity * T_hot) - 1 (at least 0).
    hot_steps : int
        DDIM (eta = 0) steps over the noise model's whole schedule; only those at or below
        the start are taken.
    algorithm : int
        The cold restoration's algorithm (2 by default).
    seed : int
        Seeds the Gaussian noise of the hot degradation (image i: spawn key i).
    mask_seed : int
        The mask's pixel order (a mask model).
    """

    severity: float
    hot_steps: int = 50
    algorithm: int = 2
    seed: int = 0
    mask_seed: int = 0


@dataclass(frozen=True, kw_only=True)
class HotColdFrame(Progress):
    """One step of either restoration; the hot one runs first, then the cold one.

    Attributes
    ----------
    lane : "hot" or "cold".
    x : (m, C, H, W) the lane's current image; x0_hat : its x_0 prediction.
    """

    lane: str
    x: np.ndarray
    x0_hat: np.ndarray


@dataclass
class HotColdResult:
    """Both degradations and restorations of x0, with their errors.

    Attributes
    ----------
    x0 : (B, C, H, W) the originals.
    hot_t_index, cold_step : where each process was degraded to.
    x_hot, x_cold : (B, C, H, W) the degraded images.
    restored_hot, restored_cold : (B, C, H, W) the restorations.
    mse_hot, mse_cold, psnr_hot, psnr_cold : (B,) errors against x0 (images in [-1, 1]).
    hot_nfe, cold_nfe : network evaluations per image of each.
    cancelled : True when cancelled (the arrays of an unfinished lane are its last state).
    """

    x0: np.ndarray
    hot_t_index: int
    cold_step: int
    x_hot: np.ndarray
    x_cold: np.ndarray
    restored_hot: np.ndarray
    restored_cold: np.ndarray
    mse_hot: np.ndarray
    mse_cold: np.ndarray
    psnr_hot: np.ndarray
    psnr_cold: np.ndarray
    hot_nfe: int
    cold_nfe: int
    cancelled: bool = False


def run_hot_vs_cold(spec: HotColdSpec, eps_model, cold_model, x0: np.ndarray,
                    token: CancelToken | None = None
                    ) -> Generator[HotColdFrame, None, HotColdResult]:
    """Degrade ``x0`` by Gaussian noise (q(x_t | x_0), Ho et al. eq. 4) and by the cold model's
    degradation to the same severity; restore the first by DDIM (Song et al. eq. 12, eta = 0)
    with ``eps_model`` and the second by Algorithm 2 with ``cold_model``."""
    from diffview.core.samplers import make_sampler, sample_iter

    if not (isinstance(spec.severity, (int, float)) and 0 < spec.severity <= 1):
        raise ValueError(f"severity must be in (0, 1], got {spec.severity!r}")
    info = eps_model.info
    if info.prediction != "eps" or info.time_kind != "index":
        raise ValueError("the hot lane needs an epsilon model of timestep indices, got one "
                         f"predicting {info.prediction!r} with {info.time_kind} time")
    deg = degradation_of(cold_model)
    _check_algorithm(spec.algorithm)
    x0 = _check_images(x0, cold_model, "x0")
    if tuple(info.sample_shape) != x0.shape[1:]:
        raise ValueError(f"the two models take different images: {info.sample_shape} and "
                         f"{x0.shape[1:]}")
    schedule = info.make_schedule()
    t_idx = max(0, int(round(spec.severity * schedule.T)) - 1)
    s_cold = max(1, int(round(spec.severity * deg.T)))
    rngs = [np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(i,)))
            for i in range(x0.shape[0])]
    noise = np.stack([g.standard_normal(x0.shape[1:], dtype=np.float32) for g in rngs])
    x_hot = q_sample(x0, schedule, t_idx, noise)
    order = _order(deg, x0.shape, None, spec.mask_seed)
    x_cold = deg.apply(x0, s_cold, order)
    sampler = make_sampler("ddim", schedule, n_steps=spec.hot_steps, eta=0.0)
    first = int(np.searchsorted(-sampler.timesteps, -t_idx, side="left"))
    hot_total = max(1, sampler.timesteps.size - first)
    cold_table = step_table(s_cold)
    total = hot_total + cold_table.size - 1
    m = min(x0.shape[0], MOSAIC_MAX)
    restored_hot, restored_cold = x_hot, x_cold
    done, hot_nfe, cold_nfe = 0, 0, 0
    cancelled = False
    try:
        predict = cancellable(eps_model.predict_eps, token)
        never = np.random.default_rng(0)  # eta = 0 draws no noise
        for f in sample_iter(sampler, predict, x_hot, never, start_index=t_idx):
            check(token)
            restored_hot, done, hot_nfe = f.x, done + 1, hot_nfe + 1
            yield HotColdFrame(step=done, total=total, lane="hot", x=f.x[:m].copy(),
                               x0_hat=f.x0_pred[:m].copy())
        for f in restore_iter(_restorer(cold_model, token), deg.bind(order), x_cold, s_cold,
                              spec.algorithm, cold_table):
            check(token)
            restored_cold, done, cold_nfe = f.x, done + 1, cold_nfe + 1
            yield HotColdFrame(step=done, total=total, lane="cold", x=f.x[:m].copy(),
                               x0_hat=f.x0_hat[:m].copy())
    except Cancelled:
        cancelled = True

    def mse(a):
        return ((np.asarray(a, np.float64) - x0) ** 2).reshape(x0.shape[0], -1).mean(axis=1)

    return HotColdResult(x0, t_idx, s_cold, x_hot, x_cold, restored_hot, restored_cold,
                         mse(restored_hot), mse(restored_cold), psnr(restored_hot, x0),
                         psnr(restored_cold, x0), hot_nfe, cold_nfe, cancelled)


# ---------------------------------------------------------------------------- generation


@dataclass(frozen=True, kw_only=True)
class ColdGenerationSpec:
    """Generation from the start distribution of a blur (or pixelation) model.

    Attributes
    ----------
    n : images to draw.
    seed : the seeding rule's seed (image i: spawn key i).
    algorithm : 2 (improved; the one that generates) or 1 (naive, for comparison).
    n_steps : steps from T to 0; None: all T.
    noise_std : standard deviation of the noise added to each start (sec. 5.1).
    batch : images per network call.
    first_image : index of the first image in the seeding rule (to split a large run).
    """

    n: int
    seed: int = 0
    algorithm: int = 2
    n_steps: int | None = None
    noise_std: float = DEFAULT_NOISE_STD
    batch: int = 64
    first_image: int = 0


@dataclass(frozen=True, kw_only=True)
class ColdGenerationFrame(Progress):
    """One step of one batch (``step`` of ``total`` over all batches).

    Attributes
    ----------
    batch_index : which batch; s, next_s : the step taken.
    x, x0_hat : (m, C, H, W) the first images of the batch after the step / predicted.
    """

    batch_index: int
    s: int
    next_s: int
    x: np.ndarray
    x0_hat: np.ndarray


@dataclass
class ColdGenerationResult:
    """Generated images.

    Attributes
    ----------
    samples : (k, C, H, W) float32 in the model's range (not clipped); k = n unless cancelled,
        then the finished batches only.
    starts : (k, C, H, W) their x_T.
    fitted_to : what the start distribution was fitted to.
    nfe : network evaluations per image.
    cancelled : bool
    """

    samples: np.ndarray
    starts: np.ndarray
    fitted_to: str
    nfe: int
    cancelled: bool = False
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def run_cold_generation(spec: ColdGenerationSpec, model, token: CancelToken | None = None
                        ) -> Generator[ColdGenerationFrame, None, ColdGenerationResult]:
    """Draw x_T from the model's start mixture (+ noise) and walk it to x_0 (Alg. 2 or 1)."""
    deg = degradation_of(model)
    start = cold_start_of(model)
    _check_algorithm(spec.algorithm)
    if not isinstance(spec.n, (int, np.integer)) or spec.n < 1:
        raise ValueError(f"n must be a positive integer, got {spec.n!r}")
    if not isinstance(spec.batch, (int, np.integer)) or spec.batch < 1:
        raise ValueError(f"batch must be a positive integer, got {spec.batch!r}")
    if not (math.isfinite(spec.noise_std) and spec.noise_std >= 0):
        raise ValueError(f"noise_std must be >= 0, got {spec.noise_std!r}")
    if tuple(start.image_shape) != tuple(model.info.sample_shape):
        raise ValueError(f"the start distribution has images {start.image_shape}, the model "
                         f"{model.info.sample_shape}")
    table = step_table(deg.T, spec.n_steps)
    order = None  # blur and pixelation need no order; a mask model has no start (above)
    restore_fn = _restorer(model, token)
    n_batches = -(-spec.n // spec.batch)
    total = n_batches * (table.size - 1)
    samples, starts = [], []
    cancelled = False
    done = 0
    try:
        for b in range(n_batches):
            lo = b * spec.batch
            count = min(spec.batch, spec.n - lo)
            first = spec.first_image + lo
            x_T = np.concatenate([  # noqa: N806
                start.sample(1, np.random.default_rng(np.random.SeedSequence(
                    spec.seed, spawn_key=(i,))), spec.noise_std)
                for i in range(first, first + count)])
            x = x_T
            for f in restore_iter(restore_fn, deg.bind(order), x_T, deg.T, spec.algorithm,
                                  table):
                check(token)
                x, done = f.x, done + 1
                m = min(count, MOSAIC_MAX)
                yield ColdGenerationFrame(step=done, total=total, batch_index=b, s=f.step,
                                          next_s=f.next_step, x=f.x[:m].copy(),
                                          x0_hat=f.x0_hat[:m].copy())
            samples.append(np.asarray(x, np.float32))
            starts.append(x_T)
    except Cancelled:
        cancelled = True
    shape = tuple(model.info.sample_shape)
    out = np.concatenate(samples) if samples else np.zeros((0, *shape), np.float32)
    xts = np.concatenate(starts) if starts else np.zeros((0, *shape), np.float32)
    return ColdGenerationResult(out, xts, start.fitted_to, table.size - 1, cancelled, table)


def sample_cold_model(model, n: int, seed: int = 0, algorithm: int = 2,
                      n_steps: int | None = None, batch: int = 64, progress=None) -> np.ndarray:
    """``n`` generated images (n, C, H, W) float32, for ``diffview sample`` and the FID.

    ``progress(done, total)`` is called after every step of every batch.
    """
    from diffview.runs.base import run_to_end

    spec = ColdGenerationSpec(n=n, seed=seed, algorithm=algorithm, n_steps=n_steps, batch=batch)
    on_frame = None if progress is None else (lambda f: progress(f.step, f.total))
    return run_to_end(run_cold_generation(spec, model), on_frame).samples


# ---------------------------------------------------------------------------- command line


def _psnr_table(argv: list[str] | None = None) -> int:
    """``python -m diffview.runs.cold psnr``: restoration PSNR against t on test images."""
    import argparse
    import sys

    from diffview.core.data import load_idx_folder, to_model_range
    from diffview.engine import ModelError, OnnxDenoiser
    from diffview.runs.base import run_to_end

    p = argparse.ArgumentParser(prog="python -m diffview.runs.cold psnr",
                                description="PSNR of Algorithm 1 and 2 restorations of "
                                            "Fashion-MNIST test images degraded to step t")
    p.add_argument("--model", required=True)
    p.add_argument("--data", default="../shared/data/fashion-mnist")
    p.add_argument("--n", type=int, default=200, help="test images (the first n)")
    p.add_argument("--ts", default=None, help="comma-separated steps (default: 5 across 1..T)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    args = p.parse_args(argv)
    try:
        model = OnnxDenoiser(args.model, threads=args.threads)
        deg = degradation_of(model)
        x0 = to_model_range(load_idx_folder(args.data, "test").images[: args.n])
    except (ModelError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ts = ([int(v) for v in args.ts.split(",")] if args.ts else
          sorted({max(1, round(f * deg.T)) for f in (0.1, 0.25, 0.5, 0.75, 1.0)}))
    order = _order(deg, x0.shape, None, 0)
    print(f"{model.path.name}: {deg.name}, T = {deg.T}, {len(x0)} test images; PSNR in dB "
          "(mean over images) of the degraded input and of each restoration")
    print(f"{'t':>4} {'severity':>8} {'input':>7} {'alg 1':>7} {'alg 2':>7} {'R(x_t) once':>11}")
    for t in ts:
        x_t = deg.apply(x0, t, order)
        res = run_to_end(run_side_by_side(RestorationSpec(t=t), model, x_t, x0, order))
        once = model.predict_eps(x_t, np.full(len(x_t), t - 1))
        print(f"{t:4d} {t / deg.T:8.2f} {psnr(x_t, x0).mean():7.2f} "
              f"{psnr(res.naive.final, x0).mean():7.2f} "
              f"{psnr(res.improved.final, x0).mean():7.2f} {psnr(once, x0).mean():11.2f}")
    return 0


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 2 or sys.argv[1] != "psnr":
        print("usage: python -m diffview.runs.cold psnr --model MODEL.onnx [--n N] [--ts 1,5]",
              file=sys.stderr)
        sys.exit(2)
    sys.exit(_psnr_table(sys.argv[2:]))
