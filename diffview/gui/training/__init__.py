"""Training in the app: one service (a child process) for image and 2-D training.

:mod:`.service` (``TrainingService``, ``context.training``: what features call), :mod:`.request`
(``TrainRequest``, ``TrainProgress``, ``TrainResult``), :mod:`.process` (the QProcess child),
:mod:`.session` (the Training panel's run and history), :mod:`.actions` (Preferences and Train)
and :mod:`.form` (the Training tab of Preferences).
"""

from diffview.gui.training.request import TrainProgress, TrainRequest, TrainResult
from diffview.gui.training.service import TrainingRun, TrainingService
from diffview.training import TORCH_MISSING, torch_available

__all__ = ["TORCH_MISSING", "TrainProgress", "TrainRequest", "TrainResult", "TrainingRun",
           "TrainingService", "torch_available"]
