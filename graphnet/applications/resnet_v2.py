"""ResNet50V2, ResNet101V2 and ResNet152V2, as ``keras.applications.resnet_v2``.

Reference: [Identity Mappings in Deep Residual Networks](https://arxiv.org/abs/1603.05027)
(ECCV 2016). Call ``resnet_v2.preprocess_input`` (tf mode: scaled to [-1, 1]) on images
in [0, 255] before the model.
"""
from . import imagenet_utils
from .resnet import MODEL_DOC, ResNet, stack_residual_blocks_v2


def _v2_stacks(blocks):
    """The stack_fn of a ResNet v2 with ``blocks`` blocks in its four stacks."""
    def stack_fn(x):
        x = stack_residual_blocks_v2(x, 64, blocks[0], name="conv2")
        x = stack_residual_blocks_v2(x, 128, blocks[1], name="conv3")
        x = stack_residual_blocks_v2(x, 256, blocks[2], name="conv4")
        return stack_residual_blocks_v2(x, 512, blocks[3], stride1=1, name="conv5")
    return stack_fn


def ResNet50V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
               pooling=None, classes=1000, classifier_activation="softmax",
               name="resnet50v2"):
    """Instantiates the ResNet50V2 architecture (``keras.applications.ResNet50V2``)."""
    return ResNet(_v2_stacks((3, 4, 6, 3)), True, True, include_top, weights, input_tensor,
                  input_shape, pooling, classes, classifier_activation, name, "resnet50v2")


def ResNet101V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="resnet101v2"):
    """Instantiates the ResNet101V2 architecture (``keras.applications.ResNet101V2``)."""
    return ResNet(_v2_stacks((3, 4, 23, 3)), True, True, include_top, weights, input_tensor,
                  input_shape, pooling, classes, classifier_activation, name, "resnet101v2")


def ResNet152V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="resnet152v2"):
    """Instantiates the ResNet152V2 architecture (``keras.applications.ResNet152V2``)."""
    return ResNet(_v2_stacks((3, 8, 36, 3)), True, True, include_top, weights, input_tensor,
                  input_shape, pooling, classes, classifier_activation, name, "resnet152v2")


for _model in (ResNet50V2, ResNet101V2, ResNet152V2):
    _model.__doc__ += MODEL_DOC


def preprocess_input(x, data_format=None):
    """Keras's ``resnet_v2.preprocess_input``: tf mode (pixels scaled to [-1, 1])."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
