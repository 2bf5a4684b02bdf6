"""Many images at once, reproducibly: the run behind ``diffview sample`` and the FID evaluation.

:func:`run_generate` draws ``spec.batch`` samples in chunks of ``chunk`` images per network call
with any sampler: the discrete ones through :func:`diffview.runs.sampling.run_sampling` (so image
i is the image i of the app's run with the same spec and seed), the reverse SDE, probability-flow
ODE and predictor-corrector of a continuous-time model through
:func:`diffview.core.sde.reverse_iter` (Song et al. 2021, eqs. 6, 13, Alg. 4/5), the project's one
sde/ode/pc dispatch. No torch: the network runs through whatever denoiser is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

from diffview.runs.base import Cancelled, CancelToken, Progress, cancellable
from diffview.runs.sampling import (
    CONTINUOUS_DEFAULT_STEPS,
    CONTINUOUS_SAMPLERS,
    SamplingSpec,
    _check_int,
    build_sampler,
    check_spec,
    describe,
    run_sampling,
)
from diffview.runs.seeding import PerSampleNoise

__all__ = ["GenerateFrame", "GenerateResult", "generate", "run_generate"]


@dataclass(frozen=True, kw_only=True)
class GenerateFrame(Progress):
    """Progress of :func:`run_generate`: network evaluations done of all (summed over chunks).

    Attributes
    ----------
    images_done : int
        Images finished so far.
    """

    images_done: int


@dataclass
class GenerateResult:
    """Generated samples, float32 (n, *sample_shape) in the model's range (not clipped)."""

    samples: np.ndarray
    nfe: int
    seed: int
    description: str = ""
    cancelled: bool = False


def _continuous_chunks(spec: SamplingSpec, model, chunk: int, token: CancelToken | None):
    """Yield (steps done in the chunk, steps per chunk, start, samples or None) per step."""
    from diffview.core.sde import reverse_iter, score_from_eps

    info = model.info
    if spec.sampler not in CONTINUOUS_SAMPLERS:
        raise ValueError(f"this model takes continuous SDE time: use a sampler of "
                         f"{', '.join(CONTINUOUS_SAMPLERS)}, not {spec.sampler!r}")
    if spec.clip_x0 is not None and spec.clip_x0 is not True and spec.clip_x0 is not False:
        raise ValueError("clip_x0 applies to the ddpm/ddim/dpm++2m samplers only")
    if spec.eta:
        raise ValueError(f"eta applies to the ddim sampler only, not {spec.sampler}")
    if spec.start is not None:
        raise ValueError("a continuous-time run starts from the prior; a given start is "
                         "not supported")
    sde = info.make_sde()
    steps = CONTINUOUS_DEFAULT_STEPS[spec.sampler] if spec.n_steps is None else spec.n_steps
    predict = cancellable(model.predict_eps, token)

    def eps(x: np.ndarray, time: np.ndarray) -> np.ndarray:
        return predict(x.astype(np.float32), np.asarray(time, np.float32))

    score = score_from_eps(eps, sde, sde)
    for start in range(0, spec.batch, chunk):
        count = min(chunk, spec.batch - start)
        noise = PerSampleNoise.for_images(spec.seed, count, spec.first_image + start)
        x_T = sde.prior_std() * noise.standard_normal((count, *info.sample_shape))  # noqa: N806
        for k, (_, x) in enumerate(reverse_iter(sde, score, x_T, steps, noise,
                                                method=spec.sampler), start=1):
            yield k, steps, start, x if k == steps else None


def run_generate(spec: SamplingSpec, model, chunk: int = 64, token: CancelToken | None = None
                 ) -> Generator[GenerateFrame, None, GenerateResult]:
    """Draw ``spec.batch`` samples, ``chunk`` images per network call, any sampler.

    Image i's samples are those of ``run_sampling(spec)`` (the seeding rule), whatever
    ``chunk`` is (up to float rounding of batched inference). A continuous-time model uses
    the sde/ode/pc samplers; the corrector's step size of ``pc`` uses norms averaged over the
    chunk, so only ``sde`` and ``ode`` results are independent of ``chunk``.

    Yields
    ------
    GenerateFrame after every network evaluation of a chunk (``step`` of ``total`` summed over
    chunks).

    Returns
    -------
    GenerateResult, samples float32 (batch, *sample_shape); a cancelled run returns the
    images finished so far.
    """
    info = model.info
    check_spec(spec, info)
    chunk = _check_int("chunk", chunk, 1)
    n = int(spec.batch)
    out = np.empty((n, *info.sample_shape), np.float32)
    done_images = 0
    n_chunks = -(-n // chunk)
    cancelled = False
    nfe = 0
    if info.time_kind == "continuous":
        steps = CONTINUOUS_DEFAULT_STEPS.get(spec.sampler, 0) if spec.n_steps is None \
            else spec.n_steps
        total = n_chunks * int(steps)
        desc = f"{spec.sampler}, {steps} steps, seed {spec.seed}"
        done = 0
        try:
            for k, _steps, start, x in _continuous_chunks(spec, model, chunk, token):
                done += 1 if k else 0
                if x is not None:
                    out[start:start + len(x)] = x
                    done_images = start + len(x)
                yield GenerateFrame(step=done, total=total, images_done=done_images)
            nfe = int(steps)
        except Cancelled:
            cancelled = True
    else:
        per_chunk = len(build_sampler(spec, info).timesteps)
        total = n_chunks * per_chunk
        desc = describe(spec, per_chunk)
        done = 0
        for start in range(0, n, chunk):
            count = min(chunk, n - start)
            sub = spec.replace(batch=count, first_image=spec.first_image + start, keep=0,
                               classes=spec.classes if spec.classes is None
                               or len(spec.classes) == 1
                               else spec.classes[start:start + count])
            gen = run_sampling(sub, model, token)
            while True:
                try:
                    next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                done += 1
                yield GenerateFrame(step=done, total=total, images_done=done_images)
            if result.cancelled:
                cancelled = True
                break
            out[start:start + count] = result.final
            done_images = start + count
            nfe = result.nfe
    return GenerateResult(out[:done_images] if cancelled else out, nfe, int(spec.seed), desc,
                          cancelled)


def generate(model, spec: SamplingSpec, chunk: int = 64,
             progress: Callable[[int, int], None] | None = None,
             token: CancelToken | None = None) -> np.ndarray:
    """:func:`run_generate` driven to its end; ``progress(done, total)`` after every step.

    Returns
    -------
    float32 ndarray, (spec.batch, *sample_shape); raises Cancelled when cancelled.
    """
    gen = run_generate(spec, model, chunk, token)
    while True:
        try:
            frame = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        if progress is not None:
            progress(frame.step, frame.total)
    if result.cancelled:
        raise Cancelled
    return result.samples
