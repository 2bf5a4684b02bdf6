"""Choosing an onnxruntime execution provider and creating sessions that report the truth.

``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` as available even on a machine without
CUDA; a session asked for it then silently falls back to CPU after printing two error lines.
Only ``session.get_providers()`` tells which provider is really in use, so that is what we
report. onnxruntime is imported inside the functions to keep ``import diffview.engine`` cheap.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

__all__ = [
    "DEVICES",
    "available_providers",
    "check_session_args",
    "create_session",
    "provider_label",
    "requested_providers",
]

DEVICES = ("auto", "cpu", "cuda")
_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"
# onnxruntime's default logger severity (2 = warning); restored after a session is created.
_DEFAULT_SEVERITY = 2
_SESSION_LOCK = threading.Lock()


def available_providers() -> list[str]:
    """Execution providers that this onnxruntime build lists (not necessarily usable)."""
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def provider_label(provider: str) -> str:
    """Short name of an onnxruntime provider: ``"CUDAExecutionProvider"`` -> ``"CUDA"``."""
    return provider.removesuffix("ExecutionProvider") or provider


def requested_providers(device: str) -> list[str]:
    """The provider list to ask onnxruntime for, given ``device`` in :data:`DEVICES`.

    ``"cpu"`` asks for the CPU only. ``"auto"`` and ``"cuda"`` ask for CUDA first when
    onnxruntime lists it, with the CPU as the fallback.

    Raises
    ------
    ValueError
        If ``device`` is not one of :data:`DEVICES`.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {list(DEVICES)}, found {device!r}")
    if device == "cpu":
        return [_CPU]
    if _CUDA in available_providers():
        return [_CUDA, _CPU]
    return [_CPU]


def check_session_args(device: str, threads: int | None) -> None:
    """Raise ``ValueError`` unless ``device`` is in :data:`DEVICES` and ``threads`` is None or
    a positive int."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {list(DEVICES)}, found {device!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, found {threads!r}")


def create_session(
    path: str | Path, device: str = "auto", threads: int | None = None
) -> tuple[Any, str, str]:
    """Create an ``onnxruntime.InferenceSession`` on the requested device.

    Parameters
    ----------
    path : str or Path
        The ONNX file (read by onnxruntime itself, so external data files next to it work).
    device : {"auto", "cpu", "cuda"}
        ``"cuda"`` that cannot be honoured falls back to the CPU with a note; it never raises.
    threads : int, optional
        ``intra_op_num_threads``; onnxruntime picks when None.

    Returns
    -------
    session : onnxruntime.InferenceSession
    provider : str
        The provider actually in use, short form: ``"CUDA"``, ``"CPU"``, ...
    note : str
        Empty, or a sentence explaining why the requested device is not the one in use.

    Raises
    ------
    ValueError
        For a bad ``device`` or ``threads``.
    Exception
        Whatever onnxruntime raises for a model it refuses (the caller words it).
    """
    import onnxruntime

    check_session_args(device, threads)
    wanted = requested_providers(device)
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    # A failed CUDA initialisation is logged as errors on stderr before the silent fallback;
    # we report the fallback ourselves, so hide those lines while the session is built
    # (severity 4 = fatal only; a model that fails to load still raises an exception).
    with _SESSION_LOCK:
        onnxruntime.set_default_logger_severity(4)
        try:
            session = onnxruntime.InferenceSession(str(path), options, providers=wanted)
        finally:
            onnxruntime.set_default_logger_severity(_DEFAULT_SEVERITY)
    in_use = session.get_providers()
    provider = provider_label(in_use[0]) if in_use else "CPU"
    note = ""
    if device == "cuda" and provider != "CUDA":
        if _CUDA in wanted:
            note = ("CUDA was requested but could not be initialised (CUDA or cuDNN libraries "
                    f"missing or no GPU); running on {provider}")
        else:
            note = (f"CUDA was requested but this onnxruntime build does not offer it "
                    f"(available: {', '.join(available_providers())}); running on {provider}")
    elif device == "auto" and _CUDA in wanted and provider != "CUDA":
        note = f"CUDA is listed by onnxruntime but could not be initialised; running on {provider}"
    return session, provider, note
