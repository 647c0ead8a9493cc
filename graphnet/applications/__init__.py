"""``gn.applications``: Keras's image classification models with their Keras names,
arguments, layer names and weights (``weights="imagenet"`` loads Keras's own files)."""
from . import efficientnet, imagenet_utils, mobilenet_v2, mobilenet_v3  # noqa: F401
from .efficientnet import (EfficientNetB0, EfficientNetB1, EfficientNetB2,  # noqa: F401
                           EfficientNetB3, EfficientNetB4, EfficientNetB5, EfficientNetB6,
                           EfficientNetB7)
from .mobilenet_v2 import MobileNetV2  # noqa: F401
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small  # noqa: F401
