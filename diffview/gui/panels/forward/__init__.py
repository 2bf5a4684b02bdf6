"""The forward noising panel: state (Qt-free), the scrubbed process (Qt-free), widgets, panel."""

from diffview.gui.imaging import (
    IMAGE_FILTER,
    X_LEVELS,
    image_from_file,
    images_to_model_range,
    to_display,
)
from diffview.gui.panels.forward.panel import ForwardPanel
from diffview.gui.panels.forward.samples import (
    class_representatives,
    default_sample,
    demo_image,
    load_bundled,
)
from diffview.gui.panels.forward.state import CORRUPTIONS, ForwardState
from diffview.runs.forward import CHAIN_BUDGET_BYTES

__all__ = ["CHAIN_BUDGET_BYTES", "CORRUPTIONS", "IMAGE_FILTER", "X_LEVELS", "ForwardPanel",
           "ForwardState", "class_representatives", "default_sample", "demo_image",
           "image_from_file", "images_to_model_range", "load_bundled", "to_display"]
