"""A status line that never changes its own height."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from diffview.gui.jobs import format_eta

__all__ = ["LONG_RUN_S", "InfoLabel", "long_run_note"]

LONG_RUN_S = 10.0  # runs expected to take longer than this say so once their ETA is known


def long_run_note(jobs, name: str) -> str:
    """"This run takes about 0:45 more." when job ``name`` of the manager ``jobs`` has an ETA
    over :data:`LONG_RUN_S`, else ""."""
    eta = next((s.eta_s for s in jobs.running() if s.name == name), None)
    if eta is None or eta <= LONG_RUN_S:
        return ""
    return f"This run takes about {format_eta(eta).removeprefix('ETA ')} more."


class InfoLabel(QLabel):
    """A word-wrapped line of status text whose height is fixed at two lines.

    A wrapping label whose text grows by a line re-lays out the whole panel, and every plot in
    it repaints: at the end of a sampling run that cost ~35 ms of a ~90 ms event-loop stall.
    The full text is also the tooltip, for when two lines are not enough. It reports no
    height-for-width: a wrapping label that does makes its whole layout height-for-width, and a
    dock's scroll area then sizes the panel to its preferred height instead of the dock's, so
    the bottom of the panel (this line first) ends up below the visible area.
    """

    LINES = 2

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setFixedHeight(self.LINES * self.fontMetrics().lineSpacing() + 4)
        self.setText(text)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return False

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text)
