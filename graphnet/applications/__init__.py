"""Keras's applications: ImageNet models with Keras's layers, names and weight files
(``gn.applications.ResNet50(weights=...)``), their ``preprocess_input`` and
``decode_predictions`` in the submodules of Keras's names."""
from . import densenet, imagenet_utils, resnet, resnet_v2, vgg16  # noqa: F401
from .densenet import DenseNet121, DenseNet169, DenseNet201  # noqa: F401
from .resnet import ResNet50, ResNet101, ResNet152  # noqa: F401
from .resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2  # noqa: F401
from .vgg16 import VGG16  # noqa: F401
