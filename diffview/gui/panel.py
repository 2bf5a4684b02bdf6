"""The :class:`Panel` protocol: everything the main window may call on a panel.

A panel is three things composed by ownership (no mixins):

- a **state** object: a Qt-free dataclass holding what the panel shows, which is what a session
  saves; ``to_dict()`` gives plain JSON, ``from_dict(d)`` validates the whole dict and raises
  ``ValueError`` (one line naming the field) before anything changes;
- a **view**: the QWidget that renders the state and turns user input into state changes and
  :class:`~diffview.gui.jobs.Job` s for ``context.jobs``;
- small **services** the view owns (overlays, a learned network, drawing, ...).

The window builds a panel as ``cls(context)`` and talks to it only through this protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

__all__ = ["AnimationSource", "Panel"]

AnimationSource = Callable[[], Iterator[np.ndarray]]
"""A function that returns the frames of an animation, each a model-range float image
(C, H, W) in [-1, 1] or a uint8 RGB array (H, W, 3); it runs on the export worker."""


@runtime_checkable
class Panel(Protocol):
    """What :class:`~diffview.gui.main_window.MainWindow` may call on a panel.

    Attributes
    ----------
    panel_name : str
        Key of the panel in sessions, ``--panel`` and the layout ("forward", "sampling", ...).
    title : str
        The dock's title.
    """

    panel_name: ClassVar[str]
    title: ClassVar[str]

    def state_dict(self) -> dict[str, Any]:
        """The panel's state as plain JSON (what a session file stores)."""
        ...

    def load_state(self, data: dict[str, Any]) -> None:
        """Validate ``data`` whole and apply it; raise ``ValueError`` with one line naming the
        problem, changing nothing, when any part is wrong."""
        ...

    def is_busy(self) -> bool:
        """Whether the panel's jobs are still running."""
        ...

    def shutdown(self) -> None:
        """Stop the panel's work before the window closes; idempotent."""
        ...

    def animation_source(self) -> AnimationSource | None:
        """Frames of what the panel can export as an animation, or None with
        :meth:`animation_hint` saying what to do first."""
        ...

    def animation_hint(self) -> str:
        """Why there is nothing to animate yet, in one sentence ("Run the sampler first.")."""
        ...

    def demo_state(self) -> None:
        """Put the panel in a state worth a screenshot (``--screenshot``)."""
        ...
