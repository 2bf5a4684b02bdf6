"""``diffview train``: train an epsilon network and export it to ONNX.

torch is imported only inside :func:`run`, so building the parser stays light.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import signal
import sys
import threading
import time
from pathlib import Path

from diffview.cli.common import progress_enabled
from diffview.paths import trained_model_path, user_models_dir, user_runs_dir
from diffview.training import torch_available

# Progress lines for the app at most this often (every step's loss still arrives, batched).
PROGRESS_INTERVAL_S = 0.05


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
        formatter_class=_ConfigDefaultsFormatter)
    p.add_argument("--data", default=None,
                   help="IDX folder (e.g. fashion-mnist), image folder, or toy:NAME "
                        "(double_gaussian, moons, 8gaussians, spiral, checkerboard, rings); "
                        "with --resume, default: the checkpoint's own")
    p.add_argument("--out", default=None,
                   help="ONNX file to export the EMA weights to at the end (default: "
                        f"{user_models_dir()}/<data>-<steps>steps-<date>.onnx)")
    p.add_argument("--no-export", action="store_true", help="keep the checkpoint only")
    p.add_argument("--run-dir", default=None,
                   help=f"folder for checkpoint.pt (default: {user_runs_dir()}/<data name>)")
    p.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue from this checkpoint (its options are used unless given here)")
    p.add_argument("--steps", type=int, default=None, help="total optimiser steps")
    p.add_argument("--batch", type=int, default=None, help="batch size")
    p.add_argument("--lr", type=float, default=None, help="peak AdamW learning rate")
    p.add_argument("--warmup", type=int, default=None, help="linear warm-up steps")
    p.add_argument("--lr-schedule", choices=("cosine", "constant"), default=None,
                   help="learning-rate decay after warm-up")
    p.add_argument("--min-lr-ratio", type=float, default=None,
                   help="final lr / peak lr of the cosine schedule")
    p.add_argument("--weight-decay", type=float, default=None, help="AdamW weight decay")
    p.add_argument("--grad-clip", type=float, default=None, help="gradient-norm clip, 0 = off")
    p.add_argument("--ema", type=float, default=None, help="EMA decay of the weights")
    p.add_argument("--widths", type=_int_tuple, default=None,
                   help="UNet channels per level, e.g. 32,64,128")
    p.add_argument("--blocks", type=_int_tuple, default=None,
                   help="UNet ResBlocks per level, e.g. 1,1,1")
    p.add_argument("--no-attention", action="store_true", default=None,
                   help="leave out self-attention at the lowest resolution")
    p.add_argument("--hidden", type=int, default=None, help="MLP width for points")
    p.add_argument("--layers", type=int, default=None, help="MLP hidden layers for points")
    p.add_argument("--fourier", type=int, default=None,
                   help="octaves of sin/cos features of the points, 0 = raw input")
    p.add_argument("--schedule", default=None,
                   help="noise schedule of image models: linear, cosine, sigmoid, quadratic")
    p.add_argument("--T", type=int, default=None, dest="T", help="diffusion steps")
    p.add_argument("--beta-min", type=float, default=None, help="VP SDE beta_min (points)")
    p.add_argument("--beta-max", type=float, default=None, help="VP SDE beta_max (points)")
    p.add_argument("--image-size", type=int, default=None,
                   help="resize images to this square size (divisible by 4)")
    p.add_argument("--channels", type=int, default=None, choices=(1, 3),
                   help="convert images to this many channels")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="steps between checkpoints, 0 = only at the end")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="time budget: stop cleanly (with a checkpoint) when spent; the lr "
                        "schedule then follows time or steps, whichever is further along")
    p.add_argument("--preview-every", type=int, default=None,
                   help="draw a small preview every N steps (0 = never)")
    p.add_argument("--cold", choices=("blur", "mask", "pixelate"), default=None,
                   help="train a cold-diffusion restoration network R(x_t, t) ~ x_0 for this "
                        "degradation (L1 on x_0; --T defaults to 50, 50, 27 steps); see "
                        "docs/cold-diffusion.md")
    p.add_argument("--objective", choices=("eps", "fm"), default=None,
                   help="eps: denoising; fm: flow matching of 2-D points (a velocity "
                        "network, see docs/flow-matching.md)")
    p.add_argument("--coupling", choices=("independent", "ot"), default=None,
                   help="flow matching: pair data and noise independently or by minibatch "
                        "optimal transport")
    p.add_argument("--reflow", type=int, default=None, metavar="K",
                   help="flow matching: K reflow rounds after the first flow, --steps each")
    p.add_argument("--conditional", action="store_true",
                   help="train a class-conditional image network for classifier-free guidance "
                        "(labels from the data; a null class for unconditional)")
    p.add_argument("--p-uncond", type=float, default=None, metavar="P",
                   help="with --conditional: probability a label is dropped to the null class")
    p.add_argument("--init-from", default=None, metavar="CKPT",
                   help="start from this checkpoint's EMA weights (fine-tuning; an "
                        "unconditional checkpoint can start a --conditional network)")
    p.add_argument("--export-only", action="store_true",
                   help="do not train: export the checkpoint given by --resume to --out")
    p.add_argument("--raw-weights", action="store_true",
                   help="export the raw weights instead of their EMA")
    p.add_argument("--epochs", type=float, default=None,
                   help="passes over an image data set; sets --steps to "
                        "ceil(epochs * images / batch) once the data is read")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                   help="where torch trains; cuda fails with a message when unusable")
    p.add_argument("--log-every", type=int, default=None, metavar="N",
                   help="print a plain progress line every N steps, also when the output is "
                        "not a terminal (default: a progress bar on a terminal, else none)")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.add_argument("--progress-json", action="store_true",
                   help="machine-readable progress: one JSON event per line on stdout, "
                        "previews saved under RUN_DIR/previews (for the app)")
    p.add_argument("--stdin-control", action="store_true",
                   help="read pause/resume/stop lines from stdin; end of input stops the run "
                        "with a checkpoint")
    return p


class _ConfigDefaultsFormatter(argparse.HelpFormatter):
    """Help that states each option's real default once: the :class:`TrainConfig` field's for
    the training options (their argparse default is None so that ``--resume`` can tell a given
    option from an absent one), else the argparse default when it is a value."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default:" in text or action.default is argparse.SUPPRESS:
            return text
        value = config_default(action.dest)
        if value is None and action.default not in (None, False, True):
            value = action.default
        return text if value is None else f"{text} (default: {_show(value)})"


def config_default(dest: str):
    """The :class:`TrainConfig` default behind option ``dest``, or None when it has none."""
    from diffview.training.config import TrainConfig

    field_name = _OPTION_NAMES.get(dest)
    if field_name is None:
        return None
    return TrainConfig.__dataclass_fields__[field_name].default


def _show(value) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


_OPTION_NAMES = {
    "steps": "steps", "batch": "batch_size", "lr": "lr", "warmup": "warmup",
    "lr_schedule": "lr_schedule", "min_lr_ratio": "min_lr_ratio",
    "weight_decay": "weight_decay", "grad_clip": "grad_clip", "ema": "ema",
    "widths": "widths", "blocks": "blocks", "hidden": "hidden", "layers": "layers",
    "fourier": "fourier",
    "schedule": "schedule", "T": "T", "beta_min": "beta_min", "beta_max": "beta_max",
    "image_size": "image_size", "channels": "channels", "seed": "seed", "threads": "threads",
    "checkpoint_every": "checkpoint_every", "max_minutes": "max_minutes",
    "objective": "objective", "coupling": "coupling", "reflow": "reflow",
    "preview_every": "preview_every", "cold": "cold", "p_uncond": "p_uncond",
    "init_from": "init_from",
}


def config_from_args(args: argparse.Namespace, base: dict | None = None):
    """Build a :class:`TrainConfig` from parsed options over ``base`` (a resumed run's)."""
    from diffview.training.config import TrainConfig

    values = dict(base or {})
    if args.data is not None or "data" not in values:
        values["data"] = args.data
    for opt, field_name in _OPTION_NAMES.items():
        v = getattr(args, opt)
        if v is not None:
            values[field_name] = v
    if args.no_attention:
        values["attention"] = False
    if values.get("cold") and args.T is None and not (base or {}).get("cold"):
        from diffview.training.cold import DEFAULT_T

        values["T"] = DEFAULT_T[values["cold"]]
    return TrainConfig.from_dict(values)


def _fmt_time(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class _Reporter:
    """Prints progress for people, or protocol lines (:mod:`diffview.training.protocol`) for
    the app. Thread-safe: the stdin reader acknowledges commands from its own thread."""

    def __init__(self, json_mode: bool, quiet: bool, log_every: int | None) -> None:
        self.json = json_mode
        self.quiet = quiet
        self.log_every = None if log_every is None else max(1, log_every)
        # A progress bar only on a terminal and when no plain lines were asked for.
        self._bar = None
        self._want_bar = (not json_mode and not quiet and log_every is None
                          and progress_enabled(sys.stderr))
        self._lock = threading.Lock()
        self._steps: list[int] = []
        self._losses: list[float] = []
        self._last_progress = 0.0

    def event(self, name: str, **fields) -> None:
        if not self.json:
            return
        from diffview.training.protocol import encode_event

        line = encode_event(name, **fields)
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def say(self, text: str) -> None:
        if not self.json and not self.quiet:
            print(text, flush=True)

    def error(self, stage: str, message: str) -> None:
        print(f"diffview train: {message}", file=sys.stderr, flush=True)
        self.event("error", stage=stage, message=message)

    def close(self) -> None:
        """End the progress bar (it leaves no trace; the summary line follows)."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def progress(self, rec) -> None:
        if not self.json:
            if self._want_bar:
                if self._bar is None:
                    from diffview.cli.common import ProgressBar

                    self._bar = ProgressBar("training", enabled=True).__enter__()
                self._bar.update(rec.step, rec.total_steps,
                                 status=f"loss {rec.loss_avg:.4f} lr {rec.lr:.2e} "
                                        f"{rec.samples_per_s:.0f} samples/s")
                if rec.done:
                    self.close()
            elif (not self.quiet and self.log_every is not None
                  and (rec.step % self.log_every == 0 or rec.done)):
                print(f"[step {rec.step}/{rec.total_steps}] loss {rec.loss:.4f} "
                      f"(avg {rec.loss_avg:.4f}) lr {rec.lr:.2e} {rec.samples_per_s:.0f} "
                      f"samples/s elapsed {_fmt_time(rec.elapsed_s)} eta {_fmt_time(rec.eta_s)}"
                      + (f" ckpt {rec.checkpoint}" if rec.checkpoint else ""), flush=True)
            return
        if rec.loss == rec.loss:  # a cancelled run's last record has no loss
            self._steps.append(rec.step)
            self._losses.append(rec.loss)
        now = time.monotonic()
        # At most ~20 lines a second; every step's loss still arrives (batched).
        if (rec.done or rec.checkpoint or rec.preview is not None
                or now - self._last_progress >= PROGRESS_INTERVAL_S):
            self._last_progress = now
            self.event("progress", step=rec.step, total_steps=rec.total_steps, loss=rec.loss,
                       loss_avg=rec.loss_avg, lr=rec.lr, samples_per_s=rec.samples_per_s,
                       elapsed_s=rec.elapsed_s, eta_s=rec.eta_s, steps=self._steps,
                       losses=self._losses)
            self._steps, self._losses = [], []


class _Control:
    """Stop and pause flags, set by Ctrl-C / SIGTERM or by commands read from stdin."""

    def __init__(self, reporter: _Reporter) -> None:
        self.stop = threading.Event()
        self._resume = threading.Event()
        self._paused = False
        self._reporter = reporter

    def command(self, text: str) -> None:
        cmd = text.strip().lower()
        if cmd == "stop":
            if not self.stop.is_set():
                self.stop.set()
                self._reporter.event("stopping")
            self._resume.set()
        elif cmd == "pause":
            self._paused = True
            self._resume.clear()
        elif cmd == "resume":
            self._paused = False
            self._resume.set()
        elif cmd:
            print(f"diffview train: unknown command {cmd!r} on stdin (pause, resume, stop)",
                  file=sys.stderr, flush=True)

    def read_stdin(self) -> None:
        """Thread target: commands until end of input, which counts as ``stop``.

        Reads the raw file descriptor, not ``sys.stdin``: a daemon thread blocked inside
        ``sys.stdin`` holds its buffer's lock, and the interpreter then waits for input at
        exit instead of exiting when the run is over."""
        import os

        try:
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return  # no usable stdin (a windowed frozen build): only signals stop the run
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.command(line.decode("utf-8", "replace"))
        self.command("stop")

    def wait_while_paused(self, step: int) -> None:
        """Between steps: block while paused (the run keeps its state and its time)."""
        if not self._paused or self.stop.is_set():
            return
        self._reporter.event("paused", step=step)
        self._reporter.say(f"paused at step {step}")
        while self._paused and not self.stop.is_set():
            self._resume.wait(0.5)
        if not self.stop.is_set():
            self._reporter.event("resumed", step=step)


def _clean_stale_temporaries(folder: Path) -> None:
    """Remove ``.NAME.*.tmp`` files a killed run left behind (atomic writes never finished)."""
    if not folder.is_dir():
        return
    for sub in (folder, folder / "previews"):
        if sub.is_dir():
            for tmp in sub.glob(".*.tmp"):
                try:
                    tmp.unlink()
                except OSError:
                    pass


def _save_preview(run_dir: Path, step: int, preview) -> Path:
    """Write a preview as ``previews/step_NNNNNNN.npy``: temporary file, then rename, so a
    reader never sees half a file (no fsync: a preview lost in a power cut costs nothing)."""
    import numpy as np

    from diffview.fileio import save_npy

    path = run_dir / "previews" / f"step_{step:07d}.npy"
    return save_npy(path, np.asarray(preview, np.float32), durable=False, make_parents=True)


def _check_outputs(run_dir: Path | None, out: str | None, previews: bool) -> None:
    """Before the first step: every folder the run will write to takes a file (a probe file is
    created and deleted), and ``--out`` is not a folder. Raises OutputError (one line)."""
    from diffview.fileio import OutputError, check_writable

    if run_dir is not None:
        check_writable(run_dir, create=True)
        if previews:
            check_writable(run_dir / "previews", create=True)
    if out:
        target = Path(out)
        if target.is_dir():
            raise OutputError(f"cannot write {target}: it is a folder, not a file", target)
        check_writable(target.parent, create=True)


def run(args: argparse.Namespace) -> int:
    """Train, report progress, and export; returns the process exit code.

    With ``--stdin-control`` (the app's child process) the process ends right after its last
    line: everything is on disk by then, and the interpreter's teardown of torch took several
    seconds on a busy machine, time in which the app would still wait for it.
    """
    code = _run(args)
    if args.stdin_control and not args.export_only:
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _run(args: argparse.Namespace) -> int:
    if not torch_available():
        frozen = getattr(sys, "frozen", False)
        how = ("this is the light build without torch: use the full build to train"
               if frozen else "install it into this environment, e.g. "
               "`pip install -c constraints.txt torch` (the pinned CPU build)")
        _Reporter(args.progress_json, args.quiet, args.log_every).error(
            "torch", f"training needs PyTorch, which is not installed; {how}. Sampling and "
                     "the app work without it.")
        return 2
    from diffview.training.checkpoint import CheckpointError, load_checkpoint
    from diffview.training.config import ConfigError
    from diffview.training.data import TrainingDataError, load_training_data
    from diffview.training.loop import TrainingError, build_model, resolve_device, train
    from diffview.training.protocol import encode_array
    from diffview.training.unet import count_parameters

    rep = _Reporter(args.progress_json, args.quiet, args.log_every)
    resume_step = 0
    if args.data is None and not args.resume:
        rep.error("config", "--data is required (an IDX folder, an image folder or toy:NAME), "
                            "unless --resume names a checkpoint that records it")
        return 2
    try:
        base = None
        if args.resume:
            state = load_checkpoint(args.resume,
                                    purpose="export" if args.export_only else "resume")
            base, resume_step = state["config"], int(state.get("step", 0))
            del state
        config = config_from_args(args, base)
        if args.epochs is not None and not (args.epochs > 0 and args.epochs == args.epochs):
            raise ConfigError(f"epochs must be a number > 0, got {args.epochs}")
        if args.epochs is not None and config.is_toy:
            raise ConfigError("--epochs needs a finite data set; a toy set draws fresh points "
                              "every step, so give --steps instead")
        device = resolve_device(args.device)
    except (ConfigError, CheckpointError, TrainingError) as exc:
        rep.error("config", str(exc))
        return 2
    if args.export_only:
        if not args.resume:
            rep.error("config", "--export-only needs --resume CKPT (and --out FILE.onnx, "
                                f"default: a new file in {user_models_dir()})")
            return 2
        if not args.out:
            args.out = str(trained_model_path(config.data, resume_step))
        try:
            _check_outputs(None, args.out, False)
        except OSError as exc:
            rep.error("export", str(exc))
            return 1
        return _export(args.resume, args.out, not args.raw_weights, rep)
    run_dir = Path(args.run_dir) if args.run_dir else user_runs_dir() / _slug(config.data)
    try:  # a read-only or missing output folder fails now, not after the whole run
        _check_outputs(run_dir, args.out, args.progress_json)
        if not args.out and not args.no_export:
            from diffview.fileio import check_writable

            check_writable(user_models_dir(), create=True)
    except OSError as exc:
        rep.error("config", str(exc))
        return 1
    _clean_stale_temporaries(run_dir)
    control = _Control(rep)

    def on_signal(signum, frame):  # noqa: ARG001
        if control.stop.is_set():
            raise KeyboardInterrupt
        control.command("stop")
        print("\nstopping after this step and writing a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr, flush=True)

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal) if hasattr(signal, "SIGTERM") else None
    if args.stdin_control:
        threading.Thread(target=control.read_stdin, name="stdin-control", daemon=True).start()
    last = None
    started = time.monotonic()
    try:
        rep.event("status", message=f"loading {config.data}")
        data = load_training_data(config.data, config.image_size, config.channels)
        if args.conditional and not config.num_classes:
            from diffview.training.cond import data_num_classes

            try:
                n_classes = data_num_classes(data.labels, data.class_names)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            config = dataclasses.replace(config, num_classes=n_classes)
        if args.epochs is not None and data.images is not None:
            steps = max(1, math.ceil(args.epochs * data.images.shape[0] / config.batch_size))
            config = dataclasses.replace(config, steps=steps)
        params = count_parameters(build_model(config, data.sample_shape))
        rep.event("started", run_dir=str(run_dir.resolve()), step=resume_step,
                  total_steps=config.steps, kind=data.kind, sample_shape=list(data.sample_shape),
                  parameters=params, device=str(device), dataset=data.dataset,
                  config=config.to_dict())
        rep.say(f"training on {config.data} for {config.steps} steps, batch {config.batch_size}, "
                f"checkpoints in {run_dir}")
        trainer = train
        if config.reflow:  # flow matching with reflow rounds, one stream of records
            from diffview.training.flow import train_with_reflow as trainer
        for rec in trainer(config, out_dir=run_dir, resume=args.resume, data=data,
                         should_stop=control.stop.is_set, device=str(device)):
            last = rec
            rep.progress(rec)
            if rec.checkpoint:
                rep.event("checkpoint", step=rec.step, path=str(Path(rec.checkpoint).resolve()))
            if rec.preview is not None and args.progress_json:
                path = _save_preview(run_dir, rec.step, rec.preview)
                rep.event("preview", step=rec.step, path=str(path.resolve()),
                          samples=encode_array(rec.preview, data.kind))
            if not rec.done:
                control.wait_while_paused(rec.step)
    except ConfigError as exc:
        rep.error("config", str(exc))
        return 1
    except (TrainingDataError, CheckpointError) as exc:
        rep.error("data", str(exc))
        return 1
    except (TrainingError, OSError) as exc:
        rep.error("train", str(exc))
        return 1
    except (MemoryError, RuntimeError) as exc:
        # torch raises RuntimeError ("... out of memory", "DefaultCPUAllocator: can't
        # allocate ...") for a batch or network too large for this machine.
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, MemoryError) or "memory" in text.lower() or "allocate" in text:
            rep.error("memory", f"out of memory ({text}); lower --batch or the network "
                                "width; the last checkpoint, if any, is kept")
            return 1
        raise
    finally:
        rep.close()
        signal.signal(signal.SIGINT, old_int)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    if last is None:
        rep.error("train", "training produced no steps")
        return 1
    ckpt = run_dir / "checkpoint.pt"
    rep.event("stopped", reason=last.stop_reason, step=last.step, checkpoint=str(ckpt.resolve()))
    if not rep.json:  # the summary, printed even with --quiet
        print(f"stopped ({last.stop_reason}) at step {last.step}, loss avg "
              f"{last.loss_avg:.4f}, {_fmt_time(time.monotonic() - started)} wall; "
              f"checkpoint {ckpt}", flush=True)
    if last.stop_reason == "cancelled":
        return 130
    if args.no_export:
        return 0
    out = args.out or trained_model_path(config.data, last.step)  # named after what it learned
    return _export(ckpt, out, not args.raw_weights, rep, control.stop.is_set)


def _export(checkpoint, out, use_ema: bool, rep: _Reporter, should_cancel=None) -> int:
    from diffview.training.checkpoint import CheckpointError
    from diffview.training.export import ExportError, export_checkpoint

    rep.event("exporting", path=str(Path(out).resolve()))
    try:
        result = export_checkpoint(checkpoint, out, use_ema=use_ema, should_cancel=should_cancel)
    except (ExportError, CheckpointError, OSError) as exc:
        rep.error("export", f"export failed: {exc}")
        return 1
    rep.event("exported", path=str(Path(result.path).resolve()),
              max_abs_diff=result.max_abs_diff)
    if not rep.json:
        print(f"exported {result.path} (parity max abs diff {result.max_abs_diff:.2e})",
              flush=True)
    return 0


def _slug(data: str) -> str:
    name = data[4:] if data.startswith("toy:") else Path(data).name or "data"
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
