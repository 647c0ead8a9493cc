"""MobileNetV3 Small and Large (Howard et al., ICCV 2019), as Keras 3 builds them: the same
layers, names, weights and weight order, so Keras's ImageNet ``.h5`` files and
``get_weights()`` load. Preprocessing (pixels in [0, 255] to [-1, 1]) is part of the model
unless ``include_preprocessing=False``."""
import warnings

from .. import layers
from ..config import image_data_format
from . import imagenet_utils

BASE_WEIGHT_PATH = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
)
WEIGHTS_HASHES = {
    "large_224_0.75_float": (
        "765b44a33ad4005b3ac83185abf1d0eb",
        "40af19a13ebea4e2ee0c676887f69a2e",
    ),
    "large_224_1.0_float": (
        "59e551e166be033d707958cf9e29a6a7",
        "07fb09a5933dd0c8eaafa16978110389",
    ),
    "large_minimalistic_224_1.0_float": (
        "675e7b876c45c57e9e63e6d90a36599c",
        "ec5221f64a2f6d1ef965a614bdae7973",
    ),
    "small_224_0.75_float": (
        "cb65d4e5be93758266aa0a7f2c6708b7",
        "ebdb5cc8e0b497cd13a7c275d475c819",
    ),
    "small_224_1.0_float": (
        "8768d4c2e7dee89b9d02b2d03d65d862",
        "d3e8ec802a04aa4fc771ee12a9a9b836",
    ),
    "small_minimalistic_224_1.0_float": (
        "99cd97fb2fcdad2bf028eb838de69e37",
        "cde8136e733e811080d9fcd8a252f7e4",
    ),
}

BASE_DOCSTRING = """Instantiates the {name} architecture, optionally with Keras's ImageNet
weights.

The model rescales its inputs itself (a ``Rescaling`` layer): feed pixels in [0, 255], or
in [-1, 1] with ``include_preprocessing=False``; ``mobilenet_v3.preprocess_input`` passes
its input through.

Args:
    input_shape: shape without the batch, e.g. ``(160, 160, 3)``, height and width at
        least 32. Defaults to the input tensor's, else ``(None, None, 3)``.
    alpha: the width multiplier: below 1 fewer, above 1 more filters in every layer.
        ImageNet weights exist for 0.75 and 1.0 (1.0 only when minimalistic).
    minimalistic: without squeeze-and-excite blocks, hard-swish and 5x5 convolutions.
    include_top: whether to end with the 1000-way (``classes``) classifier.
    weights: None (random initialization), "imagenet" (Keras's file, downloaded once
        into ``$GRAPHNET_HOME/models`` and checked against Keras's MD5), or the path of
        a weights file.
    input_tensor: a symbolic tensor to build the model on (its source inputs become the
        model's inputs).
    classes: the number of classes of the top (1000 with ImageNet weights).
    pooling: with ``include_top=False``: None (the 4D features), "avg" or "max" (global
        pooling to 2D).
    dropout_rate: the fraction of the top's features dropped in training (0: no Dropout
        layer).
    classifier_activation: the top's activation (None for logits; only None or
        "softmax" with pretrained weights).
    include_preprocessing: whether the model starts with ``Rescaling(1 / 127.5, -1)``.
    name: the model's name.

Returns:
    A ``gn.Model``.
"""


def MobileNetV3(
    stack_fn,
    last_point_ch,
    input_shape=None,
    alpha=1.0,
    model_type="large",
    minimalistic=False,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.2,
    classifier_activation="softmax",
    include_preprocessing=True,
    name=None,
):
    """The MobileNetV3 of ``model_type`` ("small" or "large"): ``stack_fn(x, kernel,
    activation, se_ratio)`` builds its inverted residual blocks and ``last_point_ch`` is
    the width of the top's last point-wise layer; the other arguments are
    ``MobileNetV3Small``'s."""
    application = f"MobileNetV3{model_type.capitalize()}"
    imagenet_utils.validate_arguments(application, weights, include_top, classes, pooling)
    imagenet_utils.check_input_tensor(application, input_tensor, input_shape)
    if not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ValueError(f"{application}: `alpha` must be a positive number, got "
                         f"alpha={alpha!r}")
    if not isinstance(dropout_rate, (int, float)) or not 0 <= dropout_rate < 1:
        raise ValueError(f"{application}: `dropout_rate` must be in [0, 1), got "
                         f"dropout_rate={dropout_rate!r}")
    channels_first = image_data_format() == "channels_first"

    if input_shape is None and input_tensor is not None:
        # Keras's order of the sides (as it builds it): (cols, rows).
        if channels_first:
            rows, cols = input_tensor.shape[2:4]
            input_shape = (3, cols, rows)
        else:
            rows, cols = input_tensor.shape[1:3]
            input_shape = (cols, rows, 3)
    if input_shape is None:
        input_shape = (3, None, None) if channels_first else (None, None, 3)
    if len(input_shape) != 3:
        raise ValueError(f"{application}: `input_shape` must be a tuple of three integers, "
                         f"got input_shape={input_shape}")

    rows, cols = (input_shape[1:3] if channels_first else input_shape[0:2])
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError(f"{application}: Input size must be at least 32x32; Received "
                         f"`input_shape={input_shape}`")
    if weights == "imagenet":
        if (not minimalistic and alpha not in [0.75, 1.0]
                or minimalistic and alpha != 1.0):
            raise ValueError(f"{application}: if imagenet weights are being loaded, alpha "
                             "can be one of `0.75`, `1.0` for non minimalistic or `1.0` for "
                             f"minimalistic only; Received `alpha={alpha}`")
        if rows != cols or rows != 224:
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not 224. "
                          "Weights for input shape (224, 224) will be loaded as the "
                          "default.", stacklevel=3)

    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    channel_axis = 1 if channels_first else -1

    if minimalistic:
        kernel, activation, se_ratio = 3, relu, None
    else:
        kernel, activation, se_ratio = 5, hard_swish, 0.25

    x = img_input
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="conv")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999,
                                  name="conv_bn")(x)
    x = activation(x)

    x = stack_fn(x, kernel, activation, se_ratio)

    last_conv_ch = _depth(x.shape[channel_axis] * 6)
    # A width multiplier above 1 widens the last point-wise layer too.
    if alpha > 1.0:
        last_point_ch = _depth(last_point_ch * alpha)
    x = layers.Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False,
                      name="conv_1")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999,
                                  name="conv_1_bn")(x)
    x = activation(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True,
                          name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
        x = layers.Flatten()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.feature_pooling(x, pooling, ("avg_pool", "max_pool"))

    imagenet_file = None
    if weights == "imagenet":
        model_name = (f"{model_type}{'_minimalistic' if minimalistic else ''}_224_"
                      f"{float(alpha)}_float")
        file_name = f"weights_mobilenet_v3_{model_name}" + \
            (".h5" if include_top else "_no_top_v2.h5")
        imagenet_file = (file_name, BASE_WEIGHT_PATH,
                         WEIGHTS_HASHES[model_name][0 if include_top else 1])
    return imagenet_utils.application_model(img_input, input_tensor, x, name, weights,
                                            imagenet_file)


def _small_stack(x, kernel, activation, se_ratio, alpha):
    def depth(d):
        return _depth(d * alpha)

    x = _inverted_res_block(x, 1, depth(16), 3, 2, se_ratio, relu, 0)
    x = _inverted_res_block(x, 72.0 / 16, depth(24), 3, 2, None, relu, 1)
    x = _inverted_res_block(x, 88.0 / 24, depth(24), 3, 1, None, relu, 2)
    x = _inverted_res_block(x, 4, depth(40), kernel, 2, se_ratio, activation, 3)
    x = _inverted_res_block(x, 6, depth(40), kernel, 1, se_ratio, activation, 4)
    x = _inverted_res_block(x, 6, depth(40), kernel, 1, se_ratio, activation, 5)
    x = _inverted_res_block(x, 3, depth(48), kernel, 1, se_ratio, activation, 6)
    x = _inverted_res_block(x, 3, depth(48), kernel, 1, se_ratio, activation, 7)
    x = _inverted_res_block(x, 6, depth(96), kernel, 2, se_ratio, activation, 8)
    x = _inverted_res_block(x, 6, depth(96), kernel, 1, se_ratio, activation, 9)
    x = _inverted_res_block(x, 6, depth(96), kernel, 1, se_ratio, activation, 10)
    return x


def _large_stack(x, kernel, activation, se_ratio, alpha):
    def depth(d):
        return _depth(d * alpha)

    x = _inverted_res_block(x, 1, depth(16), 3, 1, None, relu, 0)
    x = _inverted_res_block(x, 4, depth(24), 3, 2, None, relu, 1)
    x = _inverted_res_block(x, 3, depth(24), 3, 1, None, relu, 2)
    x = _inverted_res_block(x, 3, depth(40), kernel, 2, se_ratio, relu, 3)
    x = _inverted_res_block(x, 3, depth(40), kernel, 1, se_ratio, relu, 4)
    x = _inverted_res_block(x, 3, depth(40), kernel, 1, se_ratio, relu, 5)
    x = _inverted_res_block(x, 6, depth(80), 3, 2, None, activation, 6)
    x = _inverted_res_block(x, 2.5, depth(80), 3, 1, None, activation, 7)
    x = _inverted_res_block(x, 2.3, depth(80), 3, 1, None, activation, 8)
    x = _inverted_res_block(x, 2.3, depth(80), 3, 1, None, activation, 9)
    x = _inverted_res_block(x, 6, depth(112), 3, 1, se_ratio, activation, 10)
    x = _inverted_res_block(x, 6, depth(112), 3, 1, se_ratio, activation, 11)
    x = _inverted_res_block(x, 6, depth(160), kernel, 2, se_ratio, activation, 12)
    x = _inverted_res_block(x, 6, depth(160), kernel, 1, se_ratio, activation, 13)
    x = _inverted_res_block(x, 6, depth(160), kernel, 1, se_ratio, activation, 14)
    return x


def _variant(model_type, stack, last_point_ch):
    """``MobileNetV3<model_type>`` with Keras's signature: ``stack`` between the stem and
    the last convolutions."""
    def application(input_shape=None, alpha=1.0, minimalistic=False, include_top=True,
                    weights="imagenet", input_tensor=None, classes=1000, pooling=None,
                    dropout_rate=0.2, classifier_activation="softmax",
                    include_preprocessing=True, name=f"MobileNetV3{model_type.capitalize()}"):
        def stack_fn(x, kernel, activation, se_ratio):
            return stack(x, kernel, activation, se_ratio, alpha)

        return MobileNetV3(stack_fn, last_point_ch, input_shape, alpha, model_type,
                           minimalistic, include_top, weights, input_tensor, classes, pooling,
                           dropout_rate, classifier_activation, include_preprocessing,
                           name=name)

    application.__name__ = application.__qualname__ = f"MobileNetV3{model_type.capitalize()}"
    application.__doc__ = BASE_DOCSTRING.format(name=application.__name__)
    return application


MobileNetV3Small = _variant("small", _small_stack, 1024)
MobileNetV3Large = _variant("large", _large_stack, 1280)


def relu(x):
    return layers.ReLU()(x)


def hard_sigmoid(x):
    """relu6(x + 3) / 6, as Keras writes it: ops between layers, recorded in the model."""
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def hard_swish(x):
    return layers.Activation("hard_swish")(x)


def _depth(v):
    """Channels rounded to a multiple of 8 (``imagenet_utils.make_divisible``)."""
    return imagenet_utils.make_divisible(v, 8)


def _se_block(inputs, filters, se_ratio, prefix):
    """Squeeze and excite: the channels scaled by a gate computed from their means."""
    x = layers.GlobalAveragePooling2D(keepdims=True,
                                      name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = layers.Conv2D(_depth(filters * se_ratio), kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv")(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv_1")(x)
    x = hard_sigmoid(x)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def _inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, activation,
                        block_id):
    channel_axis = 1 if image_data_format() == "channels_first" else -1
    shortcut = x
    prefix = "expanded_conv_"
    infilters = x.shape[channel_axis]
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = layers.Conv2D(_depth(infilters * expansion), kernel_size=1, padding="same",
                          use_bias=False, name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999,
                                      name=f"{prefix}expand_bn")(x)
        x = activation(x)

    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                 name=f"{prefix}depthwise_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride,
                               padding="same" if stride == 1 else "valid", use_bias=False,
                               name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999,
                                  name=f"{prefix}depthwise_bn")(x)
    x = activation(x)

    if se_ratio:
        x = _se_block(x, _depth(infilters * expansion), se_ratio, prefix)

    x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False,
                      name=f"{prefix}project")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999,
                                  name=f"{prefix}project_bn")(x)

    if stride == 1 and infilters == filters:
        x = layers.Add(name=f"{prefix}add")([shortcut, x])
    return x


# The models rescale their inputs themselves; Keras keeps the names for code written for
# the other applications.
preprocess_input = imagenet_utils.identity_preprocess_input
decode_predictions = imagenet_utils.decode_predictions
