"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector (against Keras 3)."""
import numpy as np
import pytest

import graphnet as gn
from layer_check import assert_raises_naming, check_layer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
L = gn.layers


@pytest.mark.parametrize("kwargs,input_shape,expected", [
    ({}, (2, 3, 4), (None, 12)),
    ({}, (1, 7), (None, 7)),
    ({}, (3, 1, 1, 1), (None, 1)),
    ({}, (2, 13, 7, 3), (None, 273)),
    ({}, (0, 5, 2), (None, 10)),
    ({}, (3,), (None, 1)),
    ({"data_format": "channels_first"}, (2, 3, 5, 7), (None, 105)),
    ({"data_format": "channels_first"}, (2, 13), (None, 13)),
    ({"data_format": "channels_last"}, (1, 257, 2), (None, 514)),
])
def test_flatten(kwargs, input_shape, expected):
    result = check_layer(L.Flatten, kwargs, input_shape, expected_output_shape=expected)
    x = result.data
    if kwargs.get("data_format") == "channels_first" and x.ndim > 2:
        x = np.moveaxis(x, 1, -1)
    np.testing.assert_array_equal(result.output, x.reshape(x.shape[0], int(np.prod(x.shape[1:]))))


def test_flatten_unknown_dims():
    x = gn.Input(batch_shape=(None, None, 3))
    y = L.Flatten()(x)
    assert y.shape == (None, None)
    model = gn.Model(x, y)
    assert model.predict(np.ones((2, 5, 3), "float32")).shape == (2, 15)


@pytest.mark.parametrize("target,input_shape,expected", [
    ((3, 4), (2, 12), (None, 3, 4)),
    ((-1,), (2, 3, 4), (None, 12)),
    ((-1, 2, 2), (2, 12), (None, 3, 2, 2)),
    ((7, -1), (1, 7, 13), (None, 7, 13)),
    ((1,), (3, 1), (None, 1)),
    ((257, 1), (2, 257), (None, 257, 1)),
    ((13, 1, 7), (0, 91), (None, 13, 1, 7)),
])
def test_reshape(target, input_shape, expected):
    result = check_layer(L.Reshape, {"target_shape": target}, input_shape,
                         expected_output_shape=expected)
    np.testing.assert_array_equal(result.output.ravel(), result.data.ravel())


def test_reshape_unknown_dims():
    x = gn.Input(batch_shape=(None, None, 4))
    y = L.Reshape((-1, 2))(x)
    assert y.shape == (None, None, 2)
    assert gn.Model(x, y).predict(np.ones((3, 5, 4), "float32")).shape == (3, 10, 2)


def test_reshape_errors():
    assert_raises_naming(lambda: L.Reshape((3, 5), name="rs")(gn.Input((12,))),
                         "'rs'", "(None, 12)", "(3, 5)")
    assert_raises_naming(lambda: L.Reshape((-1, 5))(gn.Input((12,))), "(None, 12)", "(-1, 5)")
    assert_raises_naming(lambda: L.Reshape((-1, -1)), "target_shape")
    assert_raises_naming(lambda: L.Reshape((0, 3)), "target_shape")
    assert_raises_naming(lambda: L.Reshape("ab"), "target_shape")


@pytest.mark.parametrize("dims,input_shape,expected", [
    ((2, 1), (2, 3, 4), (None, 4, 3)),
    ((1,), (3, 7), (None, 7)),
    ((3, 1, 2), (2, 13, 1, 7), (None, 7, 13, 1)),
    ((1, 2, 3), (1, 2, 3, 5), (None, 2, 3, 5)),
    ((2, 1), (0, 257, 2), (None, 2, 257)),
])
def test_permute(dims, input_shape, expected):
    result = check_layer(L.Permute, {"dims": dims}, input_shape, expected_output_shape=expected)
    np.testing.assert_array_equal(result.output,
                                  np.transpose(result.data, (0,) + tuple(dims)))


def test_permute_errors():
    assert_raises_naming(lambda: L.Permute((0, 1)), "dims")
    assert_raises_naming(lambda: L.Permute((1, 1)), "dims")
    assert_raises_naming(lambda: L.Permute((2, 1), name="p")(gn.Input((3,))), "'p'", "ndim=3",
                         "(None, 3)")


@pytest.mark.parametrize("n,input_shape", [(1, (2, 3)), (7, (3, 1)), (13, (1, 7)),
                                           (3, (2, 257)), (2, (0, 4))])
def test_repeat_vector(n, input_shape):
    result = check_layer(L.RepeatVector, {"n": n}, input_shape,
                         expected_output_shape=(None, n, input_shape[1]))
    np.testing.assert_array_equal(result.output,
                                  np.repeat(result.data[:, None, :], n, axis=1))


def test_repeat_vector_errors():
    assert_raises_naming(lambda: L.RepeatVector(0), "n")
    assert_raises_naming(lambda: L.RepeatVector(2.5), "n", exc=TypeError)
    assert_raises_naming(lambda: L.RepeatVector(2, name="rv")(gn.Input((3, 4))), "'rv'",
                         "ndim=2", "(None, 3, 4)")


def test_flatten_errors():
    assert_raises_naming(lambda: L.Flatten(data_format="nchw"), "data_format")
