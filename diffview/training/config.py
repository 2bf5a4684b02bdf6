"""Training configuration: one validated dataclass, free of torch so the GUI can import it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from diffview.core.schedules import SCHEDULES

# The largest batch accepted: more samples per step than this exhausts memory long before it
# helps (a batch of 10^9 toy points alone would need 16 GB).
MAX_BATCH_SIZE = 65_536
# Cold-diffusion degradations (diffview.core.forward.DEGRADATIONS, repeated to keep this light).
_COLD = ("blur", "mask", "pixelate")


class ConfigError(ValueError):
    """A training option has an impossible value; the message names the option."""


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of a training run.

    Attributes
    ----------
    data : an IDX folder (Fashion-MNIST, MNIST layout), an image folder, or ``toy:NAME`` for a
        2-D toy set (``toy:moons``); decides whether a UNet (images) or an MLP (points) is trained.
    steps : optimiser steps to run (the learning-rate schedule ends here).
    batch_size : samples per step.
    lr : peak learning rate of AdamW.
    warmup : steps of linear learning-rate warm-up from 0.
    lr_schedule : ``"cosine"`` (decay to ``min_lr_ratio * lr`` at the end) or ``"constant"``.
    min_lr_ratio : final learning rate as a fraction of ``lr`` for the cosine schedule.
    weight_decay : AdamW decoupled weight decay.
    grad_clip : clip the global gradient norm to this value (0 disables).
    ema : decay of the exponential moving average of the weights; the effective decay is
        ``min(ema, (1 + step) / (10 + step))`` so early averages are not dominated by noise.
    widths, blocks, attention : UNet channels and ResBlocks per level (images).
    hidden, layers : MLP width and number of hidden layers (points).
    fourier : octaves of sine/cosine features of the point coordinates (0: raw input).
    schedule, T : discrete noise schedule of image models (timestep indices 0..T-1).
    beta_min, beta_max : continuous VP SDE of point models, ``time`` in ``[t_min, 1]``.
    t_min : smallest training time of point models (avoids the singular score at 0).
    image_size, channels : resize/convert images to this size and channel count
        (``None`` keeps what the data has).
    seed : seeds torch and numpy; the same seed and options give the same run.
    threads : torch intra-op threads (``torch.set_num_threads``).
    checkpoint_every : write a checkpoint every this many steps (0: only at the end).
    max_minutes : time budget; the run stops cleanly with a checkpoint when it is spent, and
        the learning-rate schedule follows whichever of steps or time is further along
        (this makes the run depend on the machine's speed; leave ``None`` for exact reruns).
    preview_every : make a small preview sample every this many steps (0: never).
    objective : ``"eps"`` (denoising, the default) or ``"fm"`` (flow matching of points: the
        MLP predicts the velocity eps - x_0 of x_t = (1 - t) x_0 + t eps, see
        :mod:`diffview.training.flow`).
    coupling : pairing of data and noise for ``"fm"``: ``"independent"`` or ``"ot"``
        (minibatch optimal transport).
    reflow : reflow rounds after the first flow (``"fm"`` only), each of ``steps`` steps.
    reflow_from : checkpoint of the previous flow whose pairs this round trains on (set by
        the reflow driver).
    cold : ``None`` (an epsilon network) or a cold-diffusion degradation ("blur", "mask",
        "pixelate"): train a restoration network R(x_s, s) ~ x_0 with the L1 loss instead
        (:mod:`diffview.training.cold`); ``T`` is then its number of degradation steps.
    num_classes : classes of a class-conditional image network (0: unconditional); its
        labels come from the data, and label ``num_classes`` is the null class
        (:mod:`diffview.training.cond`).
    p_uncond : probability that a training label is replaced by the null class (Ho and
        Salimans 2022, Alg. 1), so one network learns eps(x, t, c) and eps(x, t).
    init_from : a checkpoint whose EMA weights start the network (fine-tuning: a new
        optimiser and step count; a conditional network takes an unconditional one's weights
        with its class embedding left at zero).
    """

    data: str = "toy:moons"
    steps: int = 5000
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 200
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.02
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema: float = 0.999
    widths: tuple[int, ...] = (16, 32, 96)
    blocks: tuple[int, ...] = (1, 1, 1)
    attention: bool = True
    hidden: int = 128
    layers: int = 3
    fourier: int = 6
    schedule: str = "linear"
    T: int = 1000  # noqa: N815 - the paper's symbol
    beta_min: float = 0.1
    beta_max: float = 20.0
    t_min: float = 1e-3
    image_size: int | None = None
    channels: int | None = None
    seed: int = 0
    threads: int = 1
    checkpoint_every: int = 500
    max_minutes: float | None = None
    preview_every: int = 0
    objective: str = "eps"
    coupling: str = "independent"
    reflow: int = 0
    reflow_from: str | None = None
    extra: dict = field(default_factory=dict)
    cold: str | None = None
    num_classes: int = 0
    p_uncond: float = 0.1
    init_from: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
        validate(self)

    @property
    def is_toy(self) -> bool:
        """True when the data is points (``toy:NAME`` or ``points:PATH``): an MLP is trained."""
        return self.data.startswith(("toy:", "points:"))

    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples become lists)."""
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["blocks"] = list(self.blocks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown training options: {', '.join(unknown)}")
        return cls(**d)


def _finite(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")


def _int_at_least(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


# The VP SDE's beta_max cap: at 100, alpha_bar(1) = exp(-(beta_min + beta_max) / 2) ~ 2e-22.
MAX_BETA = 100.0


def validate(c: TrainConfig) -> None:
    """Raise :class:`ConfigError` naming the first absurd option of ``c``."""
    if not isinstance(c.data, str) or not c.data:
        raise ConfigError("data must name an IDX folder, an image folder or toy:NAME")
    _int_at_least("steps", c.steps, 1)
    _int_at_least("batch_size", c.batch_size, 1)
    if c.batch_size > MAX_BATCH_SIZE:
        raise ConfigError(f"batch_size must be at most {MAX_BATCH_SIZE}, got {c.batch_size}")
    _int_at_least("warmup", c.warmup, 0)
    _int_at_least("T", c.T, 2)
    _int_at_least("seed", c.seed, 0)
    _int_at_least("threads", c.threads, 1)
    _int_at_least("checkpoint_every", c.checkpoint_every, 0)
    _int_at_least("preview_every", c.preview_every, 0)
    _int_at_least("hidden", c.hidden, 1)
    _int_at_least("layers", c.layers, 1)
    _int_at_least("fourier", c.fourier, 0)
    if c.fourier > 16:
        raise ConfigError(f"fourier must be at most 16 octaves, got {c.fourier}")
    for name in ("lr", "min_lr_ratio", "weight_decay", "grad_clip", "ema", "beta_min",
                 "beta_max", "t_min"):
        _finite(name, getattr(c, name))
    if c.lr <= 0 or c.lr > 1:
        raise ConfigError(f"lr must be in (0, 1], got {c.lr!r}")
    if not 0 <= c.min_lr_ratio <= 1:
        raise ConfigError(f"min_lr_ratio must be in [0, 1], got {c.min_lr_ratio!r}")
    if c.weight_decay < 0:
        raise ConfigError(f"weight_decay must be >= 0, got {c.weight_decay!r}")
    if c.grad_clip < 0:
        raise ConfigError(f"grad_clip must be >= 0 (0 disables clipping), got {c.grad_clip!r}")
    if not 0 <= c.ema < 1:
        raise ConfigError(f"ema must be in [0, 1), got {c.ema!r}")
    if c.lr_schedule not in ("cosine", "constant"):
        raise ConfigError(f"lr_schedule must be 'cosine' or 'constant', got {c.lr_schedule!r}")
    if c.schedule not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {c.schedule!r}")
    if c.T > 100_000:
        raise ConfigError(f"T must be at most 100000, got {c.T}")
    if len(c.widths) != 3 or any(w < 1 for w in c.widths):
        raise ConfigError(f"widths must be three positive channel counts, got {c.widths}")
    if len(c.blocks) != 3 or any(b < 1 for b in c.blocks):
        raise ConfigError(f"blocks must be three counts >= 1, got {c.blocks}")
    if not 0 < c.beta_min < c.beta_max:
        raise ConfigError(
            f"need 0 < beta_min < beta_max, got beta_min={c.beta_min}, beta_max={c.beta_max}")
    if c.beta_max > MAX_BETA:
        raise ConfigError(
            f"beta_max must be at most {MAX_BETA:g}, got {c.beta_max:g}: larger values noise the "
            "data away almost at once, so the network has nothing to learn (the usual VP value "
            "is 20)")
    if not 0 < c.t_min < 1:
        raise ConfigError(f"t_min must be in (0, 1), got {c.t_min!r}")
    if c.image_size is not None:
        _int_at_least("image_size", c.image_size, 4)
        if c.image_size % 4:
            raise ConfigError(
                f"image_size must be divisible by 4 (the UNet halves it twice), got {c.image_size}")
    if c.channels is not None and c.channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {c.channels!r}")
    if c.max_minutes is not None:
        _finite("max_minutes", c.max_minutes)
        if c.max_minutes <= 0:
            raise ConfigError(f"max_minutes must be > 0, got {c.max_minutes!r}")
    if not isinstance(c.extra, dict):
        raise ConfigError("extra must be a dict")
    if c.objective not in ("eps", "fm"):
        raise ConfigError(f"objective must be 'eps' or 'fm', got {c.objective!r}")
    if c.coupling not in ("independent", "ot"):
        raise ConfigError(f"coupling must be 'independent' or 'ot', got {c.coupling!r}")
    _int_at_least("reflow", c.reflow, 0)
    if c.objective == "fm" and not c.is_toy:
        raise ConfigError("flow matching (objective fm) trains the 2-D point network: give "
                          f"--data toy:NAME, not {c.data}")
    if c.objective != "fm" and (c.reflow or c.coupling != "independent" or c.reflow_from):
        raise ConfigError("--coupling and --reflow need the flow-matching objective "
                          "(--objective fm)")
    if c.cold is not None:
        if c.cold not in _COLD:
            raise ConfigError(f"cold must be one of {', '.join(_COLD)}, got {c.cold!r}")
        if c.is_toy:
            raise ConfigError("cold diffusion restores images: give an image data set, "
                              f"not {c.data}")
    _int_at_least("num_classes", c.num_classes, 0)
    _finite("p_uncond", c.p_uncond)
    if not 0 <= c.p_uncond < 1:
        raise ConfigError(f"p_uncond must be in [0, 1), got {c.p_uncond!r}")
    if c.num_classes > 100_000:
        raise ConfigError(f"num_classes must be at most 100000, got {c.num_classes}")
    if c.num_classes and (c.is_toy or c.cold is not None):
        raise ConfigError("a class-conditional network (--conditional) is an image epsilon "
                          "network: give an image data set with labels and no --cold")
    if c.init_from is not None and (not isinstance(c.init_from, str) or not c.init_from):
        raise ConfigError("init_from must name a checkpoint file")
