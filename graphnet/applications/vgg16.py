"""VGG16, as ``keras.applications.vgg16``: the same layers, names and weights.

Reference: [Very Deep Convolutional Networks for Large-Scale Image Recognition](
https://arxiv.org/abs/1409.1556) (ICLR 2015). Call ``vgg16.preprocess_input`` (caffe
mode: RGB to BGR, zero-centred by ImageNet's mean) on images in [0, 255].
"""
from .. import backend, layers
from . import imagenet_utils
from .resnet import MODEL_DOC

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
WEIGHTS_HASHES = ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc")
BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))   # (filters, convolutions)


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg16"):
    """Instantiates the VGG16 model (Keras's ``keras.applications.VGG16``)."""
    imagenet_utils.validate_arguments(name, weights, include_top, classes, pooling)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, data_format=backend.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = img_input
    for block, (filters, convolutions) in enumerate(BLOCKS, start=1):
        for conv in range(1, convolutions + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{conv}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.feature_pooling(x, pooling)

    imagenet_file = imagenet_utils.keras_weights_file("vgg16", include_top,
                                                      BASE_WEIGHTS_PATH, WEIGHTS_HASHES)
    return imagenet_utils.application_model(img_input, input_tensor, x, name, weights,
                                            imagenet_file)


VGG16.__doc__ += MODEL_DOC


def preprocess_input(x, data_format=None):
    """Keras's ``vgg16.preprocess_input``: caffe mode (RGB to BGR, each channel
    zero-centred by ImageNet's mean, unscaled)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
