"""Every file diffview writes goes through here: atomic, durable, and one-line errors.

A write goes to a temporary file in the target's own folder (``.NAME.XXXXXX.tmp``), is flushed
and ``fsync``-ed, and is then renamed over the target with :func:`os.replace`, which is atomic
on POSIX and Windows. A reader therefore sees the previous complete file or the new complete
one, never a torn one: a full disk, a read-only folder, Ctrl-C or a crash half-way leaves the
old file exactly as it was and no temporary file behind (a killed process can leave one; the
training run folder cleans ``.*.tmp`` up on the next start).

Any :class:`OSError` on the way is raised as :class:`OutputError`, still an ``OSError`` (so
existing ``except OSError`` handlers keep working) whose message is one line naming the path
and the cause in words (:func:`describe_os_error`).

This module imports only the standard library (``os``, ``tempfile``, ``errno``, ``contextlib``)
at module level, so every layer, including the numpy-only core, may use it. ``save_npy`` and
``save_png`` import numpy / Pillow only when called.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "OutputError",
    "atomic_path",
    "atomic_write",
    "check_target",
    "check_writable",
    "describe_os_error",
    "save_bytes",
    "save_npy",
    "save_png",
    "save_text",
    "write_via",
]

_FILE_MODE = 0o644  # mkstemp makes 0600; a saved image or model is for everyone to read


class OutputError(OSError):
    """A file could not be written; ``str()`` is one line naming the path and the cause.

    Attributes
    ----------
    path : Path
        The file (or folder) that could not be written.
    errno : int or None
        The underlying error number (``errno.ENOSPC``, ``errno.EROFS``, ...).
    """

    def __init__(self, message: str, path: str | os.PathLike, code: int | None = None):
        super().__init__(code, message)
        self.path = Path(path)
        self.message = message

    def __str__(self) -> str:
        return self.message


_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (the folder or file is read-only for you)",
    errno.EPERM: "permission denied (the folder or file is read-only for you)",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EFBIG: "the file is too large for this file system",
    errno.EIO: "an input/output error (a failing disk or a disconnected drive?)",
    errno.ELOOP: "the path has a loop of symbolic links",
    errno.EBUSY: "the file is in use",
    errno.EXDEV: "the temporary file is on another file system",
}


def describe_os_error(exc: BaseException, path: str | os.PathLike | None = None) -> str:
    """One line saying which path could not be written and why, in words.

    Parameters
    ----------
    exc : the exception (an ``OSError`` gives the best message; others give their first line).
    path : the file the caller tried to write; default: the exception's own filename.

    Returns
    -------
    str, e.g. ``"cannot write /data/grid.png: the disk is full (ENOSPC)"``.
    """
    if isinstance(exc, OutputError):
        return exc.message
    target = path if path is not None else getattr(exc, "filename", None)
    where = f"cannot write {target}" if target is not None else "cannot write the file"
    code = getattr(exc, "errno", None)
    if code == errno.ENOENT:
        folder = Path(target).parent if target is not None else None
        cause = (f"the folder {folder} does not exist" if folder is not None
                 else "a folder on the path does not exist")
    elif code in _CAUSES:
        cause = _CAUSES[code]
    else:
        text = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).strip()
        cause = text.splitlines()[0] if text else type(exc).__name__
    name = errno.errorcode.get(code, "") if isinstance(code, int) else ""
    return f"{where}: {cause}" + (f" ({name})" if name else "")


def _fail(exc: BaseException, path: Path) -> OutputError:
    return OutputError(describe_os_error(exc, path), path, getattr(exc, "errno", None))


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise OutputError(describe_os_error(IsADirectoryError(errno.EISDIR, "", str(path)),
                                            path), path, errno.EISDIR)
    if not path.parent.is_dir():
        code = errno.ENOTDIR if path.parent.exists() else errno.ENOENT
        raise OutputError(describe_os_error(OSError(code, ""), path), path, code)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp", durable: bool = True,
                make_parents: bool = False, _sync_file: bool = True) -> Iterator[str]:
    """Yield the name of a temporary file beside ``path``; rename it over ``path`` on success.

    For writers that want a file name rather than a file object (Pillow with a ``format``,
    PyAV, Qt's ``QImage.save``, ``onnx.save``). When the block raises, the temporary file is
    removed and ``path`` is left untouched; the exception propagates (an ``OSError`` as
    :class:`OutputError`).

    Parameters
    ----------
    path : the target file.
    suffix : ending of the temporary name (writers that guess the format from it need the
        real one, e.g. ``".gif.part"``); the default ``.tmp`` is what the run-folder clean-up
        removes after a crash.
    durable : fsync the file and its folder (False for throw-away files such as previews).
    make_parents : create missing parent folders first.
    """
    path = Path(path)
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        _check_target(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        os.close(fd)
    except OutputError:
        raise
    except OSError as exc:
        raise _fail(exc, path) from None
    try:
        yield tmp
        if durable and _sync_file:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        _finish(tmp, path, durable)
    except OSError as exc:
        _discard(tmp)
        raise _fail(exc, path) from None
    except BaseException:
        _discard(tmp)
        raise


def _finish(tmp: str, path: Path, durable: bool) -> None:
    try:
        mode = path.stat().st_mode & 0o777 if path.is_file() else _FILE_MODE
    except OSError:
        mode = _FILE_MODE
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    if durable:
        _fsync_folder(path.parent)


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                 durable: bool = True, make_parents: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success fsync and rename it.

    Parameters
    ----------
    path : the target file.
    mode : ``"wb"`` (default) or ``"w"`` (text; ``encoding`` defaults to UTF-8).
    durable, make_parents : see :func:`atomic_path`.

    Raises
    ------
    OutputError
        For any ``OSError`` (disk full, read-only, a folder in the way, a missing folder);
        the old file, if any, is unchanged and no temporary file is left.
    ValueError
        For a mode other than ``"w"`` / ``"wb"``.

    Examples
    --------
    >>> with atomic_write("grid.png") as fh:  # doctest: +SKIP
    ...     image.save(fh, format="PNG")
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes whole files: mode must be 'w' or 'wb', not {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path, durable=durable, make_parents=make_parents, _sync_file=False) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())


def save_bytes(path: str | os.PathLike, data: bytes, durable: bool = True,
               make_parents: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path, "wb", durable=durable, make_parents=make_parents) as fh:
        fh.write(data)
    return Path(path)


def save_text(path: str | os.PathLike, text: str, encoding: str = "utf-8",
              durable: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_write(path, "w", encoding=encoding, durable=durable) as fh:
        fh.write(text)
    return Path(path)


def save_npy(path: str | os.PathLike, array: Any, durable: bool = True,
             make_parents: bool = False) -> Path:
    """Write ``array`` as a ``.npy`` file (``numpy.save`` to the temporary file, no pickles).

    Unlike ``numpy.save(name)``, the name is used exactly as given (no ``.npy`` appended).
    """
    import numpy as np

    with atomic_write(path, "wb", durable=durable, make_parents=make_parents) as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)
    return Path(path)


def save_png(path: str | os.PathLike, image: Any, durable: bool = True) -> Path:
    """Write an image as PNG: a Pillow image, or a uint8 array ``(H, W)`` / ``(H, W, 3|4)``."""
    if not hasattr(image, "save"):
        from PIL import Image

        image = Image.fromarray(image)
    with atomic_write(path, "wb", durable=durable) as fh:
        image.save(fh, format="PNG")
    return Path(path)


def write_via(path: str | os.PathLike, write: Callable[[str], Any], suffix: str = ".tmp") -> bool:
    """Call ``write(temporary_name)`` and rename the result over ``path``.

    For writers that report failure by returning False (Qt's ``QPixmap.save``): returns False
    (and leaves ``path`` untouched) when ``write`` returns False or any ``OSError`` occurs,
    True when the file is in place.
    """
    try:
        with atomic_path(path, suffix=suffix) as tmp:
            if write(tmp) is False:
                raise _WriterRefused
    except (_WriterRefused, OSError):
        return False
    return True


class _WriterRefused(Exception):
    pass


def check_writable(folder: str | os.PathLike, create: bool = False) -> Path:
    """Check that files can be created in ``folder``: create and delete a probe file.

    Parameters
    ----------
    folder : the output folder.
    create : make the folder (and its parents) first if it does not exist.

    Raises
    ------
    OutputError
        One line naming the folder and the cause (missing, read-only, not a folder, full).
    """
    folder = Path(folder)
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            code = errno.ENOTDIR if folder.exists() else errno.ENOENT
            what = "is not a folder" if folder.exists() else "does not exist"
            raise OutputError(f"cannot write to {folder}: the folder {what}", folder, code)
        fd, probe = tempfile.mkstemp(prefix=".diffview-write-probe.", suffix=".tmp", dir=folder)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OutputError:
        raise
    except OSError as exc:
        message = describe_os_error(exc, folder).replace("cannot write ", "cannot write to ", 1)
        raise OutputError(message, folder, exc.errno) from None
    return folder


def check_target(path: str | os.PathLike) -> Path:
    """Check, before any work, that ``path`` can be written: not a folder, in an existing
    folder where files can be created (:func:`check_writable`).

    Raises
    ------
    OutputError
        One line naming the path and the cause.
    """
    path = Path(path)
    _check_target(path)
    try:
        check_writable(path.parent)
    except OutputError as exc:
        raise OutputError(f"cannot write {path}: {exc.message.split(': ', 1)[-1]}", path,
                          exc.errno) from None
    return path
