"""The Preferences dialog: validation as you type, every field at and beyond its limits, the
Model tab, persistence, and no side effects of its own."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from PySide6.QtCore import Qt

from diffview.gui.preferences import (
    FIELDS,
    FieldError,
    InferencePrefs,
    ModelPrefs,
    Preferences,
    TrainingPrefs,
    load_preferences,
    parse_field,
    save_preferences,
)


def write_idx_folder(folder, n=16, size=8, seed=0):
    """A tiny MNIST-layout IDX folder of random ``size`` x ``size`` images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + b"".join(struct.pack(">I", d)
                                                            for d in images.shape)
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(header + images.tobytes())
    return folder


@pytest.fixture
def dialog(qtbot):
    from diffview.gui.dialogs.settings import SettingsDialog

    dlg = SettingsDialog(Preferences(), tab="training")
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def widget_for(dlg, key, tmp_path):
    """The field widget of ``key``, with the form switched to a mode where it is enabled."""
    if key == "inference.threads":
        return dlg.threads_field
    name = key.split(".", 1)[1]
    form = dlg.training
    if name == "hidden":
        form.kind_combo.setCurrentIndex(form.kind_combo.findData("toy"))
    elif name in ("image_size", "T", "widths", "epochs"):
        folder = write_idx_folder(tmp_path / "idx")
        form.kind_combo.setCurrentIndex(form.kind_combo.findData("mnist"))
        form.path_edit.setText(str(folder))
        form._check_path()
        unit = "epochs" if name == "epochs" else "steps"
        form.unit_combo.setCurrentIndex(form.unit_combo.findData(unit))
    field = form.fields[name]
    assert field.isEnabled(), key
    return field


def test_opens_on_the_asked_tab_with_valid_defaults(dialog):
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "&Training"
    assert dialog.problems_list() == []
    assert dialog.ok_button.isEnabled() and dialog.train_button.isEnabled()
    assert dialog.training.fields["lr"].edit.text() == "0.001"


def test_invalid_value_is_explained_and_refused_then_valid_value_is_returned(qtbot, dialog):
    lr = dialog.training.fields["lr"]
    lr.edit.clear()
    qtbot.keyClicks(lr.edit, "-0.5")
    assert "Learning rate must be in (0, 1], got -0.5" in lr.message.text()
    assert lr.message.isVisible() and lr.edit.styleSheet()
    assert not dialog.ok_button.isEnabled() and not dialog.train_button.isEnabled()
    assert "Learning rate" in dialog.problems.text()
    dialog.accept()  # refuses: stays open, nothing returned
    assert dialog.isVisible() and dialog.result_preferences() is None
    with pytest.raises(FieldError, match="Learning rate"):
        dialog.preferences()
    lr.edit.clear()
    qtbot.keyClicks(lr.edit, "2e-4")
    assert lr.message.text() == "" and not lr.message.isVisible()
    assert dialog.ok_button.isEnabled()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    prefs = dialog.result_preferences()
    assert prefs is not None and prefs.training.lr == pytest.approx(2e-4)
    assert not dialog.train_requested


def test_every_field_at_and_beyond_its_limits(qtbot, dialog, tmp_path):
    for key, spec in FIELDS.items():
        field = widget_for(dialog, key, tmp_path)
        step = 1 if spec.kind in ("int", "widths") else 1e-9 * max(1.0, abs(spec.high))
        inside_low = spec.low + (step if spec.low_open else 0)
        inside_high = spec.high - (step if spec.high_open else 0)
        beyond = [spec.low - step if not spec.low_open else spec.low,
                  spec.high + step if not spec.high_open else spec.high]
        if spec.multiple_of > 1:
            inside_low = spec.low
            inside_high = spec.high
        for good in (inside_low, inside_high):
            text = (",".join([str(int(good))] * 3) if spec.kind == "widths"
                    else repr(int(good)) if spec.kind == "int" else repr(float(good)))
            field.edit.setText(text)
            assert field.error == "", (key, text, field.error)
        for bad in beyond:
            text = (",".join([str(int(bad))] * 3) if spec.kind == "widths"
                    else repr(int(bad)) if spec.kind == "int" else repr(float(bad)))
            field.edit.setText(text)
            assert spec.label in field.error, (key, text, field.error)
            assert not field.message.isHidden()
            assert not dialog.ok_button.isEnabled(), key
            dialog.accept()
            assert dialog.result_preferences() is None and dialog.isVisible()
        for junk in ("", "abc", "nan", "inf", "1..2"):
            field.edit.setText(junk)
            assert field.error.startswith(("each of the " + spec.label, spec.label)), (key, junk)
            assert not dialog.ok_button.isEnabled()
        if spec.kind == "int" or spec.kind == "widths":
            field.edit.setText("1.5" if spec.kind == "int" else "16,32.5,96")
            assert "whole number" in field.error, key
        field.edit.setText(",".join(["4"] * 3) if spec.kind == "widths"
                           else str(int(inside_high)) if spec.kind == "int"
                           else repr(float(inside_high)))
        assert field.error == ""


def test_image_size_must_be_a_multiple_of_four():
    assert parse_field("training.image_size", "28") == 28
    with pytest.raises(FieldError, match="multiple of 4"):
        parse_field("training.image_size", "30")
    with pytest.raises(FieldError, match="three whole numbers"):
        parse_field("training.widths", "16,32")


def test_data_folder_is_checked_as_you_type(qtbot, dialog, tmp_path):
    form = dialog.training
    form.kind_combo.setCurrentIndex(form.kind_combo.findData("fashion"))
    form.path_edit.setText(str(tmp_path / "missing"))
    qtbot.waitUntil(lambda: "does not exist" in form.path_message.text(), timeout=2000)
    assert not dialog.ok_button.isEnabled()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    form.path_edit.setText(str(a_file))
    qtbot.waitUntil(lambda: "is a file" in form.path_message.text(), timeout=2000)
    empty = tmp_path / "empty"
    empty.mkdir()
    form.path_edit.setText(str(empty))
    qtbot.waitUntil(lambda: "no IDX images" in form.path_message.text(), timeout=2000)
    form.kind_combo.setCurrentIndex(form.kind_combo.findData("folder"))
    assert "holds no PNG/JPEG images" in form.path_message.text()
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(empty / "a.png")
    form._check_path()
    assert form.path_message.text() == "" and dialog.ok_button.isEnabled()
    form.kind_combo.setCurrentIndex(form.kind_combo.findData("mnist"))
    form.path_edit.setText(str(write_idx_folder(tmp_path / "idx")))
    qtbot.waitUntil(lambda: form.path_message.text() == "", timeout=2000)
    assert dialog.ok_button.isEnabled()
    # epochs only make sense for a finite image set
    form.unit_combo.setCurrentIndex(form.unit_combo.findData("epochs"))
    prefs = dialog.preferences().training
    assert "--epochs" in prefs.cli_args() and "--steps" not in prefs.cli_args()
    form.kind_combo.setCurrentIndex(form.kind_combo.findData("toy"))
    assert form.unit_combo.currentData() == "steps"
    assert "--epochs" not in dialog.preferences().training.cli_args()


def test_preview_interval_longer_than_the_run_is_refused(dialog):
    f = dialog.training.fields
    f["steps"].edit.setText("100")
    f["preview_every"].edit.setText("500")
    assert any("Preview every 500" in p for p in dialog.problems_list())
    assert not dialog.ok_button.isEnabled()
    f["preview_every"].edit.setText("50")
    assert dialog.ok_button.isEnabled()


def test_model_tab_reads_metadata_off_the_gui_thread(qtbot, tiny_model_path, tmp_path):
    from diffview.gui.dialogs.settings import SettingsDialog

    dlg = SettingsDialog(Preferences(), default_model_path="/bundled/fashion_unet.onnx",
                         tab="model")
    qtbot.addWidget(dlg)
    assert "bundled default" in dlg.model_edit.placeholderText()
    dlg.model_edit.setText(str(tmp_path / "nope.onnx"))
    assert "does not exist" in dlg.model_message.text() and not dlg.ok_button.isEnabled()
    with qtbot.waitSignal(dlg._meta_runner.run_finished, timeout=20000):
        dlg.model_edit.setText(str(tiny_model_path))
    text = dlg.metadata_view.toPlainText()
    assert "sample shape: 1×28×28" in text and "T = 1000" in text
    assert dlg.ok_button.isEnabled()
    fake = tmp_path / "fake.onnx"
    fake.write_text("not a model")
    with qtbot.waitSignal(dlg._meta_runner.run_failed, timeout=20000):
        dlg.model_edit.setText(str(fake))
    assert "fake.onnx" in dlg.model_message.text() and not dlg.ok_button.isEnabled()
    qtbot.mouseClick(dlg.reset_model_button, Qt.MouseButton.LeftButton)
    assert dlg.model_edit.text() == "" and dlg.ok_button.isEnabled()
    dlg.accept()
    assert dlg.result_preferences().model.path == ""


def test_dialog_has_no_side_effects_and_save_and_train_is_reported(qtbot, context):
    from diffview.gui.dialogs.settings import SettingsDialog

    before = sorted(context.settings.allKeys())
    dlg = SettingsDialog(Preferences(), tab="inference")
    qtbot.addWidget(dlg)
    dlg.device_combo.setCurrentIndex(dlg.device_combo.findData("cpu"))
    dlg.threads_field.edit.setText("3")
    qtbot.mouseClick(dlg.train_button, Qt.MouseButton.LeftButton)
    prefs = dlg.result_preferences()
    assert dlg.train_requested and prefs.inference == InferencePrefs("cpu", 3)
    context.settings.sync()
    assert sorted(context.settings.allKeys()) == before
    assert context.image_model is None


def test_preferences_persist_and_bad_stored_values_fall_back(context):
    prefs = Preferences(InferencePrefs("cpu", 4), ModelPrefs("/some/model.onnx"),
                        TrainingPrefs(data_kind="mnist", data_path="/data/mnist",
                                      widths=(8, 16, 32), length_unit="epochs", epochs=2.5,
                                      lr=3e-4, seed=9))
    save_preferences(context.settings, prefs)
    from diffview.gui.context import make_settings

    again = make_settings()  # a fresh QSettings on the same file, as after a restart
    assert load_preferences(again) == prefs
    again.setValue("preferences/training/lr", "banana")
    again.setValue("preferences/training/schedule", "wobbly")
    again.setValue("preferences/inference/device", "tpu")
    loaded = load_preferences(again)
    assert loaded.training.lr == TrainingPrefs().lr
    assert loaded.training.schedule == "linear" and loaded.inference.device == "auto"
    assert loaded.training.seed == 9
