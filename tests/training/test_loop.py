import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from diffview.training.checkpoint import load_checkpoint
from diffview.training.loop import CHECKPOINT_NAME, TrainingError, ema_decay, lr_at, train


def _params(state_dict):
    return {k: v.clone() for k, v in state_dict.items()}


def test_training_lowers_the_loss_on_points(point_config):
    config = replace(point_config, steps=150, checkpoint_every=0, lr=3e-3)
    records = list(train(config))
    losses = np.array([r.loss for r in records])
    assert len(records) == 150 and records[-1].done and records[-1].stop_reason == "steps"
    assert losses[-30:].mean() < 0.8 * losses[:30].mean()


def test_training_lowers_the_loss_on_images(image_config, image_data):
    config = replace(image_config, steps=60, checkpoint_every=0, lr=3e-3)
    losses = np.array([r.loss for r in train(config, data=image_data)])
    assert losses[-15:].mean() < losses[:15].mean()


def test_progress_records_are_complete(image_config, image_data, tmp_path):
    records = list(train(image_config, out_dir=tmp_path, data=image_data))
    assert [r.step for r in records] == list(range(1, 7))
    assert all(r.samples_per_s > 0 and r.eta_s >= 0 for r in records)
    assert [r.checkpoint is not None for r in records] == [False, True, False, True, False, True]
    # The last record carries a preview drawn with the EMA weights.
    assert records[-1].preview.shape == (8, 1, 8, 8)
    assert np.all(np.abs(records[-1].preview) <= 1.0)


def _run_to_end(config, data, out_dir, resume=None):
    for _ in train(config, out_dir=out_dir, resume=resume, data=data):
        pass
    return load_checkpoint(out_dir / CHECKPOINT_NAME)


@pytest.mark.parametrize("kind", ["image", "points"])
def test_resume_continues_exactly(kind, image_config, point_config, make_images, tmp_path):
    config = image_config if kind == "image" else point_config
    data = make_images() if kind == "image" else None
    whole = _run_to_end(config, data, tmp_path / "whole")

    # Stop after three steps by closing the generator, then resume in a fresh call.
    gen = train(config, out_dir=tmp_path / "part", data=data)
    for record in gen:
        if record.step == 3:
            break
    gen.close()
    assert load_checkpoint(tmp_path / "part" / CHECKPOINT_NAME)["step"] == 3
    resumed = _run_to_end(config, data, tmp_path / "part2",
                          resume=tmp_path / "part" / CHECKPOINT_NAME)
    assert resumed["step"] == whole["step"] == config.steps
    for key in ("model", "ema"):
        for name, value in whole[key].items():
            assert torch.equal(value, resumed[key][name]), f"{key}.{name} differs after resume"


def test_should_stop_writes_a_checkpoint_and_reports_cancelled(image_config, image_data,
                                                               tmp_path):
    config = replace(image_config, checkpoint_every=0)
    records = list(train(config, out_dir=tmp_path, data=image_data,
                         should_stop=lambda: stops.pop(0)))
    assert records[-1].stop_reason == "cancelled" and records[-1].done
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 2


stops: list[bool] = []


@pytest.fixture(autouse=True)
def _stops():
    stops[:] = [False, False, True]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(image_config, make_images,
                                                           tmp_path):
    data = make_images()
    path = tmp_path / CHECKPOINT_NAME
    gen = train(image_config, out_dir=tmp_path, data=data)
    with pytest.raises(TrainingError, match="loss became nan at step 3"):
        for record in gen:
            if record.step == 2:
                saved = path.read_bytes()
                data.images[:] = np.nan  # the data goes bad after the checkpoint
    assert path.read_bytes() == saved
    assert load_checkpoint(path)["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]


def test_time_budget_stops_cleanly(point_config, tmp_path):
    config = replace(point_config, steps=10**6, max_minutes=0.5 / 60.0)
    records = list(train(config, out_dir=tmp_path))
    assert records[-1].stop_reason == "time"
    assert records[-1].elapsed_s >= 0.5
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == records[-1].step


def test_learning_rate_warms_up_then_decays_to_the_floor(point_config):
    c = replace(point_config, steps=100, warmup=10, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(c, 0, 0.0) == pytest.approx(1e-4)
    assert lr_at(c, 9, 0.09) == pytest.approx(1e-3)
    assert lr_at(c, 50, 0.5) == pytest.approx(1e-4 + 0.5 * 9e-4)
    assert lr_at(c, 100, 1.0) == pytest.approx(1e-4)
    assert lr_at(replace(c, lr_schedule="constant"), 80, 0.8) == pytest.approx(1e-3)


def test_ema_decay_warms_up(point_config):
    assert ema_decay(point_config, 0) == pytest.approx(0.1)
    assert ema_decay(point_config, 10**6) == point_config.ema
    assert not math.isnan(ema_decay(point_config, 5))


def test_resuming_a_run_whose_time_is_spent_trains_no_further(point_config, tmp_path):
    config = replace(point_config, steps=10**6, max_minutes=0.2 / 60.0)
    last = list(train(config, out_dir=tmp_path / "a"))[-1]
    again = list(train(config, out_dir=tmp_path / "b", resume=tmp_path / "a" / CHECKPOINT_NAME))
    assert len(again) == 1 and again[0].stop_reason == "time" and again[0].step == last.step
