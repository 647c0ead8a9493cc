"""Automatic layer names follow Keras 3's to_snake_case: 'conv2d', 'max_pooling2d', ..."""
import inspect

import pytest

import graphnet as gn
from graphnet import backend
from extras import keras, needs

NAMED_LIKE_KERAS = {
    "Conv2D": "conv2d", "Conv1DTranspose": "conv1d_transpose",
    "MaxPooling2D": "max_pooling2d", "GlobalAveragePooling2D": "global_average_pooling2d",
    "BatchNormalization": "batch_normalization", "Conv2DTranspose": "conv2d_transpose",
    "DepthwiseConv2D": "depthwise_conv2d", "UpSampling2D": "up_sampling2d",
    "ZeroPadding3D": "zero_padding3d", "Dense": "dense", "LSTM": "lstm",
}


@pytest.mark.parametrize("class_name,expected", sorted(NAMED_LIKE_KERAS.items()))
def test_snake_case_of_keras_class_names(class_name, expected):
    assert backend.snake_case(class_name) == expected


def _layer_classes():
    return sorted(name for name, obj in vars(gn.layers).items()
                  if inspect.isclass(obj) and issubclass(obj, gn.layers.Layer)
                  and not name.startswith("_"))


def test_first_conv2d_is_named_conv2d_then_numbered():
    backend.clear_session()
    first, second = gn.layers.Conv2D(2, 3), gn.layers.Conv2D(2, 3)
    assert (first.name, second.name) == ("conv2d", "conv2d_1")


@needs(keras)
def test_every_layer_default_name_matches_keras():
    checked = 0
    for name in _layer_classes():
        keras_cls = getattr(keras.layers, name, None)
        if keras_cls is None:
            continue
        expected = keras.src.utils.naming.to_snake_case(keras_cls.__name__)
        assert backend.snake_case(getattr(gn.layers, name).__name__) == expected, name
        checked += 1
    assert checked >= 40, checked
