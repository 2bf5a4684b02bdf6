"""Training in the app: one service (a child process) for image and 2-D training.

:mod:`.service` (``TrainingService``, ``TrainRequest``, ``TrainProgress``, ``TrainResult``:
the API features call through ``context.training``) and :mod:`.process` (the QProcess
child and its line protocol).
"""

from diffview.gui.training.service import (
    TrainingRun,
    TrainingService,
    TrainProgress,
    TrainRequest,
    TrainResult,
)
from diffview.training import TORCH_MISSING, torch_available

__all__ = ["TORCH_MISSING", "TrainProgress", "TrainRequest", "TrainResult", "TrainingRun",
           "TrainingService", "torch_available"]
