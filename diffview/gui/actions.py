"""The action registry: every menu entry and toolbar button, registered by the feature that owns it.

A feature describes an action once with an :class:`ActionSpec` and registers it::

    window.actions.register(ActionSpec("train", "&Train…", menu="Run", shortcut="Ctrl+T",
                                       tooltip="Train a new model", handler=self.ask_train,
                                       group=30))

The registry makes the ``QAction`` at once (``registry.action("train")``) and puts it into its
menu, ordered by ``group`` (a separator between groups) and then by registration; an action
registered later is inserted in place. Menus are known by their id ("File",
"Run", "View", "Help", or "File/Export animation" for a submenu), never by their visible text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QStyle, QToolBar

__all__ = ["MENUS", "ActionRegistry", "ActionSpec"]

MENUS = (("File", "&File"), ("Run", "&Run"), ("View", "&View"), ("Models", "&Models"),
         ("Help", "&Help"))
"""The menu bar's menus in order: (id, text)."""
SUBMENUS = {"File/Export animation": "Export &animation", "View/Theme": "&Theme"}


@dataclass(frozen=True)
class ActionSpec:
    """One action.

    Attributes
    ----------
    id : str
        Unique key (``registry.action(id)``; the QAction's objectName is ``act_<id>``).
    text : str
        Menu text with its ``&`` mnemonic.
    menu : str
        Menu id (:data:`MENUS`, or a submenu such as ``"File/Export animation"``); "" for none.
    shortcut : str or QKeySequence.StandardKey, optional
    tooltip : str
        Tool tip and status tip.
    handler : callable
        Called with no arguments when triggered (with the checked state when ``checkable``).
    group : int
        Position in the menu: lower groups first, a separator between groups.
    toolbar : bool
        Also on the main toolbar (in registration order).
    checkable, checked : bool
    icon : QStyle.StandardPixmap, optional
    menu_role : QAction.MenuRole, optional
        e.g. ``PreferencesRole`` (macOS moves the action to the application menu).
    """

    id: str
    text: str
    menu: str = ""
    shortcut: str | QKeySequence.StandardKey | None = None
    tooltip: str = ""
    handler: Callable | None = None
    group: int = 0
    toolbar: bool = False
    checkable: bool = False
    checked: bool = False
    icon: QStyle.StandardPixmap | None = None
    menu_role: QAction.MenuRole | None = None


class ActionRegistry:
    """The window's actions, its menus and its toolbar, built from :class:`ActionSpec` s."""

    def __init__(self, window: QMainWindow):
        self.window = window
        self._specs: dict[str, ActionSpec] = {}
        self._actions: dict[str, QAction] = {}
        self._menus: dict[str, QMenu] = {}
        self._sub_groups: dict[str, int] = {}
        self._pos: dict[str, int] = {}  # registration order of actions and submenus
        bar = window.menuBar()
        for menu_id, text in MENUS:
            menu = bar.addMenu(text)
            menu.setObjectName(f"menu_{menu_id.lower()}")
            self._menus[menu_id] = menu
        self.toolbar = QToolBar("Main toolbar", window)
        self.toolbar.setObjectName("main_toolbar")
        self.toolbar.setMovable(False)
        window.addToolBar(self.toolbar)

    # ---- registering -----------------------------------------------------------------------

    def register(self, spec: ActionSpec) -> QAction:
        """Make ``spec``'s QAction and put it in its menu (and the toolbar); returns it."""
        if spec.id in self._specs:
            raise ValueError(f"action {spec.id!r} is registered already")
        act = QAction(spec.text, self.window)
        act.setObjectName(f"act_{spec.id}")
        if spec.shortcut is not None:
            act.setShortcut(QKeySequence(spec.shortcut))
        if spec.tooltip:
            act.setToolTip(spec.tooltip)
            act.setStatusTip(spec.tooltip)
        act.setCheckable(spec.checkable)
        if spec.checkable:
            act.setChecked(spec.checked)
        if spec.icon is not None:
            act.setIcon(self.window.style().standardIcon(spec.icon))
        if spec.menu_role is not None:
            act.setMenuRole(spec.menu_role)
        if spec.handler is not None:
            handler = spec.handler
            if spec.checkable:
                act.triggered.connect(handler)
            else:
                act.triggered.connect(lambda _checked=False: handler())
        self._specs[spec.id] = spec
        self._actions[spec.id] = act
        self._pos[spec.id] = len(self._pos)
        if spec.menu:
            self._insert(spec, act)
        if spec.toolbar:
            self.toolbar.addAction(act)
        return act

    def add_existing(self, spec: ActionSpec, act: QAction) -> QAction:
        """Put an action made elsewhere (a dock's toggle action) into ``spec.menu``."""
        if spec.id in self._specs:
            raise ValueError(f"action {spec.id!r} is registered already")
        if not act.objectName():
            act.setObjectName(f"act_{spec.id}")
        self._specs[spec.id] = spec
        self._actions[spec.id] = act
        self._pos[spec.id] = len(self._pos)
        if spec.menu:
            self._insert(spec, act)
        return act

    def action(self, action_id: str) -> QAction:
        """The QAction of ``action_id`` (KeyError when not registered)."""
        return self._actions[action_id]

    def ids(self, menu: str | None = None) -> list[str]:
        """Registered ids, all or those of ``menu``, in menu order."""
        ids = [i for i, s in self._specs.items() if menu is None or s.menu == menu]
        return sorted(ids, key=lambda i: self._specs[i].group) if menu is not None else ids

    def add_submenu(self, menu_id: str, group: int = 0) -> QMenu:
        """Make submenu ``menu_id`` ("File/Export animation") in group ``group`` of its
        parent; its actions name it as their ``menu``."""
        parent_id, _, name = menu_id.rpartition("/")
        if parent_id not in self._menus:
            raise KeyError(f"no menu {parent_id!r}")
        if menu_id not in self._menus:
            menu = QMenu(SUBMENUS.get(menu_id, name), self.window)
            menu.setObjectName("menu_" + menu_id.lower().replace("/", "_").replace(" ", "_"))
            self._menus[menu_id] = menu
            self._sub_groups[menu_id] = group
            self._pos["menu:" + menu_id] = len(self._pos)
            self._rebuild(parent_id)
        return self._menus[menu_id]

    def menu(self, menu_id: str) -> QMenu:
        """The QMenu of ``menu_id`` (KeyError when there is none)."""
        return self._menus[menu_id]

    # ---- menus -----------------------------------------------------------------------------

    def _insert(self, spec: ActionSpec, act: QAction) -> None:
        """Rebuild ``spec.menu`` in group order (menus are small; this keeps order exact)."""
        if spec.menu not in self._menus:
            raise KeyError(f"action {spec.id!r}: no menu {spec.menu!r}")
        self._rebuild(spec.menu)

    def _rebuild(self, menu_id: str) -> None:
        menu = self._menus[menu_id]
        for old in menu.actions():  # not clear(): it would delete the actions menus own
            menu.removeAction(old)
            if old.isSeparator():
                old.deleteLater()
        entries: list[tuple[int, int, object]] = []
        for aid, spec in self._specs.items():
            if spec.menu == menu_id:
                entries.append((spec.group, self._pos[aid], self._actions[aid]))
        for sub_id, group in self._sub_groups.items():
            if sub_id.rpartition("/")[0] == menu_id:
                entries.append((group, self._pos["menu:" + sub_id], self._menus[sub_id]))
        entries.sort(key=lambda e: (e[0], e[1]))
        group = None
        for g, _order, item in entries:
            if group is not None and g != group:
                menu.addSeparator()
            group = g
            if isinstance(item, QMenu):
                menu.addMenu(item)
            else:
                menu.addAction(item)
