"""The training loop: a generator of progress records, cancellable between steps.

Objective (Ho et al. 2020, eq. 14, "L_simple"): draw x_0 from the data, a time and noise
eps ~ N(0, I), form x_t, and regress the network's eps prediction on eps with a mean squared
error.

- Images, discrete time: t_index ~ U{0..T-1}, x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,
  with abar from :func:`diffview.core.schedules.make_schedule`.
- Points, continuous VP SDE (Song et al. 2021): time ~ U(t_min, 1),
  x_t = m(t) x_0 + s(t) eps with log m(t) = -t^2 (beta_max - beta_min) / 4 - t beta_min / 2
  and s(t) = sqrt(1 - m(t)^2).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from diffview.core.schedules import make_schedule
from diffview.training.checkpoint import (
    CheckpointError,
    describe_load_error,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from diffview.training.config import TrainConfig
from diffview.training.data import TrainingData, load_training_data
from diffview.training.mlp import PointMLP
from diffview.training.toy import sample_points
from diffview.training.unet import UNet, count_parameters

CHECKPOINT_NAME = "checkpoint.pt"


class TrainingError(RuntimeError):
    """Training cannot go on (for example the loss became NaN)."""


@dataclass(frozen=True)
class Progress:
    """One record yielded by :func:`train` after each step.

    Attributes
    ----------
    step : steps done so far (1 after the first).
    total_steps : planned steps.
    loss : this step's loss; ``loss_avg`` an exponential average of it.
    lr : learning rate used in this step.
    samples_per_s : throughput averaged over the recent steps.
    elapsed_s : training time so far (including earlier sessions of a resumed run).
    eta_s : estimated seconds left (from the step count or the time budget, the sooner).
    checkpoint : path of the checkpoint written after this step, else ``None``.
    preview : a few samples drawn with the EMA weights (images ``(n, C, H, W)`` in [-1, 1],
        points ``(n, 2)``), only on preview steps, else ``None``.
    done : True on the last record of the run.
    stop_reason : ``"steps"``, ``"time"`` or ``"cancelled"`` on the last record.
    """

    step: int
    total_steps: int
    loss: float
    loss_avg: float
    lr: float
    samples_per_s: float
    elapsed_s: float
    eta_s: float
    checkpoint: str | None = None
    preview: np.ndarray | None = None
    done: bool = False
    stop_reason: str | None = None


def vp_mean_std(time_: torch.Tensor, beta_min: float, beta_max: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean coefficient m(t) and standard deviation s(t) of the VP SDE's marginal."""
    log_m = -0.25 * time_ ** 2 * (beta_max - beta_min) - 0.5 * time_ * beta_min
    m = torch.exp(log_m)
    return m, torch.sqrt(-torch.expm1(2.0 * log_m))


def build_model(config: TrainConfig, sample_shape: tuple[int, ...]) -> nn.Module:
    """The network a config describes: a :class:`UNet` for images, a :class:`PointMLP` else
    (a residual UNet restorer for a cold-diffusion config, see :mod:`diffview.training.cold`)."""
    if config.cold is not None:
        from diffview.training.cold import build_cold_model

        return build_cold_model(config, sample_shape)
    if len(sample_shape) == 3:
        return UNet(channels=sample_shape[0], widths=config.widths, blocks=config.blocks,
                    attention=config.attention, num_classes=config.num_classes)
    return PointMLP(dim=sample_shape[0], hidden=config.hidden, layers=config.layers,
                    fourier=config.fourier)


def lr_at(config: TrainConfig, step: int, progress: float) -> float:
    """Learning rate for 0-based ``step``; ``progress`` in [0, 1] drives the decay."""
    if config.warmup and step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    if config.lr_schedule == "constant":
        return config.lr
    p = min(max(progress, 0.0), 1.0)
    low = config.lr * config.min_lr_ratio
    return low + 0.5 * (config.lr - low) * (1.0 + math.cos(math.pi * p))


def ema_decay(config: TrainConfig, step: int) -> float:
    """EMA decay with warm-up: ``min(ema, (1 + step) / (10 + step))``."""
    return min(config.ema, (1.0 + step) / (10.0 + step))


def resolve_device(name: str = "cpu") -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when torch can use it) as a torch device.

    Raises
    ------
    TrainingError
        for ``"cuda"`` when torch has no usable CUDA device, or an unknown name.
    """
    if name not in ("auto", "cpu", "cuda"):
        raise TrainingError(f"device must be auto, cpu or cuda, got {name!r}")
    has_cuda = bool(torch.cuda.is_available())
    if name == "cuda" and not has_cuda:
        raise TrainingError(
            "training on CUDA was asked for, but torch cannot use a CUDA device here "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
            "choose the CPU, or install a CUDA build of torch on a machine with an NVIDIA GPU")
    return torch.device("cuda" if name != "cpu" and has_cuda else "cpu")


class _TorchEps:
    """A torch epsilon network seen as an engine Denoiser (``info``, ``predict_eps``), so
    previews sample with the app's own runs (:mod:`diffview.runs.sampling`)."""

    provider = "torch"

    def __init__(self, net: nn.Module, info, device: torch.device) -> None:
        self.net, self.info, self.device = net, info, device

    @torch.no_grad()
    def predict_eps(self, x: np.ndarray, t: np.ndarray, labels: np.ndarray | None = None
                    ) -> np.ndarray:
        xt = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device)
        tt = torch.from_numpy(np.asarray(t, np.int64)).to(self.device)
        if labels is None:
            return self.net(xt, tt).float().cpu().numpy()
        lt = torch.from_numpy(np.asarray(labels, np.int64)).to(self.device)
        return self.net(xt, tt, lt).float().cpu().numpy()


class _Run:
    """The mutable state of one run (model, EMA, optimiser, random generators).

    Random numbers are always drawn on the CPU (numpy and a CPU torch generator) and moved
    to the device, so a run's batches and noise do not depend on where it trains.
    """

    def __init__(self, config: TrainConfig, data: TrainingData,
                 device: torch.device | None = None) -> None:
        self.config = config
        self.data = data
        self.device = device if device is not None else torch.device("cpu")
        torch.manual_seed(config.seed)
        self.model = build_model(config, data.sample_shape).to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        if config.init_from is not None:  # fine-tuning (a resume overwrites these again)
            from diffview.training.cond import load_init_weights

            load_init_weights(self.model, self.ema, config.init_from)
        params = [{"params": list(self.model.parameters())}]
        if config.num_classes:  # the new class embedding learns faster (training/cond.py)
            from diffview.training.cond import CLASS_LR_SCALE, param_groups

            params = param_groups(self.model, CLASS_LR_SCALE)
        self.opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        self.rng = np.random.default_rng(config.seed)
        self.gen = torch.Generator().manual_seed(config.seed + 1)
        self.step = 0
        self.elapsed = 0.0
        self.loss_avg = float("nan")
        if data.kind == "image":
            sched = make_schedule(config.schedule, config.T)
            self.sqrt_ab = torch.tensor(sched.sqrt_alpha_bars, dtype=torch.float32)
            self.sqrt_1mab = torch.tensor(sched.sqrt_one_minus_alpha_bars, dtype=torch.float32)

    # -- state ------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "format": 1,
            "config": self.config.to_dict(),
            "sample_shape": list(self.data.sample_shape),
            "dataset": self.data.dataset,
            "class_names": list(self.data.class_names),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "elapsed_s": self.elapsed,
            "loss_avg": self.loss_avg,
            "numpy_rng": self.rng.bit_generator.state,
            "torch_gen": self.gen.get_state(),
            "parameters": count_parameters(self.model),
        }

    def load(self, state: dict, path="the checkpoint") -> None:
        if list(state["sample_shape"]) != list(self.data.sample_shape):
            raise CheckpointError(
                f"checkpoint was trained on samples of shape {tuple(state['sample_shape'])}, "
                f"the data has {self.data.sample_shape}")
        load_weights(self.model, state["model"], path, "model")  # one line on a mismatch
        load_weights(self.ema, state["ema"], path, "EMA")
        try:
            self.opt.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(describe_load_error(exc, path, "optimizer")) from None
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed_s"])
        self.loss_avg = float(state["loss_avg"])
        self.rng.bit_generator.state = state["numpy_rng"]
        self.gen.set_state(state["torch_gen"])

    # -- one step ---------------------------------------------------------------------------
    def batch_loss(self) -> torch.Tensor:
        c = self.config
        if c.cold is not None:  # L1 on x_0 of a restoration network (training/cold.py)
            from diffview.training.cold import cold_batch_loss

            return cold_batch_loss(self)
        if self.data.kind == "image":
            idx = self.rng.integers(0, self.data.images.shape[0], size=c.batch_size)
            x0 = torch.from_numpy(self.data.images[idx])
            t = torch.randint(0, c.T, (c.batch_size,), generator=self.gen)
            eps = torch.randn(x0.shape, generator=self.gen)
            shape = (-1,) + (1,) * (x0.dim() - 1)
            xt = self.sqrt_ab[t].view(shape) * x0 + self.sqrt_1mab[t].view(shape) * eps
            if self.device.type != "cpu":
                xt, t, eps = xt.to(self.device), t.to(self.device), eps.to(self.device)
            if c.num_classes:  # classifier-free guidance's label dropout (training/cond.py)
                from diffview.training.cond import drop_labels, labels_tensor

                y = drop_labels(self.data.labels[idx], c.p_uncond, c.num_classes, self.rng)
                return torch.mean((self.model(xt, t, labels_tensor(y, self.device)) - eps) ** 2)
        elif c.objective == "fm":  # flow matching of points (training/flow.py)
            from diffview.training.flow import flow_batch_loss

            return flow_batch_loss(self)
        else:
            x0 = torch.from_numpy(sample_points(self.data.toy, c.batch_size, self.rng))
            t = c.t_min + (1.0 - c.t_min) * torch.rand(c.batch_size, generator=self.gen)
            eps = torch.randn(x0.shape, generator=self.gen)
            m, s = vp_mean_std(t, c.beta_min, c.beta_max)
            xt = m[:, None] * x0 + s[:, None] * eps
            if self.device.type != "cpu":
                xt, t, eps = xt.to(self.device), t.to(self.device), eps.to(self.device)
        return torch.mean((self.model(xt, t) - eps) ** 2)

    def update_ema(self) -> None:
        d = ema_decay(self.config, self.step)
        with torch.no_grad():
            for pe, pm in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                pe.lerp_(pm, 1.0 - d)
            for be, bm in zip(self.ema.buffers(), self.model.buffers(), strict=True):
                be.copy_(bm)

    @torch.no_grad()
    def preview(self, n: int = 8, n_steps: int = 20) -> np.ndarray:
        """A few samples from the EMA net: DDIM (eta=0) for images, probability-flow Euler
        for points. Uses its own generator so previews never change the training stream."""
        if self.config.cold is not None:
            from diffview.training.cold import cold_preview

            return cold_preview(self, n)
        g = torch.Generator().manual_seed(12345)
        self.ema.eval()
        c = self.config
        dev = self.device
        if self.data.kind == "image":
            # The app's DDIM (core sampler, x0 clipped, evenly spaced steps from T-1 to 0).
            from diffview.engine.metadata import ModelInfo
            from diffview.runs.base import run_to_end
            from diffview.runs.sampling import SamplingSpec, run_sampling

            info = ModelInfo(kind="image", sample_shape=tuple(self.data.sample_shape),
                             schedule=c.schedule, T=c.T)
            spec = SamplingSpec(sampler="ddim", n_steps=min(n_steps, c.T), spacing="linspace",
                                clip_x0=True, seed=12345, batch=n, keep=0)
            run = run_sampling(spec, _TorchEps(self.ema, info, dev))
            return np.clip(run_to_end(run).final, -1.0, 1.0)
        if c.objective == "fm":
            from diffview.training.flow import flow_preview

            return flow_preview(self, n * 64)
        x = torch.randn((n * 64, 2), generator=g).to(dev)
        times = np.linspace(1.0, c.t_min, 100)
        for t0, t1 in zip(times[:-1], times[1:], strict=True):
            t = torch.full((x.shape[0],), float(t0), device=dev)
            beta = c.beta_min + t0 * (c.beta_max - c.beta_min)
            _, s = vp_mean_std(t, c.beta_min, c.beta_max)
            score = -self.ema(x, t) / s[:, None]
            drift = -0.5 * beta * x - 0.5 * beta * score
            x = x + drift * (t1 - t0)
        return x.cpu().numpy()


def _write_checkpoint(run: _Run, out_dir: Path | None) -> str | None:
    if out_dir is None:
        return None
    return str(save_checkpoint(out_dir / CHECKPOINT_NAME, run.state()))


def train(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    data: TrainingData | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: str = "cpu",
) -> Iterator[Progress]:
    """Train an epsilon network, yielding a :class:`Progress` after every step.

    Parameters
    ----------
    config : the run's options (its ``steps`` is the total, counting resumed steps).
    out_dir : folder for ``checkpoint.pt`` (written every ``config.checkpoint_every`` steps,
        at the end, and when the run is cancelled); ``None`` writes nothing.
    resume : a checkpoint to continue from; the run then goes on exactly as if it had not
        stopped (same batches, noise, optimiser state and EMA), unless a time budget is set.
    data : already loaded data; read from ``config.data`` when ``None``.
    should_stop : polled between steps; when it returns True the run writes a checkpoint and
        ends with ``stop_reason="cancelled"``. Closing the generator does the same.
    device : ``"cpu"`` (default), ``"cuda"`` or ``"auto"``; see :func:`resolve_device`.
        Checkpoints load on either.

    Raises
    ------
    TrainingError
        if the loss becomes NaN or infinite (the last good checkpoint is left untouched), or
        CUDA is asked for and unusable.
    """
    torch_device = resolve_device(device)
    torch.set_num_threads(config.threads)
    if data is None:
        data = load_training_data(config.data, config.image_size, config.channels)
    if data.kind == "points" and len(data.sample_shape) != 1:
        raise TrainingError("point data must have shape (d,)")
    if config.num_classes:
        from diffview.training.cond import data_num_classes

        try:
            have = data_num_classes(data.labels, data.class_names)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        if have != config.num_classes:
            raise TrainingError(f"the network has {config.num_classes} classes, the data "
                                f"{data.dataset} has {have}")
    run = _Run(config, data, torch_device)
    if resume is not None:
        state = load_checkpoint(resume, purpose="resume")
        run.load(state, resume)
    out = Path(out_dir) if out_dir is not None else None
    budget = None if config.max_minutes is None else 60.0 * config.max_minutes
    finished = "steps" if run.step >= config.steps else None
    if finished is None and budget is not None and run.elapsed >= budget:
        finished = "time"
    if finished is not None:  # a resumed run that has nothing left to do
        yield Progress(run.step, config.steps, float("nan"), run.loss_avg, 0.0, 0.0,
                       run.elapsed, 0.0, _write_checkpoint(run, out), done=True,
                       stop_reason=finished)
        return
    recent: list[float] = []
    run.model.train()
    try:
        while True:
            if should_stop is not None and should_stop():
                ckpt = _write_checkpoint(run, out)
                yield Progress(run.step, config.steps, float("nan"), run.loss_avg, 0.0, 0.0,
                               run.elapsed, float("nan"), ckpt, done=True,
                               stop_reason="cancelled")
                return
            t0 = time.perf_counter()
            progress = run.step / config.steps
            if budget is not None:
                progress = max(progress, run.elapsed / budget)
            lr = lr_at(config, run.step, progress)
            for group in run.opt.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            loss = run.batch_loss()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(
                    f"the loss became {value} at step {run.step + 1}; training stopped. "
                    "The last good checkpoint (if any) is unchanged; try a lower --lr.")
            run.opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
            run.opt.step()
            run.update_ema()
            run.step += 1
            dt = time.perf_counter() - t0
            run.elapsed += dt
            run.loss_avg = value if math.isnan(run.loss_avg) else 0.98 * run.loss_avg + 0.02 * value
            recent = (recent + [dt])[-50:]
            per_step = sum(recent) / len(recent)
            eta = (config.steps - run.step) * per_step
            stop_reason = None
            if run.step >= config.steps:
                stop_reason = "steps"
            elif budget is not None:
                eta = min(eta, max(0.0, budget - run.elapsed))
                if run.elapsed >= budget:
                    stop_reason = "time"
            done = stop_reason is not None
            ckpt = None
            if done or (config.checkpoint_every and run.step % config.checkpoint_every == 0):
                ckpt = _write_checkpoint(run, out)
            preview = None
            # A preview costs a few network passes: skip it when the run is being stopped, so
            # that a cancel lands after the current step only.
            due = bool(config.preview_every) and run.step % config.preview_every == 0
            if done or (due and not (should_stop is not None and should_stop())):
                preview = run.preview()
                run.model.train()
            yield Progress(run.step, config.steps, value, run.loss_avg, lr,
                           config.batch_size / per_step, run.elapsed, eta, ckpt, preview,
                           done, stop_reason)
            if done:
                return
    except GeneratorExit:
        # The consumer stopped iterating at a yield, i.e. between two steps: the state is
        # consistent, so keep it.
        _write_checkpoint(run, out)
        raise


def final_state(out_dir: str | Path) -> dict:
    """Load ``out_dir/checkpoint.pt``."""
    return load_checkpoint(Path(out_dir) / CHECKPOINT_NAME)
