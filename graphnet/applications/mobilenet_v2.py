"""MobileNetV2 (Sandler et al., CVPR 2018), as Keras 3 builds it: the same layers, names,
weights and weight order, so Keras's ImageNet ``.h5`` files and ``get_weights()`` load."""
import warnings

from .. import layers
from ..config import image_data_format
from . import imagenet_utils

BASE_WEIGHT_PATH = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
)
IMAGENET_ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)
IMAGENET_SIZES = (96, 128, 160, 192, 224)


def MobileNetV2(
    input_shape=None,
    alpha=1.0,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
):
    """Instantiates the MobileNetV2 architecture (inverted residual blocks with linear
    bottlenecks), optionally with Keras's ImageNet weights.

    Inputs are expected scaled to [-1, 1]: call ``mobilenet_v2.preprocess_input`` on
    pixels in [0, 255] first.

    Args:
        input_shape: shape without the batch, e.g. ``(160, 160, 3)``; only with
            ``include_top=False`` may it differ from ``(224, 224, 3)`` under the ImageNet
            top. Height and width at least 32. Defaults to the input tensor's, else
            ``(224, 224, 3)`` with the top and ``(None, None, 3)`` without.
        alpha: the width multiplier: below 1 fewer, above 1 more filters in every layer.
            ImageNet weights exist for 0.35, 0.5, 0.75, 1.0, 1.3 and 1.4.
        include_top: whether to end with the pooled 1000-way (``classes``) classifier.
        weights: None (random initialization), "imagenet" (Keras's file, downloaded
            once into ``$GRAPHNET_HOME/models``), or the path of a weights file.
        input_tensor: a symbolic tensor to build the model on (its source inputs become
            the model's inputs).
        pooling: with ``include_top=False``: None (the 4D features), "avg" or "max"
            (global pooling to 2D).
        classes: the number of classes of the top (1000 with ImageNet weights).
        classifier_activation: the top's activation (None for logits; only None or
            "softmax" with pretrained weights).
        name: the model's name (default ``mobilenetv2_<alpha>_<rows>``).

    Returns:
        A ``gn.Model``.
    """
    application = "MobileNetV2"
    imagenet_utils.validate_arguments(application, weights, include_top, classes, pooling)
    imagenet_utils.check_input_tensor(application, input_tensor, input_shape)
    if not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ValueError(f"{application}: `alpha` must be a positive number, got "
                         f"alpha={alpha!r}")
    channels_first = image_data_format() == "channels_first"

    # The default size: the square input's side when Keras has weights for it, else 224.
    if input_shape is None and input_tensor is not None:
        rows, cols = (input_tensor.shape[2:4] if channels_first else input_tensor.shape[1:3])
    elif input_shape is not None:
        rows, cols = (input_shape[1:3] if channels_first else input_shape[0:2])
    else:
        rows = cols = None
    default_size = rows if rows == cols and rows in IMAGENET_SIZES else 224

    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32,
        data_format=image_data_format(), require_flatten=include_top, weights=weights)
    rows, cols = (input_shape[1:3] if channels_first else input_shape[0:2])

    if weights == "imagenet":
        if alpha not in IMAGENET_ALPHAS:
            raise ValueError(f"{application}: if imagenet weights are being loaded, alpha "
                             "must be one of `0.35`, `0.50`, `0.75`, `1.0`, `1.3` or `1.4` "
                             f"only; Received `alpha={alpha}`")
        if rows != cols or rows not in IMAGENET_SIZES:
            rows = 224
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not in "
                          "[96, 128, 160, 192, 224]. Weights for input shape (224, 224) will "
                          "be loaded as the default.", stacklevel=2)

    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    channel_axis = 1 if channels_first else -1

    first_block_filters = imagenet_utils.make_divisible(32 * alpha, 8)
    x = layers.Conv2D(first_block_filters, kernel_size=3, strides=(2, 2), padding="same",
                      use_bias=False, name="Conv1")(img_input)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999,
                                  name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)

    block_id = 0
    for filters, stride, repeats in ((16, 1, 1), (24, 2, 2), (32, 2, 3), (64, 2, 4),
                                     (96, 1, 3), (160, 2, 3), (320, 1, 1)):
        for i in range(repeats):
            x = _inverted_res_block(x, filters=filters, alpha=alpha,
                                    stride=stride if i == 0 else 1,
                                    expansion=1 if block_id == 0 else 6, block_id=block_id)
            block_id += 1

    # No alpha below 1 on the last convolution (as the paper says); above 1 it widens too.
    last_block_filters = imagenet_utils.make_divisible(1280 * alpha, 8) if alpha > 1.0 \
        else 1280
    x = layers.Conv2D(last_block_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999,
                                  name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)

    if include_top:   # Keras leaves this pooling layer unnamed
        x = layers.GlobalAveragePooling2D()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.feature_pooling(x, pooling)

    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    # Keras publishes no hashes of MobileNetV2's files: a cached copy is used as it is.
    file_name = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
                 f"{'' if include_top else '_no_top'}.h5")
    return imagenet_utils.application_model(img_input, input_tensor, x, name, weights,
                                            (file_name, BASE_WEIGHT_PATH, None))


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    """Expand (1x1), depthwise 3x3, project (1x1), plus the input when shapes allow."""
    channel_axis = 1 if image_data_format() == "channels_first" else -1

    in_channels = inputs.shape[channel_axis]
    pointwise_conv_filters = int(filters * alpha)
    # The last 1x1 convolution's filters divisible by 8.
    pointwise_filters = imagenet_utils.make_divisible(pointwise_conv_filters, 8)
    x = inputs
    prefix = f"block_{block_id}_"

    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same",
                          use_bias=False, activation=None, name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999,
                                      name=f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"

    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3),
                                 name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999,
                                  name=f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)

    x = layers.Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False,
                      activation=None, name=f"{prefix}project")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999,
                                  name=f"{prefix}project_BN")(x)

    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def preprocess_input(x, data_format=None):
    """Keras's ``mobilenet_v2.preprocess_input``: tf mode (pixels scaled to [-1, 1]); see
    ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
