import pytest

from diffview.training.config import ConfigError, TrainConfig


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"lr": -1e-3}, "lr must be in (0, 1]"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"T": 1}, "T must be an integer >= 2"),
        ({"ema": 1.0}, "ema must be in [0, 1)"),
        ({"threads": 0}, "threads must be an integer >= 1"),
        ({"schedule": "zigzag"}, "schedule must be one of"),
        ({"widths": (8, 16)}, "widths must be three"),
        ({"blocks": (1, 0, 1)}, "blocks must be three counts"),
        ({"beta_min": 5.0, "beta_max": 1.0}, "beta_min < beta_max"),
        ({"beta_max": 1e9}, "beta_max must be at most 100"),
        ({"image_size": 30}, "divisible by 4"),
        ({"channels": 2}, "channels must be 1 or 3"),
        ({"max_minutes": -5.0}, "max_minutes must be > 0"),
        ({"checkpoint_every": -1}, "checkpoint_every must be an integer >= 0"),
        ({"batch_size": 2.5}, "batch_size must be an integer"),
        ({"lr_schedule": "step"}, "lr_schedule must be"),
        ({"fourier": -1}, "fourier must be an integer >= 0"),
        ({"fourier": 40}, "fourier must be at most 16"),
    ],
)
def test_absurd_values_are_refused_with_the_option_named(changes, needle):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**changes)
    assert needle in str(info.value)


def test_round_trip_through_a_dict_keeps_every_field():
    c = TrainConfig(data="toy:rings", widths=[8, 16, 32], max_minutes=1.5, seed=9)
    back = TrainConfig.from_dict(c.to_dict())
    assert back == c
    assert back.widths == (8, 16, 32)


def test_unknown_option_in_a_dict_is_named():
    with pytest.raises(ConfigError, match="unknown training options: colour"):
        TrainConfig.from_dict({"colour": "red"})
