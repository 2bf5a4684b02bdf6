"""A status line that never changes its own height."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

__all__ = ["InfoLabel"]


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
