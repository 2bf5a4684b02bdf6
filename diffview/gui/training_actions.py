"""Transitional: ``TORCH_MISSING`` lives in :mod:`diffview.training`; this module goes once
``gui/panels/sde2d/network_box.py`` imports it from there."""

from diffview.training import TORCH_MISSING

__all__ = ["TORCH_MISSING"]
