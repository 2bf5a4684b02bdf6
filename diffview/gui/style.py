"""Light and dark looks that follow the system colour scheme (or a user override).

Qt's Fusion style with an explicit palette looks the same on every platform; pyqtgraph takes its
background and foreground from its global config, which must be set before plots are created.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["THEMES", "apply_style", "is_dark", "resolve_theme"]

THEMES = ("system", "light", "dark")

# Plot colours picked to stay apart for colour-blind readers (Okabe-Ito) on both backgrounds.
PLOT_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442")


def system_is_dark() -> bool:
    """Whether the desktop asks for a dark look (Qt 6.5+ colour scheme, else the palette)."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def resolve_theme(theme: str) -> str:
    """``"light"`` or ``"dark"`` for a theme name from :data:`THEMES`."""
    if theme == "dark" or (theme == "system" and system_is_dark()):
        return "dark"
    return "light"


def _dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(220, 220, 220)
    disabled = QColor(120, 120, 120)
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, window)
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor(60, 60, 64))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.PlaceholderText, disabled)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, window)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor(255, 80, 80))
    p.setColor(QPalette.ColorRole.Link, QColor(86, 180, 233))
    p.setColor(QPalette.ColorRole.Highlight, QColor(0, 114, 178))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def apply_style(app: QApplication, theme: str = "system") -> str:
    """Set Fusion, the palette and pyqtgraph's colours; returns the look used."""
    look = resolve_theme(theme)
    app.setStyle("Fusion")
    if look == "dark":
        app.setPalette(_dark_palette())
        pg.setConfigOptions(background=(30, 30, 32), foreground=(210, 210, 210))
    else:
        app.setPalette(app.style().standardPalette())
        pg.setConfigOptions(background="w", foreground=(40, 40, 40))
    pg.setConfigOptions(antialias=True)
    return look


def is_dark() -> bool:
    """Whether the current application palette is dark."""
    app = QApplication.instance()
    return bool(app) and app.palette().color(QPalette.ColorRole.Window).lightness() < 128
