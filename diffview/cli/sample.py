"""``diffview sample``: draw samples from an ONNX model and save a PNG (and optionally .npy).

Image models give a grid of the samples; 2-D point models give a scatter plot. Sampling runs
through onnxruntime (:mod:`diffview.engine`) and :func:`diffview.runs.generate.generate`; torch is
never imported. Sample ``i`` of a run depends only on the seed and ``i`` (the seeding rule of
:mod:`diffview.runs.seeding`, the same in the app), so ``--batch`` changes the speed, not the
result. x0 predictions of image models are clipped to the data range by default, as in the app.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from diffview.cli.common import MODEL_HELP, ProgressBar
from diffview.fileio import OutputError, check_target, save_npy, save_png

DEVICES = ("auto", "cpu", "cuda")
SAMPLER_NAMES = ("ddpm", "ddim", "dpm++2m", "sde", "ode", "pc")
SPACINGS = ("leading", "trailing", "linspace")
# Samples per network call: beyond this the activations of one call alone can exhaust memory.
MAX_BATCH = 4096
# Share of the available memory the samples (float32 plus the uint8 grid) may take.
MEMORY_SHARE = 0.5


def add_parser(subparsers, help_text: str) -> argparse.ArgumentParser:
    """Register ``sample`` on the dispatcher's subparsers."""
    p = subparsers.add_parser(
        "sample", help=help_text, description=help_text,
        epilog="example: diffview sample --model default --sampler ddim --steps 50 --n 64 "
               "--seed 0 --out grid.png --npy samples.npy")
    p.add_argument("--model", default="default", help=MODEL_HELP + " (default: default)")
    p.add_argument("--sampler", default=None, choices=SAMPLER_NAMES,
                   help="ddpm, ddim, dpm++2m for models of timestep indices (default ddim); "
                        "sde, ode, pc for continuous-time (SDE) models (default ode)")
    p.add_argument("--steps", type=int, default=None,
                   help="sampler steps (default: 50 for ddim, 20 for dpm++2m, all T for ddpm; "
                        "500, 100, 250 for sde, ode, pc)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM noise scale in [0, 1]")
    p.add_argument("--spacing", default=None, choices=SPACINGS,
                   help="timestep spacing (default: the sampler's own)")
    p.add_argument("--clip-x0", type=float, default=None, metavar="C",
                   help="clip each x0 prediction to [-C, C] (default: image models are clipped "
                        "to their data range, as in the app; point models are not)")
    p.add_argument("--no-clip-x0", action="store_true",
                   help="do not clip the x0 predictions")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--batch", type=int, default=64,
                   help=f"samples per network call, 1..{MAX_BATCH} (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--npy", default=None,
                   help="also save the samples: uint8 (N, H, W) or (N, H, W, C) for images, "
                        "float32 (N, d) for points")
    p.add_argument("--classes", default=None, metavar="balanced|random|K[,K...]",
                   help="class labels for a class-conditional model: balanced (equal counts of "
                        "every class, in class order), random, or class numbers (none: "
                        "unconditional)")
    p.add_argument("--guidance", type=float, default=1.0, metavar="W",
                   help="classifier-free guidance scale w: 1 = conditional, 0 = unconditional, "
                        ">1 guides (Ho and Salimans' w + 1; diffusers' guidance_scale); "
                        "see docs/guidance.md (default 1)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--scale", type=int, default=None,
                   help="integer upscaling of each image in the grid (default: 2 for images "
                        "up to 64 px, else 1)")
    p.add_argument("--cold-algorithm", type=int, choices=(1, 2), default=2,
                   help="a cold-diffusion restoration model (blur, pixelate) generates from its "
                        "start mixture with Algorithm 2 (improved) or 1 (naive) of Bansal et "
                        "al. 2022; see docs/cold-diffusion.md (default 2)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")
    return p


class CliError(Exception):
    """A problem to report as ``error: ...`` with exit status 2."""


def _check_args(args: argparse.Namespace) -> None:
    if args.n < 1:
        raise CliError(f"--n must be at least 1, found {args.n}")
    if not 1 <= args.batch <= MAX_BATCH:
        raise CliError(f"--batch must be in 1..{MAX_BATCH} (samples per network call), "
                       f"found {args.batch}")
    if args.seed < 0:
        raise CliError(f"--seed must be >= 0, found {args.seed}")
    if args.steps is not None and args.steps < 1:
        raise CliError(f"--steps must be at least 1, found {args.steps}")
    if not 0.0 <= args.eta <= 1.0:
        raise CliError(f"--eta must be in [0, 1], found {args.eta}")
    if args.eta != 0.0 and args.sampler not in (None, "ddim"):
        raise CliError(f"--eta applies to the ddim sampler only, not {args.sampler}")
    if args.clip_x0 is not None and not args.clip_x0 > 0:
        raise CliError(f"--clip-x0 must be positive, found {args.clip_x0}")
    if args.clip_x0 is not None and args.no_clip_x0:
        raise CliError("give --clip-x0 or --no-clip-x0, not both")
    if args.scale is not None and not 1 <= args.scale <= 16:
        raise CliError(f"--scale must be in 1..16, found {args.scale}")
    for flag, path, suffix in (("--out", args.out, ".png"), ("--npy", args.npy, ".npy")):
        if path is None:
            continue
        path = Path(path)
        if path.suffix.lower() != suffix:
            raise CliError(f"{flag} {path}: expected a {suffix} file name")
        if not path.parent.is_dir():
            raise CliError(f"{flag} {path}: folder {path.parent} does not exist")
        check_target(path)  # a folder in the way or a read-only folder: before sampling


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), else None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _check_memory(n: int, sample_shape) -> None:
    """Refuse an ``--n`` whose samples alone would not fit in memory, before sampling."""
    need = n * math.prod(sample_shape) * (4 + 1 + 4)  # float32 samples, uint8, grid/npy copy
    free = available_memory()
    if free is not None and need > MEMORY_SHARE * free:
        raise CliError(f"--n {n} needs about {need / 2**30:.1f} GiB for the samples alone, "
                       f"more than half of the {free / 2**30:.1f} GiB of memory available; "
                       "use a smaller --n")


def _load_model(spec: str, device: str):
    from diffview.cli.common import ModelArgError, resolve_model_path
    from diffview.engine import ModelError, OnnxDenoiser

    try:
        return OnnxDenoiser(resolve_model_path(spec), device=device)
    except (ModelError, ModelArgError) as exc:
        raise CliError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Run ``diffview sample``; 0 on success, 2 on a bad model or argument."""
    try:
        return _run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OutputError as exc:  # disk full, read-only, a folder in the way: one line
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from diffview.core.samplers import CLIP_X0_DEFAULT
    from diffview.engine import ModelError
    from diffview.runs.generate import generate
    from diffview.runs.sampling import SamplingSpec

    _check_args(args)
    model = _load_model(args.model, args.device)
    info = model.info
    for warning in model.metadata_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if model.provider_note and args.device == "cuda":  # "auto" falling back to CPU is normal
        print(f"note: {model.provider_note}", file=sys.stderr)
    if args.sampler is None:
        args.sampler = "ode" if info.time_kind == "continuous" else "ddim"
    if args.eta != 0.0 and args.sampler != "ddim":
        raise CliError(f"--eta applies to the ddim sampler only, not {args.sampler}")
    if info.time_kind == "index" and args.steps is not None and args.steps > info.T:
        raise CliError(f"--steps must be at most the model's T = {info.T}, found {args.steps}")
    _check_memory(args.n, info.sample_shape)
    t0 = time.perf_counter()
    bar = ProgressBar("sampling", enabled=False if args.quiet else None)
    progress = _batch_progress(bar, args.n, args.batch) if bar.enabled else None
    try:
        clip = False if args.no_clip_x0 else (
            CLIP_X0_DEFAULT if args.clip_x0 is None else args.clip_x0)
        classes = None
        if args.classes is not None:
            from diffview.core.guidance import class_schedule

            classes = class_schedule(args.classes, args.n, info.num_classes, args.seed)
        elif args.guidance != 1.0:
            raise CliError("--guidance needs --classes (balanced, random or K[,K...])")
        spec = SamplingSpec(sampler=args.sampler, n_steps=args.steps, eta=args.eta,
                            spacing=args.spacing, clip_x0=clip, seed=args.seed, batch=args.n,
                            classes=classes, guidance=args.guidance)
        with bar:
            if info.prediction == "velocity":  # a 2-D flow-matching model: runs/flow2d's ODE
                from diffview.runs.flow2d import sample_flow_model

                x = sample_flow_model(model, args.n, args.seed, args.steps, args.sampler)
            elif info.prediction == "x0":  # a cold-diffusion restoration model: runs/cold.py
                from diffview.runs.cold import sample_cold_model

                args.sampler = f"cold diffusion algorithm {args.cold_algorithm}"
                x = sample_cold_model(model, args.n, args.seed, args.cold_algorithm,
                                      args.steps, args.batch, progress)
            else:
                x = generate(model, spec, chunk=args.batch, progress=progress)
    except (ValueError, ModelError) as exc:
        raise CliError(str(exc)) from None
    except MemoryError:
        raise CliError(f"out of memory while sampling {args.n} samples in batches of "
                       f"{args.batch}; use a smaller --n or --batch") from None
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    if info.kind == "image":
        from diffview.core.data import to_uint8

        pixels = to_uint8(x, tuple(info.value_range))
        scale = args.scale or (2 if max(info.sample_shape[1:]) <= 64 else 1)
        save_grid(pixels, out, scale=scale)
        saved = pixels
    else:
        points = x.astype(np.float32)
        save_scatter(points, out, value_range=tuple(info.value_range))
        saved = points
    if args.npy:
        save_npy(args.npy, saved)
    what = f"{args.n} samples" + (f" {tuple(saved.shape[1:])}" if saved.ndim > 1 else "")
    print(f"{what} with {args.sampler} in {seconds:.1f} s on {model.provider}"
          f" -> {out}" + (f", {args.npy}" if args.npy else ""))
    return 0


def _batch_progress(bar: ProgressBar, n: int, batch: int):
    """A ``progress(done, total)`` callback that shows the batch being sampled on ``bar``."""
    n_batches = -(-n // batch)

    def progress(done: int, total: int) -> None:
        per_batch = max(1, total // n_batches)
        b = min((done - 1) // per_batch + 1, n_batches)
        bar.update(done, total, status=f"batch {b}/{n_batches}")

    return progress


# ------------------------------------------------------------------------------ rendering


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of a near-square grid for ``n`` images, cols = ceil(sqrt(n))."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols


def make_grid(images: np.ndarray, gap: int = 2, gap_value: int = 128,
              scale: int = 1) -> np.ndarray:
    """Tile uint8 images into one image.

    Parameters
    ----------
    images : uint8 ndarray, shape (N, H, W) or (N, H, W, C)
    gap : pixels between cells and around the border (before scaling: not scaled).
    gap_value : grey level of the gap.
    scale : integer nearest-neighbour upscaling of every image.

    Returns
    -------
    uint8 ndarray, (rows*(H*scale+gap)+gap, cols*(W*scale+gap)+gap[, C])
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"expected uint8 images (N, H, W[, C]) with N >= 1, found "
                         f"{images.dtype} {images.shape}")
    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w = images.shape[:3]
    rows, cols = grid_shape(n)
    shape = (rows * (h + gap) + gap, cols * (w + gap) + gap, *images.shape[3:])
    grid = np.full(shape, gap_value, np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        grid[y:y + h, x:x + w] = images[k]
    return grid


def save_grid(images: np.ndarray, path: str | Path, scale: int = 1) -> None:
    """Write uint8 images ``(N, H, W[, C])`` as one PNG grid (Pillow)."""
    from PIL import Image

    grid = make_grid(images, scale=scale)
    if grid.ndim == 3 and grid.shape[2] == 1:
        grid = grid[..., 0]
    save_png(path, Image.fromarray(grid))


def save_scatter(points: np.ndarray, path: str | Path, value_range=(-4.0, 4.0),
                 size: int = 512) -> None:
    """Write 2-D points ``(N, 2)`` as a scatter-plot PNG (Pillow), axes box and zero lines.

    The view covers ``value_range`` on both axes, widened to include every finite point.
    """
    from PIL import Image, ImageDraw

    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"expected points of shape (N, 2), found {pts.shape}")
    pts = pts[np.isfinite(pts).all(axis=1)]
    lo, hi = float(value_range[0]), float(value_range[1])
    if len(pts):
        lo, hi = min(lo, float(pts.min())), max(hi, float(pts.max()))
    margin = 16
    span = (hi - lo) or 1.0
    to_px = (size - 2 * margin) / span
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([margin, margin, size - margin, size - margin], outline=(120, 120, 120))
    if lo < 0 < hi:
        z = margin + (0 - lo) * to_px
        draw.line([margin, z, size - margin, z], fill=(215, 215, 215))
        draw.line([z, margin, z, size - margin], fill=(215, 215, 215))
    grey = (110, 110, 110)
    draw.text((margin, size - margin + 2), f"{lo:g}", fill=grey)
    draw.text((size - margin - 6 * len(f"{hi:g}"), size - margin + 2), f"{hi:g}", fill=grey)
    draw.text((2, margin), f"{hi:g}", fill=grey)
    xs = margin + (pts[:, 0] - lo) * to_px
    ys = size - margin - (pts[:, 1] - lo) * to_px  # y axis points up
    r = 1.5 if len(pts) >= 1000 else 2.5
    for x, y in zip(xs, ys, strict=True):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(31, 100, 180))
    save_png(path, img)
