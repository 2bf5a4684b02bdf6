"""``diffview train``: train an epsilon network and export it to ONNX.

torch is imported only inside :func:`run`, so building the parser stays light.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from exc


def add_parser(subparsers: argparse._SubParsersAction, help_text: str) -> argparse.ArgumentParser:
    """Register the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train", help=help_text, description=help_text,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True,
                   help="IDX folder (e.g. fashion-mnist), image folder, or toy:NAME "
                        "(double_gaussian, moons, 8gaussians, spiral, checkerboard, rings)")
    p.add_argument("--out", default=None,
                   help="ONNX file to export the EMA weights to at the end (none: no export)")
    p.add_argument("--run-dir", default=None,
                   help="folder for checkpoint.pt (default: runs/<data name>)")
    p.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue from this checkpoint (its options are used unless given here)")
    p.add_argument("--steps", type=int, default=None, help="total optimiser steps [5000]")
    p.add_argument("--batch", type=int, default=None, help="batch size [64]")
    p.add_argument("--lr", type=float, default=None, help="peak AdamW learning rate [1e-3]")
    p.add_argument("--warmup", type=int, default=None, help="linear warm-up steps [200]")
    p.add_argument("--lr-schedule", choices=("cosine", "constant"), default=None,
                   help="learning-rate decay after warm-up [cosine]")
    p.add_argument("--min-lr-ratio", type=float, default=None,
                   help="final lr / peak lr of the cosine schedule [0.02]")
    p.add_argument("--weight-decay", type=float, default=None, help="AdamW weight decay [0]")
    p.add_argument("--grad-clip", type=float, default=None, help="gradient-norm clip, 0 = off [1]")
    p.add_argument("--ema", type=float, default=None, help="EMA decay of the weights [0.999]")
    p.add_argument("--widths", type=_int_tuple, default=None,
                   help="UNet channels per level, e.g. 32,64,128 [16,32,96]")
    p.add_argument("--blocks", type=_int_tuple, default=None,
                   help="UNet ResBlocks per level, e.g. 1,1,1 [1,1,1]")
    p.add_argument("--no-attention", action="store_true", default=None,
                   help="leave out self-attention at the lowest resolution")
    p.add_argument("--hidden", type=int, default=None, help="MLP width for points [128]")
    p.add_argument("--layers", type=int, default=None, help="MLP hidden layers for points [3]")
    p.add_argument("--fourier", type=int, default=None,
                   help="octaves of sin/cos features of the points, 0 = raw input [6]")
    p.add_argument("--schedule", default=None,
                   help="noise schedule of image models: linear, cosine, sigmoid, quadratic "
                        "[linear]")
    p.add_argument("--T", type=int, default=None, dest="T", help="diffusion steps [1000]")
    p.add_argument("--beta-min", type=float, default=None, help="VP SDE beta_min (points) [0.1]")
    p.add_argument("--beta-max", type=float, default=None, help="VP SDE beta_max (points) [20]")
    p.add_argument("--image-size", type=int, default=None,
                   help="resize images to this square size (divisible by 4)")
    p.add_argument("--channels", type=int, default=None, choices=(1, 3),
                   help="convert images to this many channels")
    p.add_argument("--seed", type=int, default=None, help="random seed [0]")
    p.add_argument("--threads", type=int, default=None, help="torch threads [1]")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="steps between checkpoints, 0 = only at the end [500]")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="time budget: stop cleanly (with a checkpoint) when spent; the lr "
                        "schedule then follows time or steps, whichever is further along")
    p.add_argument("--preview-every", type=int, default=None,
                   help="draw a small preview every N steps (0 = never) [0]")
    p.add_argument("--export-only", action="store_true",
                   help="do not train: export the checkpoint given by --resume to --out")
    p.add_argument("--raw-weights", action="store_true",
                   help="export the raw weights instead of their EMA")
    p.add_argument("--log-every", type=int, default=10, help="steps between progress lines")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    return p


_OPTION_NAMES = {
    "steps": "steps", "batch": "batch_size", "lr": "lr", "warmup": "warmup",
    "lr_schedule": "lr_schedule", "min_lr_ratio": "min_lr_ratio",
    "weight_decay": "weight_decay", "grad_clip": "grad_clip", "ema": "ema",
    "widths": "widths", "blocks": "blocks", "hidden": "hidden", "layers": "layers",
    "fourier": "fourier",
    "schedule": "schedule", "T": "T", "beta_min": "beta_min", "beta_max": "beta_max",
    "image_size": "image_size", "channels": "channels", "seed": "seed", "threads": "threads",
    "checkpoint_every": "checkpoint_every", "max_minutes": "max_minutes",
    "preview_every": "preview_every",
}


def config_from_args(args: argparse.Namespace, base: dict | None = None):
    """Build a :class:`TrainConfig` from parsed options over ``base`` (a resumed run's)."""
    from diffview.training.config import TrainConfig

    values = dict(base or {})
    values["data"] = args.data
    for opt, field_name in _OPTION_NAMES.items():
        v = getattr(args, opt)
        if v is not None:
            values[field_name] = v
    if args.no_attention:
        values["attention"] = False
    return TrainConfig.from_dict(values)


def _fmt_time(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _bar(frac: float, width: int = 24) -> str:
    n = int(round(max(0.0, min(1.0, frac)) * width))
    return "#" * n + "-" * (width - n)


def run(args: argparse.Namespace) -> int:
    """Train, print progress, and export; returns the process exit code."""
    from diffview.training.checkpoint import CheckpointError, load_checkpoint
    from diffview.training.config import ConfigError
    from diffview.training.data import TrainingDataError
    from diffview.training.loop import TrainingError, train

    try:
        base = None
        if args.resume:
            base = load_checkpoint(args.resume)["config"]
        config = config_from_args(args, base)
    except (ConfigError, CheckpointError) as exc:
        print(f"diffview train: {exc}", file=sys.stderr)
        return 2
    if args.export_only:
        if not (args.resume and args.out):
            print("diffview train: --export-only needs --resume CKPT and --out FILE.onnx",
                  file=sys.stderr)
            return 2
        return _export(args.resume, args.out, not args.raw_weights)
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / _slug(config.data)
    stop = {"flag": False}

    def on_sigint(signum, frame):  # noqa: ARG001
        if stop["flag"]:
            raise KeyboardInterrupt
        stop["flag"] = True
        print("\nstopping after this step and writing a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr, flush=True)

    old = signal.signal(signal.SIGINT, on_sigint)
    last = None
    started = time.monotonic()
    try:
        if not args.quiet:
            print(f"training on {config.data} for {config.steps} steps, batch {config.batch_size}, "
                  f"checkpoints in {run_dir}", flush=True)
        for rec in train(config, out_dir=run_dir, resume=args.resume,
                         should_stop=lambda: stop["flag"]):
            last = rec
            if not args.quiet and (rec.step % max(1, args.log_every) == 0 or rec.done):
                frac = rec.step / rec.total_steps
                print(f"[{_bar(frac)}] {rec.step}/{rec.total_steps} loss {rec.loss:.4f} "
                      f"(avg {rec.loss_avg:.4f}) lr {rec.lr:.2e} {rec.samples_per_s:.0f} "
                      f"samples/s elapsed {_fmt_time(rec.elapsed_s)} eta {_fmt_time(rec.eta_s)}"
                      + (f" ckpt {rec.checkpoint}" if rec.checkpoint else ""), flush=True)
    except (ConfigError, TrainingDataError, CheckpointError, TrainingError) as exc:
        print(f"diffview train: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, old)
    if last is None:
        return 1
    print(f"stopped ({last.stop_reason}) at step {last.step}, loss avg {last.loss_avg:.4f}, "
          f"{_fmt_time(time.monotonic() - started)} wall; checkpoint {run_dir / 'checkpoint.pt'}",
          flush=True)
    if last.stop_reason == "cancelled":
        return 130
    if args.out:
        return _export(run_dir / "checkpoint.pt", args.out, not args.raw_weights)
    return 0


def _export(checkpoint, out, use_ema: bool) -> int:
    from diffview.training.checkpoint import CheckpointError
    from diffview.training.export import ExportError, export_checkpoint

    try:
        result = export_checkpoint(checkpoint, out, use_ema=use_ema)
    except (ExportError, CheckpointError) as exc:
        print(f"diffview train: export failed: {exc}", file=sys.stderr)
        return 1
    print(f"exported {result.path} (parity max abs diff {result.max_abs_diff:.2e})", flush=True)
    return 0


def _slug(data: str) -> str:
    name = data[4:] if data.startswith("toy:") else Path(data).name or "data"
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
