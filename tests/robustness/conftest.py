"""Fixtures for the robustness suite: a main window with a good model, and a helper that
waits for the error a bad input must produce."""

from __future__ import annotations

import pytest

from tests.gui.conftest import (  # noqa: F401 - fixtures shared with the GUI tests
    _no_qt_warnings,
    context,
    tiny_model_path,
    write_tiny_image_model,
)


def image_panels():
    from diffview.gui.panels.forward import ForwardPanel
    from diffview.gui.panels.grid import GridPanel
    from diffview.gui.panels.sampling import SamplingPanel

    return [ForwardPanel, SamplingPanel, GridPanel]


@pytest.fixture
def window(qtbot, tiny_model_path):  # noqa: F811 - the imported fixture
    """A shown main window (forward, sampling, grid) with the tiny 28x28 model loaded."""
    from diffview.gui.context import AppContext
    from diffview.gui.main_window import MainWindow

    w = MainWindow(AppContext(device="cpu"), panel_classes=image_panels())
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.context.image_model_changed, timeout=30000):
        w.load_model(tiny_model_path)
    yield w
    w.shutdown()
    w.close_error_boxes()


def expect_error(qtbot, ctx, action, timeout: int = 30000) -> tuple[str, str]:
    """Run ``action()`` and return the (title, message) of the error the user is shown."""
    with qtbot.waitSignal(ctx.error_raised, timeout=timeout) as blocker:
        action()
    return blocker.args[0], blocker.args[1]


def sample_once(qtbot, window, steps: int = 3, batch: int = 2):
    """Run the sampling panel to the end: the app is still usable. Returns the RunResult."""
    panel = window.panels["sampling"]
    panel.steps_spin.setValue(steps)
    panel.batch_spin.setValue(batch)
    with qtbot.waitSignal(panel.run_completed, timeout=30000) as blocker:
        panel.run()
    return blocker.args[0]
