"""Conv layers' convolution_op(inputs, kernel), the hook Keras 3 gives subclasses that
override call (keras.io's weight-standardised convolution)."""
import numpy as np
import pytest

import graphnet as gn
from graphnet import ops
from extras import keras, needs


class StandardizedConv2D(gn.layers.Conv2D):
    def call(self, inputs):
        mean, var = ops.moments(self.kernel, axes=[0, 1, 2], keepdims=True)
        return self.convolution_op(inputs, ops.divide(ops.subtract(self.kernel, mean),
                                                      ops.sqrt(ops.add(var, 1e-10))))


def _keras_standardized_conv():
    class KerasStandardizedConv2D(keras.layers.Conv2D):
        def call(self, inputs):
            kops = keras.ops
            mean, var = kops.moments(self.kernel, axes=[0, 1, 2], keepdims=True)
            return self.convolution_op(inputs, (self.kernel - mean) / kops.sqrt(var + 1e-10))
    return KerasStandardizedConv2D


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_convolution_op_is_the_plain_convolution(data_format):
    rng = np.random.default_rng(0)
    shape = (2, 7, 6, 3) if data_format == "channels_last" else (2, 3, 7, 6)
    data = rng.standard_normal(shape).astype("float32")
    x = gn.Input(batch_shape=(None,) + shape[1:])
    layer = gn.layers.Conv2D(4, 3, strides=2, padding="same", data_format=data_format,
                             use_bias=False)
    y = layer(x)
    via_op, via_call = gn.function([x], [layer.convolution_op(x, layer.kernel), y])(data)
    assert via_op.shape == via_call.shape == gn.Model(x, y).predict(data).shape
    np.testing.assert_allclose(via_op, via_call, rtol=1e-5, atol=1e-5)


@needs(keras)
def test_weight_standardized_subclass_matches_keras():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((2, 9, 8, 3)).astype("float32")
    k_layer = _keras_standardized_conv()(5, 3, padding="same")
    k_layer.build(data.shape)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    expected = np.asarray(k_layer(data).detach().cpu())

    x = gn.Input(batch_shape=(None, 9, 8, 3))
    layer = StandardizedConv2D(5, 3, padding="same")
    model = gn.Model(x, layer(x))
    layer.set_weights(weights)
    np.testing.assert_allclose(model.predict(data), expected, rtol=1e-4, atol=1e-4)
