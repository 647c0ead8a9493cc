"""EfficientNet B0 to B7 (Tan and Le, ICML 2019), as Keras 3 builds them: the same layers,
names, weights and weight order, so Keras's ImageNet ``.h5`` files and ``get_weights()``
load. Preprocessing (pixels in [0, 255], normalized by ImageNet's statistics) is part of
the model."""
import copy
import math

from .. import layers
from ..config import image_data_format
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/keras-applications/"

WEIGHTS_HASHES = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}


def _stage(kernel_size, repeats, filters_in, filters_out, expand_ratio, strides):
    return {"kernel_size": kernel_size, "repeats": repeats, "filters_in": filters_in,
            "filters_out": filters_out, "expand_ratio": expand_ratio, "id_skip": True,
            "strides": strides, "se_ratio": 0.25}


DEFAULT_BLOCKS_ARGS = [
    _stage(3, 1, 32, 16, 1, 1),
    _stage(3, 2, 16, 24, 6, 2),
    _stage(5, 2, 24, 40, 6, 2),
    _stage(3, 3, 40, 80, 6, 2),
    _stage(5, 3, 80, 112, 6, 1),
    _stage(5, 4, 112, 192, 6, 2),
    _stage(3, 1, 192, 320, 6, 1),
]

CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}

DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}

BASE_DOCSTRING = """Instantiates the {name} architecture, optionally with Keras's ImageNet
weights.

The model normalizes its inputs itself (``Rescaling`` and ``Normalization`` layers):
feed float pixels in [0, 255]; ``efficientnet.preprocess_input`` passes its input
through.

Args:
    include_top: whether to end with the pooled 1000-way (``classes``) classifier.
    weights: None (random initialization), "imagenet" (Keras's file, downloaded once
        into ``$GRAPHNET_HOME/models`` and checked against Keras's MD5), or the path of
        a weights file.
    input_tensor: a symbolic tensor to build the model on (its source inputs become the
        model's inputs).
    input_shape: shape without the batch; only with ``include_top=False`` may it differ
        from the default size under the ImageNet top. Height and width at least 32.
    pooling: with ``include_top=False``: None (the 4D features), "avg" or "max" (global
        pooling to 2D).
    classes: the number of classes of the top (1000 with ImageNet weights).
    classifier_activation: the top's activation (None for logits; only None or
        "softmax" with pretrained weights).
    name: the model's name.

Returns:
    A ``gn.Model``.
"""

IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]


def EfficientNet(
    width_coefficient,
    depth_coefficient,
    default_size,
    dropout_rate=0.2,
    drop_connect_rate=0.2,
    depth_divisor=8,
    activation="swish",
    blocks_args="default",
    name="efficientnet",
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    weights_name=None,
):
    """An EfficientNet scaled by ``width_coefficient`` (filters) and ``depth_coefficient``
    (block repeats), for ``default_size`` square inputs; ``dropout_rate`` before the top,
    ``drop_connect_rate`` the stochastic depth of the last block (growing linearly from 0
    at the first), filters rounded to multiples of ``depth_divisor``; ``blocks_args`` the
    stages (``DEFAULT_BLOCKS_ARGS``'s keys); ``weights_name`` ("b0" ... "b7") the ImageNet
    file's hash entry. The other arguments are the variants' (see ``EfficientNetB0``)."""
    application = name
    if blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS
    imagenet_utils.validate_arguments(application, weights, include_top, classes, pooling)
    for arg, value in (("dropout_rate", dropout_rate), ("drop_connect_rate",
                                                        drop_connect_rate)):
        if not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{application}: `{arg}` must be in [0, 1), got "
                             f"{arg}={value!r}")
    if weights == "imagenet" and weights_name not in WEIGHTS_HASHES:
        raise ValueError(f"{application}: `weights_name` must name Keras's ImageNet "
                         f"weights, one of {sorted(WEIGHTS_HASHES)}, got "
                         f"weights_name={weights_name!r}")

    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32,
        data_format=image_data_format(), require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    bn_axis = 3 if image_data_format() == "channels_last" else 1

    def round_filters(filters, divisor=depth_divisor):
        return int(imagenet_utils.make_divisible(filters * width_coefficient, divisor))

    def round_repeats(repeats):
        return int(math.ceil(depth_coefficient * repeats))

    # Stem: ImageNet normalization, then a strided 3x3 convolution.
    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=bn_axis)(x)
    if weights == "imagenet":
        # The Normalization layer holds stddev squared as its variance and divides by
        # its root; the original divides by the variance, hence one more sqrt(stddev).
        x = layers.Rescaling([1.0 / math.sqrt(stddev) for stddev in IMAGENET_STDDEV_RGB])(x)
    x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3),
                             name="stem_conv_pad")(x)
    x = layers.Conv2D(round_filters(32), 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer=CONV_KERNEL_INITIALIZER, name="stem_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(blocks_args)
    b = 0
    blocks = float(sum(round_repeats(args["repeats"]) for args in blocks_args))
    for i, args in enumerate(blocks_args):
        if args["repeats"] <= 0:
            raise ValueError(f"{application}: the number of repeats in `EfficientNet` must "
                             f"be > 0. Received: repeats={args['repeats']}")
        args["filters_in"] = round_filters(args["filters_in"])
        args["filters_out"] = round_filters(args["filters_out"])
        for j in range(round_repeats(args.pop("repeats"))):
            # The first block of a stage changes the stride and the filters.
            if j > 0:
                args["strides"] = 1
                args["filters_in"] = args["filters_out"]
            x = block(x, activation, drop_connect_rate * b / blocks,
                      name=f"block{i + 1}{chr(j + 97)}_", **args)
            b += 1

    x = layers.Conv2D(round_filters(1280), 1, padding="same", use_bias=False,
                      kernel_initializer=CONV_KERNEL_INITIALIZER, name="top_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation,
                         kernel_initializer=DENSE_KERNEL_INITIALIZER, name="predictions")(x)
    else:
        x = imagenet_utils.feature_pooling(x, pooling, ("avg_pool", "max_pool"))

    imagenet_file = None
    if weights == "imagenet":
        imagenet_file = (name + (".h5" if include_top else "_notop.h5"), BASE_WEIGHTS_PATH,
                         WEIGHTS_HASHES[weights_name][0 if include_top else 1])
    return imagenet_utils.application_model(img_input, input_tensor, x, name, weights,
                                            imagenet_file)


def block(inputs, activation="swish", drop_rate=0.0, name="", filters_in=32, filters_out=16,
          kernel_size=3, strides=1, expand_ratio=1, se_ratio=0.0, id_skip=True):
    """An inverted residual block: expand (1x1), depthwise, squeeze and excite, project
    (1x1), plus the input (after drop-connect) when shapes allow."""
    bn_axis = 3 if image_data_format() == "channels_last" else 1

    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False,
                          kernel_initializer=CONV_KERNEL_INITIALIZER,
                          name=f"{name}expand_conv")(inputs)
        x = layers.BatchNormalization(axis=bn_axis, name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    else:
        x = inputs

    if strides == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                 name=f"{name}dwconv_pad")(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=conv_pad, use_bias=False,
                               depthwise_initializer=CONV_KERNEL_INITIALIZER,
                               name=f"{name}dwconv")(x)
    x = layers.BatchNormalization(axis=bn_axis, name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)

    if 0 < se_ratio <= 1:
        filters_se = max(1, int(filters_in * se_ratio))
        se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
        se_shape = (filters, 1, 1) if bn_axis == 1 else (1, 1, filters)
        se = layers.Reshape(se_shape, name=f"{name}se_reshape")(se)
        se = layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                           kernel_initializer=CONV_KERNEL_INITIALIZER,
                           name=f"{name}se_reduce")(se)
        se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                           kernel_initializer=CONV_KERNEL_INITIALIZER,
                           name=f"{name}se_expand")(se)
        x = layers.multiply([x, se], name=f"{name}se_excite")

    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False,
                      kernel_initializer=CONV_KERNEL_INITIALIZER,
                      name=f"{name}project_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, name=f"{name}project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1),
                               name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def _variant(variant, width_coefficient, depth_coefficient, default_size, dropout_rate):
    """``EfficientNet<variant>`` with Keras's signature and scaling."""
    def application(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    name=f"efficientnet{variant.lower()}"):
        return EfficientNet(width_coefficient, depth_coefficient, default_size, dropout_rate,
                            name=name, include_top=include_top, weights=weights,
                            input_tensor=input_tensor, input_shape=input_shape,
                            pooling=pooling, classes=classes,
                            classifier_activation=classifier_activation,
                            weights_name=variant.lower())

    application.__name__ = application.__qualname__ = f"EfficientNet{variant}"
    application.__doc__ = BASE_DOCSTRING.format(name=f"EfficientNet{variant}")
    return application


EfficientNetB0 = _variant("B0", 1.0, 1.0, 224, 0.2)
EfficientNetB1 = _variant("B1", 1.0, 1.1, 240, 0.2)
EfficientNetB2 = _variant("B2", 1.1, 1.2, 260, 0.3)
EfficientNetB3 = _variant("B3", 1.2, 1.4, 300, 0.3)
EfficientNetB4 = _variant("B4", 1.4, 1.8, 380, 0.4)
EfficientNetB5 = _variant("B5", 1.6, 2.2, 456, 0.4)
EfficientNetB6 = _variant("B6", 1.8, 2.6, 528, 0.5)
EfficientNetB7 = _variant("B7", 2.0, 3.1, 600, 0.5)

preprocess_input = imagenet_utils.identity_preprocess_input
decode_predictions = imagenet_utils.decode_predictions
