"""Class-conditional training for classifier-free guidance (Ho and Salimans 2022, Alg. 1).

One network learns both eps(x_t, t, c) and eps(x_t, t): each training label is replaced by
the null class (label ``num_classes``) with probability ``p_uncond``. The network is
:class:`diffview.training.unet.UNet` with ``num_classes > 0``; its class embedding starts at
zero, so fine-tuning from an unconditional checkpoint (:func:`load_init_weights`) starts from
exactly that model.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from diffview.training.checkpoint import CheckpointError, describe_load_error, load_checkpoint

# Parameters a conditional network has that an unconditional one lacks (left at their init).
CLASS_KEYS = ("class_emb.weight",)
# Learning-rate multiplier of the class embedding: it starts at zero and a fine-tune of a few
# hundred steps at the backbone's small learning rate would barely move it.
CLASS_LR_SCALE = 10.0


def param_groups(model: nn.Module, class_lr_scale: float = CLASS_LR_SCALE) -> list[dict]:
    """AdamW parameter groups: the class embedding (``lr_scale`` = ``class_lr_scale``) and
    everything else (``lr_scale`` 1); the loop multiplies its learning rate by ``lr_scale``."""
    cls = [p for n, p in model.named_parameters() if n in CLASS_KEYS]
    rest = [p for n, p in model.named_parameters() if n not in CLASS_KEYS]
    return [{"params": rest, "lr_scale": 1.0}, {"params": cls, "lr_scale": float(class_lr_scale)}]


def data_num_classes(labels: np.ndarray | None, class_names: tuple[str, ...]) -> int:
    """Number of classes of a labelled data set: its class names, else ``max(label) + 1``.

    Raises
    ------
    ValueError
        when the data has no labels, or a label is outside ``0 .. len(class_names) - 1``.
    """
    if labels is None or labels.size == 0:
        raise ValueError("a class-conditional network (--conditional) needs labelled data; "
                         "this data set has no labels (an IDX labels file or one folder per "
                         "class)")
    n = len(class_names) if class_names else int(labels.max()) + 1
    if labels.min() < 0 or labels.max() >= n:
        raise ValueError(f"labels must be in 0..{n - 1}, found {labels.min()}..{labels.max()}")
    return n


def drop_labels(labels: np.ndarray, p_uncond: float, null_class: int,
                rng: np.random.Generator) -> np.ndarray:
    """Replace each label by ``null_class`` with probability ``p_uncond`` (independently).

    Parameters
    ----------
    labels : int64 (B,)
    p_uncond : in [0, 1).
    null_class : the label that means "no class".
    rng : draws B uniforms.

    Returns
    -------
    int64 (B,), a new array.
    """
    drop = rng.random(labels.shape[0]) < p_uncond
    return np.where(drop, np.int64(null_class), labels).astype(np.int64)


def load_init_weights(model: nn.Module, ema: nn.Module, path: str | os.PathLike) -> int:
    """Start ``model`` and ``ema`` from a checkpoint's EMA weights (fine-tuning).

    The load is strict except for :data:`CLASS_KEYS`: an unconditional checkpoint fits a
    conditional network, whose class embedding keeps its zero init. Returns the source's step.

    Raises
    ------
    CheckpointError
        one line, for a missing or unreadable file or weights that do not fit.
    """
    state = load_checkpoint(path, purpose="export")
    weights = dict(state["ema"])
    want = model.state_dict()
    for key in CLASS_KEYS:
        if key in want and key not in weights:
            weights[key] = want[key]
    for target in (model, ema):
        try:
            target.load_state_dict(weights)
        except (RuntimeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(describe_load_error(exc, path, "initial")) from None
    return int(state["step"])


def labels_tensor(labels: np.ndarray | None, device: torch.device) -> torch.Tensor | None:
    """Labels as an int64 tensor on ``device`` (None stays None)."""
    if labels is None:
        return None
    return torch.from_numpy(np.ascontiguousarray(labels, np.int64)).to(device)


__all__ = ["CLASS_KEYS", "CLASS_LR_SCALE", "data_num_classes", "drop_labels", "labels_tensor",
           "load_init_weights", "param_groups"]
