"""The Preferences dialog: Inference, Model and Training tabs.

A form that returns a :class:`~diffview.gui.preferences.Preferences` and does nothing else: it
writes no settings, loads no model and starts no training. Fields validate as you type; a
field with a bad value turns red and says why underneath, and OK (and "Save and train") stay
disabled until every field is valid. The one background job it runs is reading the chosen
model's metadata, so that even a large file never stalls the window.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from diffview.gui.preferences import (
    DEVICES,
    FieldError,
    InferencePrefs,
    ModelPrefs,
    Preferences,
    training_problems,
)
from diffview.gui.training.form import TrainingForm, ValidatedField
from diffview.gui.workers import JobRunner, call_in_worker

__all__ = ["SettingsDialog"]

DEVICE_TEXT = {"auto": "Automatic (CUDA when it loads, else CPU)", "cpu": "CPU",
               "cuda": "CUDA (NVIDIA GPU)"}


class SettingsDialog(QDialog):
    """Preferences: edit a :class:`Preferences` and return it.

    Parameters
    ----------
    prefs : the values to start from (the caller loads them from QSettings).
    current_model : the model in use (shown on the Model tab), or None.
    default_model_path : the bundled default, shown when the Model path is empty.
    tab : ``"inference"``, ``"model"`` or ``"training"``: the tab to open on.

    After ``accept()``: :meth:`preferences` is the edited value and ``train_requested`` says
    whether "Save and train" was pressed.
    """

    TABS = ("inference", "model", "training")

    def __init__(self, prefs: Preferences, current_model=None, default_model_path=None,
                 tab: str = "inference", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setObjectName("settings_dialog")
        self._initial = prefs
        self._current_model = current_model
        self._default_model_path = str(default_model_path or "")
        self._model_error = ""
        self.train_requested = False
        self._result: Preferences | None = None
        self._meta_runner = JobRunner("model metadata", self)
        self._meta_runner.run_finished.connect(self._on_metadata)
        self._meta_runner.run_failed.connect(self._on_metadata_failed)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_inference(prefs.inference), "&Inference")
        self.tabs.addTab(self._build_model(prefs.model), "&Model")
        self.training = TrainingForm(prefs.training)
        self.training.changed.connect(self._update_buttons)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.training)
        self.tabs.addTab(scroll, "&Training")
        self.tabs.setCurrentIndex(self.TABS.index(tab) if tab in self.TABS else 0)

        self.problems = QLabel("")
        self.problems.setObjectName("problems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #d0302f;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Save")
        self.ok_button.setToolTip("Keep these settings")
        self.train_button = self.buttons.addButton("Save and &train",
                                                   QDialogButtonBox.ButtonRole.ActionRole)
        self.train_button.setObjectName("train_button")
        self.train_button.setToolTip("Keep these settings and start training with the "
                                     "Training tab's options")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.train_button.clicked.connect(self.accept_and_train)

        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs)
        lay.addWidget(self.problems)
        lay.addWidget(self.buttons)
        self.resize(860, 600)
        self._update_buttons()
        if prefs.model.path:
            self._read_metadata(prefs.model.path)

    # ---- tabs ---------------------------------------------------------------------------

    def _build_inference(self, p: InferencePrefs) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("inference_device")
        for d in DEVICES:
            self.device_combo.addItem(DEVICE_TEXT[d], d)
        self.device_combo.setCurrentIndex(DEVICES.index(p.device) if p.device in DEVICES else 0)
        self.device_combo.setToolTip("Where onnxruntime runs the network. CUDA falls back to "
                                     "the CPU when it cannot load; the status bar shows which "
                                     "one is in use.")
        form.addRow("Execution provider", self.device_combo)
        self.threads_field = ValidatedField("inference.threads", p.threads)
        self.threads_field.validity_changed.connect(self._update_buttons)
        form.addRow("Threads", self.threads_field)
        note = QLabel("Changes reload the current model with the new provider and threads.")
        note.setWordWrap(True)
        form.addRow(note)
        return page

    def _build_model(self, p: ModelPrefs) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        row = QHBoxLayout()
        self.model_edit = QLineEdit(p.path)
        self.model_edit.setObjectName("model_path")
        self.model_edit.setPlaceholderText(f"bundled default: {self._default_model_path}")
        self.model_edit.setToolTip("An ONNX epsilon network; empty uses the bundled default")
        self.model_edit.textChanged.connect(self._on_model_path_changed)
        browse = QPushButton("Open ONNX file…")
        browse.setToolTip("Choose a model file")
        browse.clicked.connect(self._browse_model)
        self.reset_model_button = QPushButton("Reset to bundled default")
        self.reset_model_button.setObjectName("reset_model")
        self.reset_model_button.setToolTip(self._default_model_path or "The bundled model")
        self.reset_model_button.clicked.connect(lambda: self.model_edit.setText(""))
        row.addWidget(self.model_edit, 1)
        row.addWidget(browse)
        lay.addLayout(row)
        lay.addWidget(self.reset_model_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.model_message = QLabel("")
        self.model_message.setObjectName("model_message")
        self.model_message.setWordWrap(True)
        lay.addWidget(self.model_message)
        self.metadata_view = QPlainTextEdit()
        self.metadata_view.setObjectName("model_metadata")
        self.metadata_view.setReadOnly(True)
        self.metadata_view.setToolTip("The metadata stored in the ONNX file")
        lay.addWidget(QLabel("Metadata"))
        lay.addWidget(self.metadata_view, 1)
        self._show_current_model()
        return page

    # ---- model tab ----------------------------------------------------------------------

    def _show_current_model(self) -> None:
        model = self._current_model
        if model is None:
            self.metadata_view.setPlainText("No model is loaded.")
            return
        self.metadata_view.setPlainText(_describe(model, "In use"))

    def _browse_model(self) -> None:
        start = str(Path(self.model_edit.text()).parent) if self.model_edit.text() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open model", start,
                                              "ONNX models (*.onnx);;All files (*)")
        if path:
            self.model_edit.setText(path)

    def _on_model_path_changed(self, text: str) -> None:
        text = text.strip()
        self._model_error = ""
        if not text:
            self._meta_runner.cancel()
            self.model_message.setText("The bundled default model will be used.")
            self._show_current_model()
        else:
            path = Path(text).expanduser()
            if not path.exists():
                self._model_error = f"Model: {path} does not exist"
            elif not path.is_file():
                self._model_error = f"Model: {path} is a folder, not an ONNX file"
            if self._model_error:
                self.model_message.setText(self._model_error)
            else:
                self._read_metadata(text)
        self._update_buttons()

    def _read_metadata(self, text: str) -> None:
        self.model_message.setText("Reading the model…")
        path = Path(text).expanduser()

        def job():
            from diffview.engine import OnnxDenoiser

            return OnnxDenoiser(path, device="cpu", threads=1)

        self._meta_runner.start(call_in_worker(job))

    def _on_metadata(self, _rid: int, model) -> None:
        if model.info.kind != "image":
            self._model_error = (f"Model: {Path(model.path).name} is a {model.info.kind} model; "
                                 "the image panels need an image model")
            self.model_message.setText(self._model_error)
        else:
            self.model_message.setText(f"{Path(model.path).name} is a valid model.")
        self.metadata_view.setPlainText(_describe(model, "Chosen"))
        self._update_buttons()

    def _on_metadata_failed(self, _rid: int, message: str) -> None:
        self._model_error = f"Model: {message}"
        self.model_message.setText(self._model_error)
        self.metadata_view.setPlainText("")
        self._update_buttons()

    # ---- result -------------------------------------------------------------------------

    def problems_list(self) -> list[str]:
        """Every reason the form cannot be returned now (empty when it is valid)."""
        out = []
        if self.threads_field.error:
            out.append(self.threads_field.error)
        if self._model_error:
            out.append(self._model_error)
        out += self.training.field_errors()
        if not out:
            out += training_problems(self.training.value())
        return out

    def _update_buttons(self) -> None:
        problems = self.problems_list()
        self.problems.setText("\n".join(problems[:4]))
        self.problems.setVisible(bool(problems))
        for b in (self.ok_button, self.train_button):
            b.setEnabled(not problems)

    def preferences(self) -> Preferences:
        """The edited preferences.

        Raises
        ------
        FieldError
            listing what is wrong, when any field is invalid.
        """
        problems = self.problems_list()
        if problems:
            raise FieldError("; ".join(problems))
        return Preferences(
            inference=InferencePrefs(device=self.device_combo.currentData(),
                                     threads=self.threads_field.value()),
            model=ModelPrefs(path=self.model_edit.text().strip()),
            training=self.training.value())

    def accept(self) -> None:
        """Refuses (stays open, says why) while any field is invalid."""
        try:
            self._result = self.preferences()
        except FieldError:
            self._update_buttons()
            return
        self._meta_runner.shutdown()
        super().accept()

    def accept_and_train(self) -> None:
        self.train_requested = True
        self.accept()
        if self.result() != QDialog.DialogCode.Accepted:
            self.train_requested = False

    def reject(self) -> None:
        self._meta_runner.shutdown()
        super().reject()

    def result_preferences(self) -> Preferences | None:
        """What ``accept()`` returned, or None when the dialog was cancelled."""
        return self._result


def _describe(model, what: str) -> str:
    info = model.info
    lines = [f"{what}: {getattr(model, 'path', '')}",
             f"kind: {info.kind}", f"sample shape: {'×'.join(map(str, info.sample_shape))}",
             f"schedule: {info.schedule}, T = {info.T}, time: {info.time_kind}",
             f"data set: {info.dataset}"]
    if info.class_names:
        lines.append(f"classes: {', '.join(info.class_names)}")
    if info.training_steps:
        lines.append(f"training steps: {info.training_steps}")
    for k, v in sorted((info.extra or {}).items()):
        lines.append(f"{k}: {v}")
    provider = getattr(model, "provider", None)
    if provider:
        lines.append(f"provider: {provider}")
    return "\n".join(lines)

