"""Checking decoded input (session files, settings, JSON from outside) before anything changes.

No Qt, no numpy: functions over plain decoded JSON values, for the Qt-free panel state objects
that parse a session. Every check raises :class:`ValidationError`, a ``ValueError`` whose
message is one line that starts with the dotted path of the value, says what was expected and
quotes what was found by at most a short prefix::

    panels.sampling.frame: expected an integer in 0..10000, found 1e+20

A state object parses a whole session with these, collecting nothing until every value is
good, so a bad file is rejected whole, with one message, before any panel changes.

- :func:`load_json_limited` reads a JSON file with a size and a nesting-depth limit (deep
  nesting is refused by a scan before decoding, so it never reaches a ``RecursionError``);
  ``NaN`` and ``Infinity`` are refused (they are not JSON).
- :func:`expect_int`, :func:`expect_float`, :func:`expect_bool`, :func:`expect_str`,
  :func:`expect_choice`, :func:`expect_list`, :func:`expect_dict`, :func:`expect_keys` and
  :func:`optional` check one value each.
- :func:`check_budget` is the memory-estimate convention: work that a session (or any input)
  triggers estimates the bytes it will allocate and calls ``check_budget(nbytes, what)``
  before it starts; over the budget (default: half the memory available now) it raises a
  ``ValueError`` saying how much was asked for and how much there is.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "BudgetError",
    "ValidationError",
    "available_memory",
    "check_budget",
    "expect_bool",
    "expect_choice",
    "expect_dict",
    "expect_float",
    "expect_int",
    "expect_keys",
    "expect_list",
    "expect_str",
    "json_depth",
    "load_json_limited",
    "memory_budget",
    "optional",
    "short_repr",
]

T = TypeVar("T")

QUOTE_CHARS = 80
DEFAULT_MAX_BYTES = 16 * 2**20  # a session is a few kB; 16 MiB is far beyond any real one
DEFAULT_MAX_DEPTH = 32  # sessions nest panels.<name>.<setting>[...]: 32 levels is generous
MEMORY_SHARE = 0.5  # check_budget's default: half of what is available


class ValidationError(ValueError):
    """A decoded value is not what was expected; ``str()`` is one line starting with its path.

    Attributes
    ----------
    where : str
        The dotted path of the value (``"panels.sampling.frame"``), or the file name.
    """

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class BudgetError(ValueError):
    """An estimated allocation is larger than the memory budget."""


def short_repr(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of a decoded JSON value, at most ``limit`` characters plus ``"..."``.

    Containers are summarised by their first items, so a huge or deeply nested value costs
    nothing to quote.
    """
    text = _repr(value, limit, 3)
    return text if len(text) <= limit else text[:limit] + "..."


def _repr(value: Any, limit: int, depth: int) -> str:
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (int, str)):
        text = repr(value) if isinstance(value, str) else str(value)
        return text[: limit + 1]
    if isinstance(value, (list, tuple)):
        if depth == 0:
            return "[...]"
        parts = [_repr(v, limit, depth - 1) for v in value[:8]]
        return "[" + ", ".join(parts) + (", ..." if len(value) > 8 else "") + "]"
    if isinstance(value, Mapping):
        if depth == 0:
            return "{...}"
        items = list(value.items())[:8]
        parts = [f"{_repr(k, limit, 0)}: {_repr(v, limit, depth - 1)}" for k, v in items]
        return "{" + ", ".join(parts) + (", ..." if len(value) > 8 else "") + "}"
    return f"<{type(value).__name__}>"


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return {int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), f"a {type(value).__name__}")


def _found(value: Any) -> str:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return f"found {short_repr(value)}"
    return f"found {_type_name(value)} {short_repr(value)}"


# ------------------------------------------------------------------------------ scalars


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f" >= {lo}"
    if lo is None:
        return f" <= {hi}"
    return f" in {lo}..{hi}"


def expect_int(value: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer in ``lo..hi`` (inclusive; None: unbounded). A float with an integral value
    (``3.0``, as some JSON writers produce) is accepted; ``true``/``false`` are not.

    Raises
    ------
    ValidationError
    """
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() \
            and abs(value) < 2**53:
        value = int(value)
    rng = _range_text(lo, hi)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(where, f"expected an integer{rng}, {_found(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValidationError(where, f"expected an integer{rng}, {_found(value)}")
    return value


def expect_float(value: Any, where: str, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite number in ``[lo, hi]`` (``lo_open``/``hi_open`` exclude the ends)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)
    if ok:
        v = float(value)
        ok = not ((lo is not None and (v < lo or (lo_open and v == lo)))
                  or (hi is not None and (v > hi or (hi_open and v == hi))))
    if not ok:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        rng = "" if lo is None and hi is None else (
            f" in {left}{'-inf' if lo is None else f'{lo:g}'}, "
            f"{'inf' if hi is None else f'{hi:g}'}{right}")
        raise ValidationError(where, f"expected a finite number{rng}, {_found(value)}")
    return float(value)


def expect_bool(value: Any, where: str) -> bool:
    """``true`` or ``false`` (not 0/1, not "yes")."""
    if not isinstance(value, bool):
        raise ValidationError(where, f"expected true or false, {_found(value)}")
    return value


def expect_str(value: Any, where: str, max_len: int = 10_000, allow_empty: bool = True,
               pattern: str | None = None) -> str:
    """A string of at most ``max_len`` characters, optionally matching ``pattern`` fully."""
    if not isinstance(value, str):
        raise ValidationError(where, f"expected a string, {_found(value)}")
    if len(value) > max_len:
        raise ValidationError(where, f"expected at most {max_len:,} characters, found "
                                     f"{len(value):,} ({short_repr(value)})")
    if not allow_empty and not value:
        raise ValidationError(where, "expected a non-empty string, found \"\"")
    if pattern is not None and re.fullmatch(pattern, value) is None:
        raise ValidationError(where, f"expected text matching {pattern}, found "
                                     f"{short_repr(value)}")
    return value


def expect_choice(value: Any, where: str, choices: Iterable[T]) -> T:
    """One of ``choices`` (compared with ``==``; booleans never match numbers)."""
    options = list(choices)
    for option in options:
        if value == option and isinstance(value, bool) == isinstance(option, bool):
            return option
    listed = ", ".join(short_repr(o, 30) for o in options[:12])
    more = ", ..." if len(options) > 12 else ""
    raise ValidationError(where, f"expected one of {listed}{more}; {_found(value)}")


# --------------------------------------------------------------------------- containers


def expect_list(value: Any, where: str, item: Callable[[Any, str], T] | None = None,
                min_len: int = 0, max_len: int = 100_000) -> list:
    """A list of ``min_len..max_len`` items, each checked by ``item(value, "where[i]")``."""
    if not isinstance(value, list):
        raise ValidationError(where, f"expected a list, {_found(value)}")
    if not min_len <= len(value) <= max_len:
        raise ValidationError(where, f"expected {min_len}..{max_len:,} items, found "
                                     f"{len(value):,}")
    if item is None:
        return list(value)
    return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]


def expect_dict(value: Any, where: str, max_len: int = 10_000) -> dict:
    """An object (dict with string keys) of at most ``max_len`` entries."""
    if not isinstance(value, dict):
        raise ValidationError(where, f"expected an object, {_found(value)}")
    if len(value) > max_len:
        raise ValidationError(where, f"expected at most {max_len:,} entries, found "
                                     f"{len(value):,}")
    for key in value:
        if not isinstance(key, str):
            raise ValidationError(where, f"expected string keys, found {short_repr(key)}")
    return value


def expect_keys(value: Any, where: str, required: Iterable[str] = (),
                allowed: Iterable[str] | None = None) -> dict:
    """An object with every ``required`` key and, if ``allowed`` is given, no other key."""
    obj = expect_dict(value, where)
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValidationError(where, "missing " + ", ".join(f'"{k}"' for k in missing))
    if allowed is not None:
        known = set(allowed) | set(required)
        unknown = sorted(k for k in obj if k not in known)
        if unknown:
            names = ", ".join(f'"{short_repr(k, 30)[1:-1]}"' for k in unknown[:5])
            raise ValidationError(where, f"unknown key(s) {names}"
                                         + (f" and {len(unknown) - 5} more"
                                            if len(unknown) > 5 else ""))
    return obj


def optional(obj: Mapping, key: str, where: str, check: Callable[..., T], default: T,
             *args: Any, **kwargs: Any) -> T:
    """``check(obj[key], "where.key", *args)`` if the key is present (and not null), else
    ``default``: the usual shape of an optional session setting."""
    if key not in obj or obj[key] is None:
        return default
    return check(obj[key], f"{where}.{key}" if where else key, *args, **kwargs)


# ---------------------------------------------------------------------------------- JSON


def json_depth(text: str) -> int:
    """The deepest nesting of ``[`` / ``{`` in JSON ``text`` (strings are skipped); linear time,
    no recursion, so it is safe on any input."""
    depth = best = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = match.group()
        if token in "[{":
            depth += 1
            best = max(best, depth)
        elif token in "]}":
            depth -= 1
    return best


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (use a finite number or null)")


def load_json_limited(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES,
                      max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Read and decode a JSON file that came from outside, within a size and a depth limit.

    Parameters
    ----------
    path : the file.
    max_bytes : refuse files larger than this (checked before reading).
    max_depth : refuse nesting deeper than this (checked by :func:`json_depth` before
        decoding, so a file of 100,000 ``[`` is refused, not a ``RecursionError``).

    Returns
    -------
    The decoded value (dict, list, str, int, float, bool or None).

    Raises
    ------
    ValidationError
        One line starting with the file name: missing, unreadable, too large, not UTF-8, too
        deep, not JSON (with the line and column), or ``NaN`` / ``Infinity``.
    """
    path = Path(path)
    where = str(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ValidationError(where, "is a folder, expected a JSON file")
        if size > max_bytes:
            raise ValidationError(where, f"{size:,} bytes, more than the {max_bytes:,} allowed")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValidationError(where, "file not found") from None
    except OSError as exc:
        raise ValidationError(where, f"cannot be read ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:  # grew since stat()
        raise ValidationError(where, f"more than the {max_bytes:,} bytes allowed")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(where, f"not UTF-8 text (byte {exc.start})") from None
    depth = json_depth(text)
    if depth > max_depth:
        raise ValidationError(where, f"nested {depth:,} levels deep, more than the "
                                     f"{max_depth} allowed")
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ValidationError(where, f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                                     f"column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise ValidationError(where, str(exc).splitlines()[0][:200]) from None


# -------------------------------------------------------------------------------- memory


def available_memory() -> int | None:
    """Bytes available to new allocations now: ``MemAvailable`` from ``/proc/meminfo``, else
    the free physical pages (``os.sysconf``), else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def memory_budget(share: float = MEMORY_SHARE) -> int | None:
    """``share`` of :func:`available_memory` in bytes, None when unknown."""
    free = available_memory()
    return None if free is None else int(share * free)


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_budget(nbytes: float, what: str, budget: float | None = None) -> None:
    """Refuse work whose estimated allocation ``nbytes`` is over the memory budget.

    Parameters
    ----------
    nbytes : the estimate (bytes), e.g. ``n_particles * n_steps * 2 * 8`` for a 2-D
        trajectory kept in float64.
    what : what the work is, for the message ("a random walk of 100,000 walkers x 5,000
        steps").
    budget : bytes allowed; default half of the memory available now (no check when that is
        unknown).

    Raises
    ------
    BudgetError
        A ``ValueError``: "<what> needs about 18.6 GiB, more than the 11.2 GiB budget (half of
        the 22.4 GiB available); ask for less".
    """
    if not (isinstance(nbytes, (int, float)) and not isinstance(nbytes, bool)):
        raise TypeError(f"nbytes must be a number, got {type(nbytes).__name__}")
    if budget is None:
        free = available_memory()
        if free is None:
            return
        budget = MEMORY_SHARE * free
        whence = f" (half of the {_gib(free)} available)"
    else:
        whence = ""
    if not math.isfinite(nbytes) or nbytes > budget:
        need = "an unbounded amount" if not math.isfinite(nbytes) else f"about {_gib(nbytes)}"
        raise BudgetError(f"{what} needs {need} of memory, more than the {_gib(budget)} "
                          f"budget{whence}; ask for less")
