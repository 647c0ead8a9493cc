"""Keras's applications: ImageNet models with Keras's layers, names and weight files
(``gn.applications.ResNet50(weights=...)``), their ``preprocess_input`` and
``decode_predictions`` in the submodules of Keras's names."""
from . import (densenet, efficientnet, imagenet_utils, mobilenet_v2, mobilenet_v3,  # noqa: F401
               resnet, resnet_v2, vgg16)
from .densenet import DenseNet121, DenseNet169, DenseNet201  # noqa: F401
from .efficientnet import (EfficientNetB0, EfficientNetB1, EfficientNetB2,  # noqa: F401
                           EfficientNetB3, EfficientNetB4, EfficientNetB5, EfficientNetB6,
                           EfficientNetB7)
from .mobilenet_v2 import MobileNetV2  # noqa: F401
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small  # noqa: F401
from .resnet import ResNet50, ResNet101, ResNet152  # noqa: F401
from .resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2  # noqa: F401
from .vgg16 import VGG16  # noqa: F401
