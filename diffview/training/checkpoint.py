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


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, without running any code in it.

    The file is unpickled with ``torch.load(weights_only=True)``: a pickle that asks for any
    function or class outside torch's tensor allow-list (``eval``, ``os.system``, ...) is
    refused before anything is called. The decoded value must then consist only of
    :data:`_ALLOWED_TYPES`.

    Raises
    ------
    CheckpointError
        One line naming the file: missing, unreadable, refused (code or a foreign type), or
        not a diffview training checkpoint.
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
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not a diffview training checkpoint")
    return state


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line if len(line) <= 200 else line[:200] + "..."
