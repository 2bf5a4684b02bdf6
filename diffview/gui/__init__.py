"""The desktop application (PySide6 + pyqtgraph). Nothing here imports torch."""
