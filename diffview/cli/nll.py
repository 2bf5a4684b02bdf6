"""``diffview nll``: how likely a model finds the first N images of a data set, in bits/dim.

``--method elbo`` is Ho et al.'s variational bound (every term, or the stratified estimator with
``--estimator fast``); ``--method ode`` the exact likelihood of the probability-flow ODE. The
maths and the measured figures are in docs/likelihood.md. Progress goes to stderr, and only when
stderr is a terminal; the result goes to stdout (one JSON object with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda")
MAX_BATCH = 1024


class CliError(Exception):
    """A problem to report as ``error: ...`` with exit status 2."""


def add_parser(subparsers, help_text: str) -> argparse.ArgumentParser:
    """Register ``nll`` on the dispatcher's subparsers."""
    p = subparsers.add_parser(
        "nll", help=help_text, description=help_text,
        epilog="example: diffview nll --model default --data ../shared/data/fashion-mnist "
               "--split test --n 100 --method elbo --variance small --json")
    p.add_argument("--model", default="default",
                   help="ONNX epsilon model, or 'default' for the bundled Fashion-MNIST model")
    p.add_argument("--data", required=True,
                   help="an IDX folder (Fashion-MNIST layout), image folder or .npz")
    p.add_argument("--split", default="test", choices=("test", "train"))
    p.add_argument("--n", type=int, required=True, help="the first N images of the split")
    p.add_argument("--method", default="elbo", choices=("elbo", "ode"))
    p.add_argument("--variance", default="small", choices=("small", "large"),
                   help="reverse-process variance of the bound: beta-tilde (small) or beta")
    p.add_argument("--estimator", default="full", choices=("full", "fast"),
                   help="elbo: every term (full) or one t per stratum and pass (fast)")
    p.add_argument("--target-stderr", type=float, default=None, metavar="BPD",
                   help="fast: stop once the standard error is at most this (bits/dim)")
    p.add_argument("--passes", type=int, default=8, help="fast: passes at most (default 8)")
    p.add_argument("--strata", type=int, default=32, help="fast: strata of t (default 32)")
    p.add_argument("--steps", type=int, default=100, help="ode: Heun steps (default 100)")
    p.add_argument("--probes", type=int, default=1, help="ode: Hutchinson probes (default 1)")
    p.add_argument("--fd-rel", type=float, default=0.01,
                   help="ode: finite-difference step relative to the noise level (default 0.01)")
    p.add_argument("--central", action="store_true", help="ode: central differences")
    p.add_argument("--batch", type=int, default=64, help="images per network call (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _check_args(args: argparse.Namespace) -> None:
    if args.n < 1:
        raise CliError(f"--n must be at least 1, found {args.n}")
    if not 1 <= args.batch <= MAX_BATCH:
        raise CliError(f"--batch must be in 1..{MAX_BATCH}, found {args.batch}")
    if args.seed < 0:
        raise CliError(f"--seed must be >= 0, found {args.seed}")
    for flag, value in (("--passes", args.passes), ("--strata", args.strata),
                        ("--steps", args.steps), ("--probes", args.probes)):
        if value < 1:
            raise CliError(f"{flag} must be at least 1, found {value}")
    if args.target_stderr is not None and not (math.isfinite(args.target_stderr)
                                               and args.target_stderr > 0):
        raise CliError(f"--target-stderr must be a positive number, found {args.target_stderr}")
    if not (math.isfinite(args.fd_rel) and 0 < args.fd_rel <= 1):
        raise CliError(f"--fd-rel must be in (0, 1], found {args.fd_rel}")
    if not Path(args.data).exists():
        raise CliError(f"--data {args.data}: not found")


def _load_model(spec: str, device: str):
    from diffview.cli.common import ModelArgError, resolve_model_path
    from diffview.engine import ModelError, OnnxDenoiser

    try:
        return OnnxDenoiser(resolve_model_path(spec), device=device)
    except (ModelError, ModelArgError) as exc:
        raise CliError(str(exc)) from None


def _load_images(args: argparse.Namespace, info):
    from diffview.core.data import DataError, load_dataset

    try:
        data = load_dataset(args.data, split=args.split, size=info.sample_shape[-1],
                            channels=info.sample_shape[0], limit=args.n)
    except DataError as exc:
        raise CliError(str(exc)) from None
    if len(data) < args.n:
        raise CliError(f"--n {args.n}: {data.source} has only {len(data)} images")
    images = data.images[:args.n]
    if images.ndim == 3:
        shape = (1, *images.shape[1:])
    else:
        shape = (images.shape[-1], *images.shape[1:3])
    if shape != tuple(info.sample_shape):
        raise CliError(f"the images are {shape} (C, H, W) but the model takes "
                       f"{tuple(info.sample_shape)}")
    return images


def run(args: argparse.Namespace) -> int:
    """Run ``diffview nll``; 0 on success, 2 on a bad model, data or argument, 130 cancelled."""
    try:
        return _run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from diffview.engine import ModelError
    from diffview.runs.base import run_to_end
    from diffview.runs.likelihood import ElboSpec, OdeSpec, run_elbo, run_ode_nll

    _check_args(args)
    model = _load_model(args.model, args.device)
    for warning in model.metadata_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    images = _load_images(args, model.info)
    try:
        if args.method == "elbo":
            spec = ElboSpec(variance=args.variance, estimator=args.estimator, batch=args.batch,
                            seed=args.seed, n_strata=args.strata, max_passes=args.passes,
                            target_stderr=args.target_stderr)
            run_gen = run_elbo(spec, model, images)
        else:
            spec = OdeSpec(n_steps=args.steps, n_probes=args.probes, fd_rel=args.fd_rel,
                           central=args.central, batch=args.batch, seed=args.seed)
            run_gen = run_ode_nll(spec, model, images)
        with _Progress(args.method, enabled=sys.stderr.isatty()) as progress:
            result = run_to_end(run_gen, progress.update)
    except (ValueError, ModelError) as exc:
        raise CliError(str(exc)) from None
    except MemoryError:
        raise CliError(f"out of memory at batch {args.batch}; use a smaller --batch") from None
    out = result.to_json()
    out.setdefault("variance", args.variance)
    if args.method == "ode":
        # the bound's keys, so that one reader handles both methods
        out.update({"variance": None, "decoder_bpd": None, "terms_bpd": None})
    out["model"] = str(model.path)
    out["data"] = str(args.data)
    out["split"] = args.split
    out["seed"] = args.seed
    if args.json:
        print(json.dumps(out))
    else:
        print(_summary(out))
    return 0


def _summary(d: dict) -> str:
    lines = [f"{d['method']}: {d['bits_per_dim']:.4f} +- {d['stderr']:.4f} bits/dim "
             f"({d['n']} images, {d['seconds']:.1f} s)"]
    if d["method"] == "elbo":
        lines.append(f"  variance {d['variance']}, estimator {d['estimator']}, "
                     f"{d['passes']} pass(es), {d['network_evals']:,} network evaluations")
        lines.append(f"  prior L_T {d['prior_bpd']:.6f}, decoder L_0 {d['decoder_bpd']:.4f}, "
                     f"KL terms {d['bits_per_dim'] - d['prior_bpd'] - d['decoder_bpd']:.4f}")
    else:
        lines.append(f"  {d['n_steps']} Heun steps, {d['network_evals']:,} network evaluations")
    return "\n".join(lines)


class _Progress:
    """A rich progress bar on stderr, or nothing (not a terminal)."""

    def __init__(self, method: str, enabled: bool) -> None:
        self.enabled = enabled
        self.method = method
        self._bar = None
        self._task = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                 TimeRemainingColumn(), console=Console(stderr=True),
                                 transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.method, total=None, status="")
        return self

    def update(self, frame) -> None:
        if self._bar is None:
            return
        bpd = getattr(frame, "bits_per_dim", math.nan)
        status = f"{bpd:.3f} bits/dim" if math.isfinite(bpd) else ""
        self._bar.update(self._task, completed=frame.step, total=frame.total or None,
                         status=status)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
