"""The main window's docks: one per panel, the default arrangement, persistence and reset.

:class:`DockLayout` needs a ``QMainWindow``, the context (for QSettings and to build panels as
``cls(context, window)``) and a status callback; it owns ``panels`` and ``docks`` (by panel
name) and emits ``panel_added`` when a panel deferred to after the first show is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QByteArray, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QFrame, QLabel, QMainWindow, QScrollArea, QWidget

__all__ = ["LAYOUT_VERSION", "DockLayout"]

log = logging.getLogger(__name__)

LAYOUT_VERSION = 2  # bump when the default dock arrangement changes
LEFT = ("forward", "sde2d", "randomwalk")
RIGHT = ("sampling", "grid")


class DockLayout(QObject):
    """Docks of the panels in ``window``.

    Signals
    -------
    panel_added(str, object)
        Name and panel, when a deferred panel has been built.
    """

    panel_added = Signal(str, object)

    def __init__(self, window: QMainWindow, context, show_status: Callable[[str], None]):
        super().__init__(window)
        self.window = window
        self.context = context
        self.show_status = show_status
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self._deferred: list[tuple[type, QScrollArea]] = []
        self._default_state = QByteArray()
        self.closed = False

    def build(self, classes, defer: tuple[str, ...] = ()) -> None:
        """One dock per panel class; panels named in ``defer`` are built after the first show,
        one per turn of the event loop (their docks, the View menu and the tabs exist at once).
        """
        for cls in classes:
            name = cls.panel_name
            panel = None
            if name not in defer:
                try:
                    panel = cls(self.context, self.window)
                except Exception:  # noqa: BLE001 - show the others
                    log.exception("panel %s failed to start", cls.__name__)
                    continue
            dock = QDockWidget(cls.title, self.window)
            dock.setObjectName(f"dock_{name}")
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable)
            # A scroll area lets a dock shrink below its panel's minimum (small screens,
            # many docks side by side) without the window growing past the screen.
            scroll = QScrollArea()
            scroll.setObjectName(f"scroll_{name}")
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            if panel is None:
                self._deferred.append((cls, scroll))
            else:
                scroll.setWidget(panel)
                self.panels[name] = panel
            dock.setWidget(scroll)
            self.docks[name] = dock
        self._arrange_default()
        if self._deferred:
            QTimer.singleShot(0, self._build_next_deferred)

    def _build_next_deferred(self) -> None:
        if self.closed or not self._deferred:
            return
        cls, scroll = self._deferred.pop(0)
        try:
            panel = cls(self.context, self.window)
        except Exception as exc:  # noqa: BLE001 - the other panels keep working
            log.exception("panel %s failed to start", cls.__name__)
            scroll.setWidget(QLabel(f"This panel failed to start: {exc}"))
        else:
            scroll.setWidget(panel)
            self.panels[cls.panel_name] = panel
            self.panel_added.emit(cls.panel_name, panel)
        if self._deferred:
            QTimer.singleShot(0, self._build_next_deferred)

    def deferred_pending(self) -> bool:
        """Whether deferred panels are still to be built."""
        return bool(self._deferred)

    def _arrange_default(self) -> None:
        """Left: forward (tabbed with 2-D and 1-D physics); right: sampling (tabbed with grid
        and the rest).

        The arrangement is built in a hidden scratch window and applied with restoreState:
        tabifying docks of a window that has never been shown leaves a stray, visible QTabBar
        behind (seen with Qt 6.11), while restoreState does not.
        """
        for dock in self.docks.values():
            self.window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self._default_state = self._default_layout_state()
        self.window.restoreState(self._default_state, LAYOUT_VERSION)

    def _default_layout_state(self) -> QByteArray:
        scratch = QMainWindow()
        scratch.setDockOptions(self.window.dockOptions())
        scratch.resize(1280, 800)
        docks = {}
        for name in self.docks:
            dock = QDockWidget(scratch)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(QWidget())
            docks[name] = dock
        left = [n for n in LEFT if n in docks]
        right = [n for n in RIGHT if n in docks]
        others = [n for n in docks if n not in left + right]
        for group, area in ((left, Qt.DockWidgetArea.LeftDockWidgetArea),
                            (right + others, Qt.DockWidgetArea.RightDockWidgetArea)):
            for name in group:
                if name == group[0]:
                    scratch.addDockWidget(area, docks[name])
                else:
                    scratch.tabifyDockWidget(docks[group[0]], docks[name])
            if group:
                docks[group[0]].raise_()
        if left and right:
            scratch.resizeDocks([docks[left[0]], docks[right[0]]], [1, 1],
                                Qt.Orientation.Horizontal)
        state = scratch.saveState(LAYOUT_VERSION)
        scratch.deleteLater()
        return state

    def raise_panel(self, name: str) -> None:
        dock = self.docks.get(name)
        if dock is not None:
            dock.show()
            dock.raise_()

    def save(self) -> None:
        s = self.context.settings
        s.setValue("window/geometry", self.window.saveGeometry())
        s.setValue("window/state", self.window.saveState(LAYOUT_VERSION))
        s.sync()

    def restore(self) -> bool:
        s = self.context.settings
        geometry = s.value("window/geometry")
        state = s.value("window/state")
        ok = False
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.window.restoreGeometry(geometry)
        if isinstance(state, QByteArray) and not state.isEmpty():
            ok = self.window.restoreState(state, LAYOUT_VERSION)
        return ok

    def reset(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
        self.window.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()
        self.show_status("Layout reset")
