"""The Training tab of the Preferences dialog: data, network, schedule and optimiser options.

A plain form: it reports changes and returns a :class:`~diffview.gui.preferences.TrainingPrefs`;
it starts nothing.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.preferences import (
    DATA_KINDS,
    DEVICES,
    FIELDS,
    SCHEDULES,
    TOY_SETS,
    FieldError,
    TrainingPrefs,
    check_data_path,
    format_field,
    parse_field,
)

__all__ = ["TrainingForm", "ValidatedField"]

ERROR_STYLE = "QLineEdit { border: 1px solid #d0302f; background: rgba(208, 48, 47, 30); }"

TRAIN_DEVICE_TEXT = {"auto": "Automatic (CUDA when torch has it)", "cpu": "CPU",
                     "cuda": "CUDA (NVIDIA GPU)"}
_NUMERIC = ("image_size", "T", "widths", "hidden", "steps", "epochs", "batch_size", "lr", "ema",
            "seed", "preview_every", "checkpoint_every", "threads")


class ValidatedField(QWidget):
    """A line edit for one :data:`~diffview.gui.preferences.FIELDS` entry with its message.

    ``value()`` returns the parsed value or raises :class:`FieldError`; ``error`` is the
    current message ("" when valid). ``validity_changed`` fires on every edit.
    """

    validity_changed = Signal()

    def __init__(self, key: str, value, parent: QWidget | None = None):
        super().__init__(parent)
        self.key = key
        spec = FIELDS[key]
        self.edit = QLineEdit(format_field(key, value))
        self.edit.setObjectName(f"field_{key.split('.')[-1]}")
        tip = f"{spec.label}: {spec.hint}" if spec.hint else spec.label
        self.edit.setToolTip(tip)
        self.edit.setAccessibleName(spec.label)
        self.edit.setMinimumWidth(90)
        self.edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.message = QLabel("")
        self.message.setObjectName(f"error_{key.split('.')[-1]}")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #d0302f;")
        self.message.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(self.edit)
        lay.addWidget(self.message)
        self.error = ""
        self.edit.textChanged.connect(self._revalidate)
        self._revalidate()

    def value(self):
        return parse_field(self.key, self.edit.text())

    def set_value(self, value) -> None:
        self.edit.setText(format_field(self.key, value))

    def _revalidate(self) -> None:
        try:
            self.value()
            self.error = ""
        except FieldError as exc:
            self.error = str(exc)
        self.edit.setStyleSheet(ERROR_STYLE if self.error and self.isEnabled() else "")
        self.message.setText(self.error)
        self.message.setVisible(bool(self.error) and self.isEnabled())
        self.validity_changed.emit()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == event.Type.EnabledChange:
            self._revalidate()


def _combo(name: str, items, current, tip: str) -> QComboBox:
    box = QComboBox()
    box.setObjectName(name)
    for data, text in items:
        box.addItem(text, data)
    idx = box.findData(current)
    box.setCurrentIndex(max(0, idx))
    box.setToolTip(tip)
    return box


class TrainingForm(QWidget):
    """Fields for one training run. ``changed`` fires on any edit."""

    changed = Signal()

    def __init__(self, prefs: TrainingPrefs, parent: QWidget | None = None):
        super().__init__(parent)
        self.fields: dict[str, ValidatedField] = {}
        for name in _NUMERIC:
            f = ValidatedField(f"training.{name}", getattr(prefs, name))
            f.validity_changed.connect(self.changed)
            self.fields[name] = f
        self._data_error = ""
        self._path_timer = QTimer(self)
        self._path_timer.setSingleShot(True)
        self._path_timer.setInterval(250)  # check the folder once typing pauses
        self._path_timer.timeout.connect(self._check_path)

        # -- data --
        data_box = QGroupBox("Data")
        form = QFormLayout(data_box)
        self.kind_combo = _combo("data_kind", DATA_KINDS.items(), prefs.data_kind,
                                 "What to train on: images from an IDX or image folder "
                                 "(a UNet), or a 2-D toy set (an MLP on points)")
        form.addRow("Data set", self.kind_combo)
        row = QHBoxLayout()
        self.path_edit = QLineEdit(prefs.data_path)
        self.path_edit.setObjectName("data_path")
        self.path_edit.setToolTip("The folder: IDX files (train-images-idx3-ubyte[.gz]) or "
                                  "PNG/JPEG images")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Choose the data folder")
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        self.path_row = QWidget()
        self.path_row.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        form.addRow("Folder", self.path_row)
        self.path_message = QLabel("")
        self.path_message.setObjectName("error_data_path")
        self.path_message.setWordWrap(True)
        self.path_message.setStyleSheet("color: #d0302f;")
        form.addRow(self.path_message)
        self.toy_combo = _combo("toy_set", [(t, t) for t in TOY_SETS], prefs.toy,
                                "The 2-D data set; fresh points are drawn every step")
        form.addRow("Toy set", self.toy_combo)
        self.channels_combo = _combo("channels", [(1, "1 (grey)"), (3, "3 (colour)")],
                                     prefs.channels, "Images are converted to this many channels")
        form.addRow("Image size", self.fields["image_size"])
        form.addRow("Channels", self.channels_combo)

        # -- model --
        model_box = QGroupBox("Network and noise")
        mform = QFormLayout(model_box)
        self.schedule_combo = _combo("schedule", [(s, s) for s in SCHEDULES], prefs.schedule,
                                     "The noise schedule beta_t of image models")
        mform.addRow("Schedule", self.schedule_combo)
        mform.addRow("Diffusion steps T", self.fields["T"])
        mform.addRow("UNet widths", self.fields["widths"])
        mform.addRow("MLP width", self.fields["hidden"])

        # -- optimiser --
        opt_box = QGroupBox("Run")
        oform = QFormLayout(opt_box)
        self.unit_combo = _combo("length_unit", [("steps", "Steps"), ("epochs", "Epochs")],
                                 prefs.length_unit, "Give the run's length in optimiser steps "
                                 "or in passes over the images")
        oform.addRow("Length in", self.unit_combo)
        oform.addRow("Steps", self.fields["steps"])
        oform.addRow("Epochs", self.fields["epochs"])
        for name, label in (("batch_size", "Batch size"), ("lr", "Learning rate"),
                            ("ema", "EMA decay"), ("seed", "Seed")):
            oform.addRow(label, self.fields[name])
        self.device_combo = _combo("train_device", [(d, TRAIN_DEVICE_TEXT[d]) for d in DEVICES],
                                   prefs.device, "Where torch trains")
        oform.addRow("Device", self.device_combo)
        oform.addRow("Torch threads", self.fields["threads"])
        oform.addRow("Preview every", self.fields["preview_every"])
        oform.addRow("Checkpoint every", self.fields["checkpoint_every"])

        left = QVBoxLayout()
        left.addWidget(data_box)
        left.addWidget(model_box)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(opt_box)
        right.addStretch(1)
        lay = QHBoxLayout(self)
        lay.addLayout(left, 1)
        lay.addLayout(right, 1)
        for combo in (self.kind_combo, self.toy_combo, self.channels_combo, self.schedule_combo,
                      self.unit_combo, self.device_combo):
            combo.currentIndexChanged.connect(self._on_choice)
        self.path_edit.textChanged.connect(self._path_timer.start)
        self._on_choice()
        self._check_path()

    # ---- behaviour ----------------------------------------------------------------------

    def _on_choice(self, *_args) -> None:
        toy = self.kind_combo.currentData() == "toy"
        for w in (self.path_row, self.channels_combo, self.schedule_combo,
                  self.fields["image_size"], self.fields["T"], self.fields["widths"]):
            w.setEnabled(not toy)
        self.toy_combo.setEnabled(toy)
        self.fields["hidden"].setEnabled(toy)
        if toy and self.unit_combo.currentData() == "epochs":
            self.unit_combo.setCurrentIndex(self.unit_combo.findData("steps"))
        self.unit_combo.model().item(self.unit_combo.findData("epochs")).setEnabled(not toy)
        epochs = self.unit_combo.currentData() == "epochs"
        self.fields["steps"].setEnabled(not epochs)
        self.fields["epochs"].setEnabled(epochs)
        self._check_path()

    def _check_path(self) -> None:
        kind = self.kind_combo.currentData()
        self._data_error = check_data_path(kind, self.path_edit.text())
        self.path_message.setText(self._data_error)
        self.path_message.setVisible(bool(self._data_error))
        self.path_edit.setStyleSheet(
            "QLineEdit { border: 1px solid #d0302f; }" if self._data_error else "")
        self.changed.emit()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Training data folder",
                                                  self.path_edit.text())
        if folder:
            self.path_edit.setText(folder)
            self._check_path()

    # ---- result -------------------------------------------------------------------------

    def field_errors(self) -> list[str]:
        """Messages of the enabled fields that are invalid, and of the data folder."""
        if self._path_timer.isActive():  # a path typed but not yet checked
            self._path_timer.stop()
            self._check_path()
        errors = [f.error for f in self.fields.values() if f.isEnabled() and f.error]
        if self._data_error:
            errors.insert(0, f"Data: {self._data_error}")
        return errors

    def value(self) -> TrainingPrefs:
        """The run the form describes (disabled fields keep their defaults if invalid).

        Raises
        ------
        FieldError
            for an enabled field with a bad value.
        """
        d = TrainingPrefs()
        values = {}
        for name, f in self.fields.items():
            try:
                values[name] = f.value()
            except FieldError:
                if f.isEnabled():
                    raise
                values[name] = getattr(d, name)
        return TrainingPrefs(
            data_kind=self.kind_combo.currentData(), data_path=self.path_edit.text().strip(),
            toy=self.toy_combo.currentData(), channels=int(self.channels_combo.currentData()),
            schedule=self.schedule_combo.currentData(),
            length_unit=self.unit_combo.currentData(), device=self.device_combo.currentData(),
            **values)
