"""Depthwise convolutions with a channel multiplier take the vectorized depthwise loops
(widened input rows, csrc/conv_internal.h) forward and in both gradients: the compiled
op and training step against the NumPy reference backend, multipliers 1 to 3, odd
sizes."""
import numpy as np
import pytest

import graphnet as gn
from graphnet import ops
from op_check import check_op
from train_check import assert_backends_train_alike

L = gn.layers
BATCH_ONLY = [(0,), ()]     # None batch on the input, a fully known kernel


@pytest.mark.parametrize("m", [1, 2, 3])
@pytest.mark.parametrize("xs,k,kwargs", [
    ((2, 7, 9, 5), (3, 3), dict(padding="same")),
    ((3, 11, 6, 17), (2, 3), dict(strides=(1, 2), dilation_rate=(2, 1))),
    ((1, 5, 13, 3), (3, 5), dict(strides=2, padding="same")),
    ((2, 19, 7), (3,), dict(padding="causal")),
])
def test_depthwise_conv_op_with_multiplier(xs, k, kwargs, m):
    check_op(lambda x, w: ops.depthwise_conv(x, w, **kwargs), [xs, (*k, xs[-1], m)],
             none_axes=BATCH_ONLY, op="CONV")


@pytest.mark.parametrize("m", [1, 2, 3])
def test_depthwise_layer_trains_like_the_reference(m):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20, 9, 7, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]

    def build():
        gn.utils.set_random_seed(m)
        return gn.Sequential([gn.Input((9, 7, 5)),
                              L.DepthwiseConv2D(3, depth_multiplier=m, padding="same",
                                                activation="relu"),
                              L.DepthwiseConv2D((2, 3), strides=2, depth_multiplier=m),
                              L.Flatten(), L.Dense(3, activation="softmax")])

    assert_backends_train_alike(build, x, y, optimizer="adam", batch_size=7, epochs=2)
