"""The panels, one package (or module) each: forward, sampling, grid, sde2d, randomwalk,
likelihood, cold, training.

Each panel is a Qt-free state object, a view and the services it owns; see
:mod:`diffview.gui.panel` for the protocol the main window uses and ``docs/architecture.md``
for what a new panel's files may import.
"""
