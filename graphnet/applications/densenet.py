"""DenseNet121, DenseNet169 and DenseNet201, as ``keras.applications.densenet``.

Reference: [Densely Connected Convolutional Networks](https://arxiv.org/abs/1608.06993)
(CVPR 2017). Call ``densenet.preprocess_input`` (torch mode: scaled to [0, 1], then each
channel normalized by ImageNet's mean and standard deviation) on images in [0, 255].
"""
from .. import backend, layers
from . import imagenet_utils
from .resnet import BN_EPSILON, MODEL_DOC

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
WEIGHTS_HASHES = {   # blocks: (name, MD5 with the top, MD5 without)
    (6, 12, 24, 16): ("densenet121", "9d60b8095a5708f2dcce2bca79d332c7",
                      "30ee3e1110167f948a6b9946edeeb738"),
    (6, 12, 32, 32): ("densenet169", "d699b8f76981ab1b30698df4c175e90b",
                      "b8c4d4c20dd625c148057b9ff1c1176b"),
    (6, 12, 48, 32): ("densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807",
                      "c13680b51ded0fb44dff2d8f86ac8bb1"),
}
GROWTH_RATE = 32
BN_AXIS = 3   # DenseNet is channels_last only, as Keras's


def _batch_norm(x, name):
    return layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON, name=name)(x)


def dense_block(x, blocks, name):
    """``blocks`` conv blocks, each concatenating its features to its input."""
    for i in range(blocks):
        x = conv_block(x, GROWTH_RATE, name=f"{name}_block{i + 1}")
    return x


def transition_block(x, reduction, name):
    """BN, ReLU, a 1x1 convolution to ``reduction`` of the channels, 2x2 average pooling."""
    x = _batch_norm(x, f"{name}_bn")
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[BN_AXIS] * reduction), 1, use_bias=False,
                      name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def conv_block(x, growth_rate, name):
    """BN-ReLU-1x1 conv, BN-ReLU-3x3 conv to ``growth_rate`` channels, concatenated to x."""
    x1 = _batch_norm(x, f"{name}_0_bn")
    x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = _batch_norm(x1, f"{name}_1_bn")
    x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False,
                       name=f"{name}_2_conv")(x1)
    return layers.Concatenate(axis=BN_AXIS, name=f"{name}_concat")([x, x1])


def DenseNet(blocks, include_top=True, weights="imagenet", input_tensor=None,
             input_shape=None, pooling=None, classes=1000, classifier_activation="softmax",
             name="densenet"):
    """The DenseNet architecture with ``blocks`` conv blocks in its four dense blocks."""
    if backend.image_data_format() == "channels_first":
        raise ValueError("DenseNet does not support the `channels_first` image data format. "
                         "Switch to `channels_last` with "
                         "gn.backend.set_image_data_format('channels_last')")
    blocks = tuple(blocks)
    imagenet_utils.validate_arguments(name, weights, include_top, classes, pooling)
    if weights == "imagenet" and blocks not in WEIGHTS_HASHES:
        raise ValueError(f"{name}: Keras publishes ImageNet weights only for the blocks "
                         f"{sorted(WEIGHTS_HASHES)}. Received: blocks={blocks}")
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, data_format=backend.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)

    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _batch_norm(x, "conv1_bn")
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks, start=2):
        x = dense_block(x, count, name=f"conv{stage}")
        if stage < 5:
            x = transition_block(x, 0.5, name=f"pool{stage}")
    x = _batch_norm(x, "bn")
    x = layers.Activation("relu", name="relu")(x)
    x = imagenet_utils.top_or_pooling(x, include_top, pooling, classes, classifier_activation,
                                      weights, ("avg_pool", "max_pool"))
    imagenet_file = None
    if weights == "imagenet":
        weights_name, *hashes = WEIGHTS_HASHES[blocks]
        imagenet_file = imagenet_utils.keras_weights_file(weights_name, include_top,
                                                          BASE_WEIGHTS_PATH, hashes)
    return imagenet_utils.application_model(img_input, input_tensor, x, name, weights,
                                            imagenet_file)


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="densenet121"):
    """Instantiates the DenseNet121 architecture (``keras.applications.DenseNet121``)."""
    return DenseNet((6, 12, 24, 16), include_top, weights, input_tensor, input_shape, pooling,
                    classes, classifier_activation, name)


def DenseNet169(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="densenet169"):
    """Instantiates the DenseNet169 architecture (``keras.applications.DenseNet169``)."""
    return DenseNet((6, 12, 32, 32), include_top, weights, input_tensor, input_shape, pooling,
                    classes, classifier_activation, name)


def DenseNet201(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="densenet201"):
    """Instantiates the DenseNet201 architecture (``keras.applications.DenseNet201``)."""
    return DenseNet((6, 12, 48, 32), include_top, weights, input_tensor, input_shape, pooling,
                    classes, classifier_activation, name)


for _model in (DenseNet121, DenseNet169, DenseNet201):
    _model.__doc__ += MODEL_DOC


def preprocess_input(x, data_format=None):
    """Keras's ``densenet.preprocess_input``: torch mode (scaled to [0, 1], then each
    channel normalized by ImageNet's mean and standard deviation)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


decode_predictions = imagenet_utils.decode_predictions
