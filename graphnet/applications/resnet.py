"""ResNet50, ResNet101 and ResNet152 (and the builder ResNet50V2's family shares), as
``keras.applications.resnet``: the same layers, names and weights.

Reference: [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385)
(CVPR 2015). Call ``resnet.preprocess_input`` (caffe mode: RGB to BGR, zero-centred by
ImageNet's mean) on images in [0, 255] before the model.
"""
from .. import backend, layers
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
WEIGHTS_HASHES = {   # (with the top, without) MD5s of Keras's files
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}
BN_EPSILON = 1.001e-5

MODEL_DOC = """

    Args:
        include_top: whether to include the fully-connected layer at the top.
        weights: None (random initialization), "imagenet" (Keras's pre-trained file,
            downloaded once into the cache) or the path to a weights file (Keras's
            application ``.h5``, a ``.weights.h5``, or graphnet's).
        input_tensor: optional symbolic tensor to use as the image input.
        input_shape: optional shape tuple, only with include_top=False (otherwise
            (224, 224, 3)); 3 channels, sides at least 32.
        pooling: with include_top=False, None (the 4D feature map), "avg" or "max"
            (global pooling to a 2D tensor).
        classes: the number of classes of the top layer (1000 with "imagenet").
        classifier_activation: the top layer's activation (None or "softmax" with
            pretrained weights).
        name: the model's name.

    Returns:
        A functional ``gn.Model``.
"""


def _bn_axis():
    return 3 if backend.image_data_format() == "channels_last" else 1


def _batch_norm(x, name):
    return layers.BatchNormalization(axis=_bn_axis(), epsilon=BN_EPSILON, name=name)(x)


def ResNet(stack_fn, preact, use_bias, include_top=True, weights="imagenet",
           input_tensor=None, input_shape=None, pooling=None, classes=1000,
           classifier_activation="softmax", name="resnet", weights_name=None):
    """The ResNet (preact=False) and ResNetV2 (preact=True) architecture around the
    residual stacks ``stack_fn`` builds; ``weights_name`` keys Keras's ImageNet files."""
    imagenet_utils.validate_arguments(name, weights, include_top, classes, pooling)
    if weights == "imagenet" and weights_name not in WEIGHTS_HASHES:
        raise ValueError(f"{name}: Keras publishes no ImageNet weights for it; pass "
                         "weights=None or a path")
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, data_format=backend.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)

    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    if not preact:
        x = _batch_norm(x, "conv1_bn")
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(x)
    if preact:
        x = _batch_norm(x, "post_bn")
        x = layers.Activation("relu", name="post_relu")(x)

    x = imagenet_utils.top_or_pooling(x, include_top, pooling, classes, classifier_activation,
                                      weights, ("avg_pool", "max_pool"))
    imagenet_file = imagenet_utils.keras_weights_file(
        weights_name, include_top, BASE_WEIGHTS_PATH, WEIGHTS_HASHES[weights_name]) \
        if weights == "imagenet" else None
    return imagenet_utils.application_model(img_input, input_tensor, x, name, weights,
                                            imagenet_file)


def residual_block_v1(x, filters, kernel_size=3, stride=1, conv_shortcut=True, name=None):
    """A bottleneck residual block of ResNet v1 (post-activation)."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _batch_norm(shortcut, f"{name}_0_bn")
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = _batch_norm(x, f"{name}_1_bn")
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", name=f"{name}_2_conv")(x)
    x = _batch_norm(x, f"{name}_2_bn")
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _batch_norm(x, f"{name}_3_bn")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def stack_residual_blocks_v1(x, filters, blocks, stride1=2, name=None):
    """``blocks`` v1 blocks; the first has a convolution shortcut and stride ``stride1``."""
    x = residual_block_v1(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = residual_block_v1(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def residual_block_v2(x, filters, kernel_size=3, stride=1, conv_shortcut=False, name=None):
    """A bottleneck residual block of ResNet v2 (pre-activation)."""
    preact = _batch_norm(x, f"{name}_preact_bn")
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride,
                                 name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = _batch_norm(x, f"{name}_1_bn")
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, kernel_size, strides=stride, use_bias=False,
                      name=f"{name}_2_conv")(x)
    x = _batch_norm(x, f"{name}_2_bn")
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def stack_residual_blocks_v2(x, filters, blocks, stride1=2, name=None):
    """``blocks`` v2 blocks; the first has a convolution shortcut, the last stride
    ``stride1``."""
    x = residual_block_v2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = residual_block_v2(x, filters, name=f"{name}_block{i}")
    return residual_block_v2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def _v1_stacks(blocks):
    """The stack_fn of a ResNet v1 with ``blocks`` blocks in its four stacks."""
    def stack_fn(x):
        x = stack_residual_blocks_v1(x, 64, blocks[0], stride1=1, name="conv2")
        x = stack_residual_blocks_v1(x, 128, blocks[1], name="conv3")
        x = stack_residual_blocks_v1(x, 256, blocks[2], name="conv4")
        return stack_residual_blocks_v1(x, 512, blocks[3], name="conv5")
    return stack_fn


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name="resnet50"):
    """Instantiates the ResNet50 architecture (Keras's ``keras.applications.ResNet50``)."""
    return ResNet(_v1_stacks((3, 4, 6, 3)), False, True, include_top, weights, input_tensor,
                  input_shape, pooling, classes, classifier_activation, name, "resnet50")


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name="resnet101"):
    """Instantiates the ResNet101 architecture (``keras.applications.ResNet101``)."""
    return ResNet(_v1_stacks((3, 4, 23, 3)), False, True, include_top, weights, input_tensor,
                  input_shape, pooling, classes, classifier_activation, name, "resnet101")


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name="resnet152"):
    """Instantiates the ResNet152 architecture (``keras.applications.ResNet152``)."""
    return ResNet(_v1_stacks((3, 8, 36, 3)), False, True, include_top, weights, input_tensor,
                  input_shape, pooling, classes, classifier_activation, name, "resnet152")


for _model in (ResNet50, ResNet101, ResNet152):
    _model.__doc__ += MODEL_DOC


def preprocess_input(x, data_format=None):
    """Keras's ``resnet.preprocess_input``: caffe mode (RGB to BGR, each channel
    zero-centred by ImageNet's mean, unscaled); see ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
