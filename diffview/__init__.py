"""diffview: see and play with diffusion models."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("diffview")
except _metadata.PackageNotFoundError:  # running from a source tree or a frozen build
    __version__ = "0.1.0"
