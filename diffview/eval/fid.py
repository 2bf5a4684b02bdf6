"""Frechet distance between Gaussians fitted to classifier features (FID, Heusel et al. 2017).

For two Gaussians N(mu1, S1) and N(mu2, S2) the squared 2-Wasserstein (Frechet) distance is

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^(1/2) S2 S1^(1/2))^(1/2)).

The usual formula writes the last term as ``tr(sqrtm(S1 S2))``; ``S1 S2`` is not symmetric,
and a general matrix square root of it (scipy.linalg.sqrtm) can return complex values and
loses accuracy when S1 or S2 is singular. The form above only takes square roots of symmetric
positive semi-definite matrices, which a symmetric eigendecomposition does stably (negative
eigenvalues from rounding are clipped to zero). The two forms have the same value because
``S1 S2`` and ``S1^(1/2) S2 S1^(1/2)`` are similar matrices.

FID for Fashion-MNIST here uses the 128 penultimate-layer features of the small CNN in
:mod:`diffview.eval.classifier` (not Inception), so its values are comparable only with other
values computed by this module. Report it beside the *floor*: the FID of the same number of real
training images against the same test set, which is what a perfect generator would get.

Command line::

    python -m diffview.eval.fid --model default --n 1000 --sampler ddim --steps 50 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from diffview.fileio import OutputError, check_target, save_npy, save_text

__all__ = [
    "fid_from_features",
    "fit_gaussian",
    "frechet_distance",
    "sqrtm_psd",
]


def fit_gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, ``N - 1``) of ``features``.

    Parameters
    ----------
    features : ndarray, shape (N, D), N >= 2

    Returns
    -------
    mu : float64 ndarray, shape (D,)
    cov : float64 ndarray, shape (D, D)
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"expected features of shape (N, D) with N >= 2, found {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("features contain NaN or inf")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix.

    ``a`` is symmetrised first; eigenvalues below zero (rounding) are treated as zero.

    Returns
    -------
    float64 ndarray, same shape as ``a``; ``r @ r`` equals ``a`` up to rounding.
    """
    a = np.asarray(a, dtype=np.float64)
    a = 0.5 * (a + a.T)
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray,
                     mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Squared Frechet distance between N(mu1, cov1) and N(mu2, cov2).

    Parameters
    ----------
    mu1, mu2 : ndarray, shape (D,)
    cov1, cov2 : ndarray, shape (D, D), symmetric positive semi-definite

    Returns
    -------
    float, >= 0 (a value below zero from rounding is returned as 0).

    Raises
    ------
    ValueError
        For mismatched shapes or non-finite input.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    if mu1.ndim != 1 or mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"expected means (D,) and covariances (D, D) of one D, found "
                         f"{mu1.shape}, {cov1.shape}, {mu2.shape}, {cov2.shape}")
    for arr in (mu1, mu2, cov1, cov2):
        if not np.isfinite(arr).all():
            raise ValueError("means and covariances must be finite")
    root1 = sqrtm_psd(cov1)
    inner = root1 @ (0.5 * (cov2 + cov2.T)) @ root1
    eig = np.linalg.eigvalsh(0.5 * (inner + inner.T))
    tr_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(N1, D)``, ``(N2, D)``."""
    return frechet_distance(*fit_gaussian(features1), *fit_gaussian(features2))


# ---------------------------------------------------------------------------- command line


def default_data_dir() -> Path:
    """``$DIFFVIEW_FASHION_MNIST``, else ``<checkout>/../shared/data/fashion-mnist``."""
    env = os.environ.get("DIFFVIEW_FASHION_MNIST")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fashion-mnist"


def class_histogram(predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of each predicted class, shape ``(n_classes,)``."""
    return np.bincount(np.asarray(predictions, np.int64), minlength=n_classes)[:n_classes]


def format_histogram(counts: np.ndarray, names: tuple[str, ...],
                     reference: np.ndarray | None = None, width: int = 40) -> str:
    """Text bar chart of class counts, with an optional reference column."""
    total = max(int(counts.sum()), 1)
    peak = max(int(counts.max()), 1)
    lines = []
    for k, name in enumerate(names):
        c = int(counts[k])
        ref = f"  (real {int(reference[k]):5d})" if reference is not None else ""
        bar = "#" * round(width * c / peak)
        lines.append(f"  {k} {name:<12} {c:5d} {100 * c / total:5.1f}%{ref}  {bar}")
    return "\n".join(lines)


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m diffview.eval.fid",
        description="FID of generated Fashion-MNIST samples against the 10,000 test images, "
                    "beside the FID of the same number of real training images (the floor).")
    p.add_argument("--model", default="default",
                   help="ONNX epsilon model, or 'default' for the bundled Fashion-MNIST model")
    p.add_argument("--samples", help="evaluate these uint8 samples (.npy, (N, 28, 28)) "
                                     "instead of generating")
    p.add_argument("--n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument("--sampler", default="ddim", help="ddpm, ddim or dpm++2m (default ddim)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: sampler's)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM eta (default 0)")
    p.add_argument("--clip-x0", type=float, default=None, metavar="C",
                   help="clip each x0 prediction to [-C, C] (default: to the model's data "
                        "range, as in the app and diffview sample)")
    p.add_argument("--no-clip-x0", action="store_true", help="do not clip the x0 predictions")
    p.add_argument("--spacing", default=None, help="timestep spacing: leading, trailing, linspace")
    p.add_argument("--batch", type=int, default=100, help="samples per network call")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classes", default=None, metavar="balanced|random|K[,K...]",
                   help="class labels for a class-conditional model (see diffview sample); "
                        "the accuracy on the intended class is then reported")
    p.add_argument("--guidance", type=float, default=1.0, metavar="W",
                   help="classifier-free guidance scale (1: conditional; docs/guidance.md)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--data", default=None, help="Fashion-MNIST IDX folder "
                                                f"(default {default_data_dir()})")
    p.add_argument("--classifier", default=None, help="feature classifier ONNX "
                                                      "(default resources/eval/...)")
    p.add_argument("--save-samples", default=None, help="write the generated uint8 samples here")
    p.add_argument("--json", default=None, help="also write the results as JSON here")
    return p


def run(argv: list[str] | None = None) -> int:
    """The ``python -m diffview.eval.fid`` command; returns the exit status."""
    args = _build_parser().parse_args(argv)
    try:
        return _run(args)
    except OutputError as exc:  # a result file could not be written: one line, exit 1
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _load_model(spec: str, device: str):
    from diffview.engine import OnnxDenoiser, default_model_path

    path = default_model_path() if spec == "default" else Path(spec)
    return OnnxDenoiser(path, device=device)


def _run(args: argparse.Namespace) -> int:
    from diffview.core.data import to_uint8
    from diffview.eval.classifier import CLASS_NAMES, FeatureClassifier, load_fashion_split
    from diffview.eval.generate import generate

    intended = None  # the class of each generated sample, for a class-conditional run
    data_dir = Path(args.data) if args.data else default_data_dir()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: Fashion-MNIST folder not found (pass --data)")
    if args.n < 2:
        raise ValueError(f"--n must be at least 2, found {args.n}")
    for target in (args.json, args.save_samples):  # before sampling, not after it
        if target:
            check_target(target)
    clf = FeatureClassifier(args.classifier)
    result: dict = {"n": args.n, "seed": args.seed}
    if args.samples:
        try:
            samples = np.load(args.samples, allow_pickle=False)
        except FileNotFoundError:
            raise
        except Exception as exc:  # numpy raises EOFError, ValueError, UnpicklingError...
            raise ValueError(f"{args.samples}: not a readable .npy array "
                             f"({type(exc).__name__}: {exc})") from None
        if samples.dtype != np.uint8:
            raise ValueError(f"{args.samples}: expected uint8 samples, found {samples.dtype}")
        samples = samples[: args.n]
        result["samples"] = str(args.samples)
        print(f"samples: {args.samples}, {len(samples)} images")
    else:
        model = _load_model(args.model, args.device)
        info = model.info
        if info.kind != "image" or tuple(info.sample_shape) != (1, 28, 28):
            raise ValueError(f"{model.path}: FID needs a 1x28x28 image model, this one has "
                             f"kind={info.kind!r}, sample_shape={info.sample_shape}")
        label = f"{args.sampler}" + (f"-{args.steps}" if args.steps else "")
        if args.clip_x0 is not None and args.no_clip_x0:
            raise ValueError("give --clip-x0 or --no-clip-x0, not both")
        clip_x0 = False if args.no_clip_x0 else (True if args.clip_x0 is None else args.clip_x0)
        clip = (", x0 not clipped" if clip_x0 is False else ", x0 clipped to the data range"
                if clip_x0 is True else f", x0 clipped to +-{clip_x0:g}")
        print(f"model: {model.path} ({model.provider}); sampler {label}, eta {args.eta}{clip}, "
              f"seed {args.seed}, {args.n} samples")
        t0 = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if now - last[0] > 2.0 or done == total:
                last[0] = now
                print(f"\r  {done}/{total} network calls, {now - t0:.0f} s", end="",
                      file=sys.stderr, flush=True)

        classes = None
        if args.classes is not None:
            from diffview.core.guidance import class_schedule

            classes = class_schedule(args.classes, args.n, info.num_classes, args.seed)
        x = generate(model, args.n, args.sampler, args.steps, args.eta, args.spacing,
                     args.batch, args.seed, progress, clip_x0=clip_x0, classes=classes,
                     guidance=args.guidance)
        intended = None if classes is None else np.asarray(classes)
        print(file=sys.stderr)
        seconds = time.perf_counter() - t0
        samples = to_uint8(x, tuple(info.value_range))
        result.update(model=str(model.path), provider=model.provider, sampler=args.sampler,
                      steps=args.steps, eta=args.eta, spacing=args.spacing,
                      clip_x0=clip_x0,
                      sampling_seconds=round(seconds, 2))
        print(f"generated {len(samples)} samples in {seconds:.1f} s "
              f"({len(samples) / seconds:.1f} images/s)")
        if args.save_samples:
            save_npy(args.save_samples, samples)
    if len(samples) < 2:
        raise ValueError("need at least 2 samples")
    test_x, _ = load_fashion_split(data_dir, "test")
    train_x, _ = load_fashion_split(data_dir, "train")
    n = len(samples)
    pick = np.random.default_rng(args.seed).choice(len(train_x), size=min(n, len(train_x)),
                                                   replace=False)
    test_logits, test_f = clf.run(test_x)
    gen_logits, gen_f = clf.run(samples)
    real_logits, real_f = clf.run(train_x[pick])
    fid = fid_from_features(gen_f, test_f)
    floor = fid_from_features(real_f, test_f)
    hist = class_histogram(gen_logits.argmax(1), len(CLASS_NAMES))
    real_hist = class_histogram(real_logits.argmax(1), len(CLASS_NAMES))
    conf = _softmax(gen_logits).max(1)
    result.update(fid=round(fid, 4), fid_floor_real_train=round(floor, 4), n_test=len(test_x),
                  class_histogram=hist.tolist(), real_class_histogram=real_hist.tolist(),
                  mean_confidence=round(float(conf.mean()), 4),
                  classifier=str(clf.path))
    print(f"FID, {n} generated vs {len(test_x)} test images:        {fid:8.3f}")
    print(f"FID, {len(pick)} real training vs {len(test_x)} test (floor): {floor:8.3f}")
    print(f"classes of the generated samples (classifier predictions; mean confidence "
          f"{conf.mean():.3f}; {int((hist > 0).sum())} of {len(hist)} classes present):")
    print(format_histogram(hist, CLASS_NAMES, real_hist))
    low = float(np.mean(conf < 0.5))
    result.update(low_confidence_share=round(low, 4))
    print(f"share of samples the classifier calls with confidence < 0.5: {low:.3f}")
    if intended is not None:
        acc = float(np.mean(gen_logits.argmax(1) == intended))
        result.update(classes=args.classes, guidance=args.guidance,
                      accuracy_on_intended_class=round(acc, 4))
        print(f"classifier accuracy on the intended class (guidance {args.guidance:g}): "
              f"{acc:.3f}")
    if args.json:
        save_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


if __name__ == "__main__":
    sys.exit(run())
