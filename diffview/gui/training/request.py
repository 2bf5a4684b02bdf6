"""What a training run is asked for and what it gives back: :class:`TrainRequest`,
:class:`TrainProgress`, :class:`TrainResult`, and the checks the service runs (Qt-free).

See :mod:`diffview.gui.training.service` for how a request is run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from diffview.paths import trained_model_path, user_runs_dir
from diffview.runs.base import Progress

__all__ = ["CHECKPOINT_NAME", "TrainProgress", "TrainRequest", "TrainResult", "new_run_dir",
           "validate_model"]

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass(frozen=True)
class TrainRequest:
    """One training run, as options of ``diffview train``.

    Attributes
    ----------
    data : str
        ``"toy:NAME"``, an image or IDX folder, or ``"points:PATH"`` (a ``.npy`` (N, 2) array);
        ignored when ``points`` is given.
    steps : int
        Optimiser steps.
    points : ndarray (N, 2), optional
        Points to train on (a drawing); written to the run folder as ``points.npz`` with
        ``jitter`` and ``name``.
    jitter : float
        Gaussian jitter added to ``points`` in every batch (a kernel-density sample).
    name : str
        Name of the data in the model's metadata and its file name (default: from ``data``).
    seed : int
        The run's random seed.
    max_seconds : float, optional
        A time budget: the run stops cleanly (and exports) when it is spent.
    options : mapping
        More options of ``diffview train`` without the dashes, ``{"hidden": 128, "batch": 256}``.
    args : tuple of str
        Raw ``diffview train`` arguments, after everything else (the image Preferences).
    preview_every, checkpoint_every : int
        Steps between previews (0: none) and checkpoints (0: only at the end).
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    threads : int
        torch threads of the child.
    run_dir : Path, optional
        Folder for the checkpoint and previews (default: a new one under
        :func:`~diffview.paths.user_runs_dir`).
    out : Path, optional
        Where the model is exported (default: :func:`~diffview.paths.trained_model_path`).
    resume : Path, optional
        A checkpoint to continue from.
    """

    data: str
    steps: int
    points: np.ndarray | None = field(default=None, compare=False, repr=False)
    jitter: float = 0.0
    name: str = ""
    seed: int = 0
    max_seconds: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict, compare=False)
    args: tuple[str, ...] = ()
    preview_every: int = 0
    checkpoint_every: int = 0
    device: str = "cpu"
    threads: int = 1
    run_dir: Path | None = None
    out: Path | None = None
    resume: Path | None = None

    @property
    def dataset(self) -> str:
        """What the model learned, for its file name."""
        if self.name:
            return self.name
        return "drawing" if self.points is not None else self.data

    def cli_args(self, data: str, run_dir: Path, out: Path) -> list[str]:
        """The arguments of ``diffview train`` (without the protocol flags)."""
        argv = ["--data", data, "--steps", str(int(self.steps)), "--seed", str(int(self.seed)),
                "--device", self.device, "--threads", str(int(self.threads)),
                "--preview-every", str(int(self.preview_every)),
                "--checkpoint-every", str(int(self.checkpoint_every)),
                "--run-dir", str(run_dir), "--out", str(out)]
        if self.max_seconds is not None:
            argv += ["--max-minutes", repr(float(self.max_seconds) / 60.0)]
        for key, value in self.options.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        argv += list(self.args)
        if self.resume is not None:
            argv += ["--resume", str(self.resume)]
        return argv


@dataclass(frozen=True, kw_only=True)
class TrainProgress(Progress):
    """A progress line of the child: ``step`` of ``total`` and how training goes."""

    loss: float = math.nan
    loss_avg: float = math.nan
    lr: float = math.nan
    samples_per_s: float = math.nan
    elapsed_s: float = 0.0
    eta_s: float | None = None


@dataclass(frozen=True)
class TrainResult:
    """A finished run: the exported model, checked through the engine.

    ``model`` is the opened ``engine.OnnxDenoiser``; ``kind`` is ``"image"`` or ``"points"``.
    """

    path: Path
    model: Any
    kind: str
    dataset: str
    steps: int
    seconds: float
    loss: float
    stop_reason: str
    run_dir: Path


def new_run_dir(dataset: str, root: Path | None = None) -> Path:
    """A new, empty run folder ``<root>/<date>-<data>`` (root: the user runs folder)."""
    stem = trained_model_path(dataset, 0, folder=Path(".")).stem  # "<slug>-0steps-<date>"
    slug, _, stamp = stem.partition("-0steps-")
    root = Path(root) if root is not None else user_runs_dir()
    path = root / f"{stamp}-{slug}"
    n = 2
    while path.exists():
        path = root / f"{stamp}-{slug}-{n}"
        n += 1
    path.mkdir(parents=True)
    return path


def validate_model(path: Path, device: str, threads: int | None,
                   sample_shape: tuple[int, ...] | None, token=None):
    """A run: open ``path`` through the engine and run it once on two samples; returns the
    denoiser. Raises ``engine.ModelError`` naming what is wrong."""
    from diffview.engine import ModelError, OnnxDenoiser

    model = OnnxDenoiser(path, device=device, threads=threads)
    info = model.info
    if sample_shape is not None and tuple(info.sample_shape) != tuple(sample_shape):
        raise ModelError(f"{path}: the exported model takes samples of shape "
                         f"{tuple(info.sample_shape)}, the run trained on {tuple(sample_shape)}")
    x = np.random.default_rng(0).standard_normal((2, *info.sample_shape), dtype=np.float32)
    if info.time_kind == "index":
        t = np.array([0, info.T - 1], np.int64)
    else:
        t = np.array([0.05, 0.95], np.float32)
    eps = model.predict_eps(x, t)  # raises ModelError on NaN/inf
    if eps.shape != x.shape:
        raise ModelError(f"{path}: output shape {eps.shape} differs from input {x.shape}")
    return model
    yield  # noqa: B901 - a run without frames
