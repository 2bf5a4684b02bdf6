"""Headless pipelines: a frozen spec -> a generator of typed frames -> a typed result.

The GUI, the command line and the evaluation all start runs from here, so the same spec and seed
give the same result everywhere. No Qt, no torch (an import-linter contract and
``tests/test_import_contracts.py`` keep it so). See :mod:`diffview.runs.base` for the
conventions.
"""

from diffview.runs.base import Cancelled, CancelToken, Progress, cancellable, check, run_to_end

__all__ = ["CancelToken", "Cancelled", "Progress", "cancellable", "check", "run_to_end"]
