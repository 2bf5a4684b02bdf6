"""Sde2DState: sessions round-trip, and a bad one is refused whole with one line naming it."""

from __future__ import annotations

import pytest

from diffview.gui.panels.sde2d.state import EXACT_FRAMES, Sde2DState


def test_round_trip_and_defaults():
    s = Sde2DState(mode="reverse", dataset="drawing", drawn=((0.0, 1.0), (2.0, 3.0)),
                   drawing_used=True, steps=300, frame=300, arrows=True)
    assert Sde2DState.from_dict(s.to_dict()) == s
    assert Sde2DState.from_dict({}) == Sde2DState()


@pytest.mark.parametrize("patch, field", [
    ({"drawn": [[0.0, 0.0]] * 200_000, "drawing_used": True}, "sde2d.drawn"),
    ({"drawn": [[0.0, float("nan")]]}, "sde2d.drawn[0]"),
    ({"n": 10**9}, "sde2d.n"),
    ({"sde": "heat"}, "sde2d.sde"),
    ({"frame": EXACT_FRAMES + 1}, "sde2d.frame"),          # past the exact forward's axis
    ({"mode": "reverse", "steps": 50, "frame": 51}, "sde2d.frame"),
    ({"dataset": "drawing"}, "sde2d.dataset"),             # a drawing with no points
    ({"arrows": "yes"}, "sde2d.arrows"),
    ({"mcmc_step": 0.0}, "sde2d.mcmc_step"),
])
def test_bad_sessions_name_the_field(patch, field):
    with pytest.raises(ValueError) as info:
        Sde2DState.from_dict({**Sde2DState().to_dict(), **patch})
    message = str(info.value)
    assert message.startswith(field + ":") and "\n" not in message and len(message) < 200


def test_a_bad_session_changes_nothing_on_the_panel(qtbot, context):
    from diffview.gui.panels.sde2d import Sde2DPanel

    context.toy_model = lambda name: None
    panel = Sde2DPanel(context)
    qtbot.addWidget(panel)
    try:
        before = panel.state_dict()
        with pytest.raises(ValueError, match="sde2d.drawn"):
            panel.load_state({**before, "dataset": "moons",
                              "drawn": [[0.0, 0.0]] * 200_000})
        assert panel.state_dict() == before
    finally:
        panel.shutdown()
