"""Checkpoints: written atomically (:mod:`diffview.fileio`), read without running code.

A reader sees either the previous complete checkpoint or the new complete one, never a torn
file, even if the process dies half-way through writing. Reading uses torch's weights-only
unpickler and an exact type allow-list, then checks every field the run state has, so that a
downloaded or damaged checkpoint is refused with one line naming the file and the field.
"""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from diffview.fileio import atomic_write


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read or does not belong to this kind of run."""


def atomic_write_bytes(path: str | os.PathLike, write: Any) -> Path:
    """Call ``write(fileobj)`` on a temporary file next to ``path`` and rename it into place.

    :func:`diffview.fileio.atomic_write` with the parent folders created: the temporary file
    is removed if ``write`` raises (including ``KeyboardInterrupt``), so the old file at
    ``path``, if any, is left exactly as it was; an ``OSError`` becomes a one-line
    :class:`~diffview.fileio.OutputError` naming the path and the cause.
    """
    with atomic_write(path, "wb", make_parents=True) as fh:
        write(fh)
    return Path(path)


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` (tensors, dicts, numbers) to ``path`` atomically with ``torch.save``."""
    return atomic_write_bytes(path, lambda fh: torch.save(state, fh))


# What a checkpoint may hold, and nothing else: the run state of ``loop._Run.state`` is dicts
# (``OrderedDict`` for state dicts), lists and tuples of numbers, strings and tensors. Loading
# uses torch's weights-only unpickler, which never imports or calls anything outside its own
# allow-list; the walk below then refuses any other type the file might still carry.
# Exact types: subclasses such as torch.Size (a tuple) are refused too.
_ALLOWED_TYPES = frozenset({dict, OrderedDict, list, tuple, str, int, float, bool, type(None),
                            torch.Tensor, torch.nn.Parameter})
# Deeper than any real checkpoint (optimizer.param_groups[i].betas is depth 4).
_MAX_DEPTH = 16
_CODE_HINT = re.compile(r"GLOBAL ([\w.]+)")


def _where(keys: list) -> str:
    return "".join(f"[{k!r}]" for k in keys) or "the top level"


def _check_types(state: Any, path: Path) -> None:
    """Refuse any value that is not one of :data:`_ALLOWED_TYPES` (iterative, depth-limited)."""
    stack: list[tuple[Any, list]] = [(state, [])]
    while stack:
        value, keys = stack.pop()
        if type(value) not in _ALLOWED_TYPES:
            raise CheckpointError(
                f"{path}: refused: holds a {type(value).__module__}.{type(value).__qualname__} "
                f"at {_where(keys)}; a diffview checkpoint holds only tensors, numbers, "
                "strings, lists and dicts")
        if len(keys) > _MAX_DEPTH and isinstance(value, (dict, list, tuple)):
            raise CheckpointError(f"{path}: refused: nested deeper than {_MAX_DEPTH} levels "
                                  f"at {_where(keys[:4])}...")
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, (str, int)):
                    raise CheckpointError(f"{path}: refused: a key of type "
                                          f"{type(k).__name__} at {_where(keys)}")
                stack.append((v, [*keys, k]))
        elif isinstance(value, (list, tuple)):
            stack.extend((v, [*keys, i]) for i, v in enumerate(value))


# What each use of a checkpoint needs (``loop._Run.state`` writes all of them).
_NEEDS = {
    "resume": ("config", "sample_shape", "model", "ema", "optimizer", "step", "elapsed_s",
               "loss_avg", "numpy_rng", "torch_gen"),
    "export": ("config", "sample_shape", "model", "ema", "step"),
}


def load_checkpoint(path: str | os.PathLike, purpose: str | None = None) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, without running any code in it.

    The file is unpickled with ``torch.load(weights_only=True)``: a pickle that asks for any
    function or class outside torch's tensor allow-list (``eval``, ``os.system``, ...) is
    refused before anything is called. The decoded value must then consist only of
    :data:`_ALLOWED_TYPES`, and every run-state field it has must have the right type
    (:func:`check_state`).

    Parameters
    ----------
    path : the checkpoint file.
    purpose : ``"resume"`` or ``"export"`` also require the fields that use needs (see
        :data:`_NEEDS`); ``None`` requires only ``model`` and ``config``.

    Raises
    ------
    CheckpointError
        One line naming the file: missing, unreadable, refused (code or a foreign type), not a
        diffview training checkpoint, or a field that is missing or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _CODE_HINT.search(str(exc))
        if found:
            raise CheckpointError(
                f"{path}: refused: the file asks to run {found.group(1)} when loaded; a "
                "diffview checkpoint holds only tensors and numbers, so it was not loaded "
                "(never load it with weights_only=False unless you wrote it)") from None
        raise CheckpointError(f"cannot read checkpoint {path}: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - torn or foreign file; torch raises many types
        raise CheckpointError(f"cannot read checkpoint {path}: {_first_line(exc)}") from None
    _check_types(state, path)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a diffview training checkpoint (it holds "
                              f"{_short(state)}, not a dict)")
    absent = [k for k in ("model", "config") if k not in state]
    if absent:
        raise CheckpointError(f"{path} is not a diffview training checkpoint (no "
                              f"{' and no '.join(repr(k) for k in absent)} entry)")
    check_state(state, path, purpose)
    return state


def _short(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {list(value.shape)}"
    text = repr(value) if not isinstance(value, (dict, list, tuple)) else (
        f"a {type(value).__name__} of {len(value)} items")
    return text if len(text) <= 80 else text[:80] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_state(state: dict, path: str | os.PathLike, purpose: str | None = None) -> None:
    """Check every run-state field ``state`` has (and, for a ``purpose``, that it has them).

    Raises
    ------
    CheckpointError
        ``"<path>: <field> ..."``, one line, for the first missing or malformed field.
    """
    from diffview.training.config import ConfigError, TrainConfig

    if purpose is not None and purpose not in _NEEDS:
        raise ValueError(f"purpose must be one of {sorted(_NEEDS)} or None, got {purpose!r}")
    missing = [k for k in _NEEDS.get(purpose, ()) if k not in state]
    if missing:
        raise CheckpointError(
            f"{path}: not a complete diffview training checkpoint: "
            f"{', '.join(repr(k) for k in missing)} missing (needed to {purpose})")

    def bad(key: str, expected: str) -> CheckpointError:
        return CheckpointError(f"{path}: {key!r} must be {expected}, found {_short(state[key])}")

    config = state["config"]
    if not isinstance(config, dict):
        raise bad("config", "a dict of training options")
    try:
        TrainConfig.from_dict(config)
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its training options are not valid: "
                              f"{_first_line(exc)}") from None
    if "sample_shape" in state:
        shape = state["sample_shape"]
        if not (isinstance(shape, (list, tuple)) and len(shape) in (1, 3)
                and all(_is_int(d) and 0 < d <= 65536 for d in shape)):
            raise bad("sample_shape", "(C, H, W) or (d,) with dimensions in 1..65536")
    for key in ("model", "ema"):
        if key in state:
            weights = state[key]
            if not isinstance(weights, dict) or not all(
                    isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
                raise bad(key, "a state dict (parameter names -> tensors)")
    if "optimizer" in state:
        opt = state["optimizer"]
        if not (isinstance(opt, dict) and isinstance(opt.get("state"), dict)
                and isinstance(opt.get("param_groups"), list)
                and all(isinstance(g, dict) and isinstance(g.get("params"), list)
                        for g in opt["param_groups"])):
            raise bad("optimizer", "an optimizer state dict (state, param_groups)")
    if "step" in state and not (_is_int(state["step"]) and state["step"] >= 0):
        raise bad("step", "a non-negative integer")
    if "elapsed_s" in state and not (_is_real(state["elapsed_s"])
                                     and 0 <= state["elapsed_s"] < float("inf")):
        raise bad("elapsed_s", "a finite number of seconds >= 0")
    if "loss_avg" in state and not _is_real(state["loss_avg"]):
        raise bad("loss_avg", "a number")
    for key, kind in (("dataset", str), ("format", int), ("parameters", int)):
        if key in state and not isinstance(state[key], kind):
            raise bad(key, f"a {kind.__name__}")
    if "class_names" in state and not (isinstance(state["class_names"], (list, tuple))
                                       and all(isinstance(c, str) for c in state["class_names"])):
        raise bad("class_names", "a list of strings")
    if "numpy_rng" in state:
        import numpy as np

        try:
            np.random.PCG64().state = state["numpy_rng"]
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise CheckpointError(f"{path}: 'numpy_rng' is not a valid PCG64 generator state "
                                  f"({_first_line(exc)})") from None
    if "torch_gen" in state:
        try:
            torch.Generator().set_state(state["torch_gen"])
        except (TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: 'torch_gen' is not a valid torch generator state "
                                  f"({_first_line(exc)})") from None


_MISMATCH = re.compile(r"size mismatch for ([\w.]+): copying a param with shape "
                       r"torch\.Size\((\[[^\]]*\])\) from checkpoint, the shape in current "
                       r"model is torch\.Size\((\[[^\]]*\])\)")


def describe_load_error(exc: BaseException, path: str | os.PathLike, what: str) -> str:
    """One line for torch's multi-line ``load_state_dict`` error (size mismatches, missing and
    unexpected keys): the first problem and how many more there are."""
    text = str(exc)
    sizes = _MISMATCH.findall(text)
    missing = re.search(r"Missing key\(s\) in state_dict: (.*?)\.\s*$", text, re.M)
    unexpected = re.search(r"Unexpected key\(s\) in state_dict: (.*?)\.\s*$", text, re.M)
    problems = []
    if sizes:
        name, have, want = sizes[0]
        more = f" (and {len(sizes) - 1} more)" if len(sizes) > 1 else ""
        problems.append(f"size mismatch for {name}: checkpoint {have}, network {want}{more}")
    for label, found in (("missing", missing), ("unexpected", unexpected)):
        if found:
            keys = [k.strip().strip('"') for k in found.group(1).split(",") if k.strip()]
            more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
            problems.append(f"{len(keys)} {label} weight(s): {keys[0]}{more}")
    detail = "; ".join(problems) or _first_line(exc)
    return (f"{path}: the {what} weights do not fit the network its options describe: "
            f"{detail}; were other network options (--widths, --blocks, --hidden, --layers, "
            "--fourier, --no-attention) given than it was trained with?")


def load_weights(module: torch.nn.Module, weights: dict, path: str | os.PathLike,
                 what: str = "model") -> None:
    """``module.load_state_dict(weights)`` with a one-line :class:`CheckpointError`."""
    try:
        module.load_state_dict(weights)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(describe_load_error(exc, path, what)) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line if len(line) <= 200 else line[:200] + "..."
