"""Convolutional-network layers against Keras 3 (torch backend): convolutions, pooling,
padding/cropping/upsampling, normalization and noise; plus their error paths and
BatchNormalization's moving statistics."""
import numpy as np
import pytest

import graphnet as gn
from extras import keras, needs
from layer_check import assert_raises_naming, check_layer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::UserWarning")
L = gn.layers
CF = {"data_format": "channels_first"}


# ---- convolutions ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls,kwargs,shape", [
    (L.Conv1D, dict(filters=4, kernel_size=3), (2, 9, 3)),
    (L.Conv1D, dict(filters=3, kernel_size=2, strides=3, padding="same"), (2, 7, 2)),
    (L.Conv1D, dict(filters=2, kernel_size=3, padding="causal", dilation_rate=2), (2, 8, 3)),
    (L.Conv1D, dict(filters=4, kernel_size=3, groups=2, activation="relu", **CF), (2, 4, 7)),
    (L.Conv2D, dict(filters=5, kernel_size=3), (2, 7, 6, 3)),
    (L.Conv2D, dict(filters=4, kernel_size=(3, 2), strides=(2, 3), padding="same"),
     (2, 9, 8, 3)),
    (L.Conv2D, dict(filters=3, kernel_size=2, dilation_rate=(2, 1), padding="same"),
     (2, 5, 6, 2)),
    (L.Conv2D, dict(filters=6, kernel_size=3, groups=3, use_bias=False), (1, 5, 5, 6)),
    (L.Conv2D, dict(filters=4, kernel_size=1), (3, 4, 5, 7)),
    (L.Conv2D, dict(filters=3, kernel_size=1, strides=2), (2, 5, 5, 4)),
    (L.Conv2D, dict(filters=2, kernel_size=(5, 4)), (2, 5, 4, 3)),      # kernel as large
    (L.Conv2D, dict(filters=2, kernel_size=2, strides=3), (2, 7, 7, 3)),
    (L.Conv2D, dict(filters=3, kernel_size=3, padding="same"), (2, 1, 1, 2)),   # 1x1 input
    (L.Conv2D, dict(filters=4, kernel_size=3, strides=2, padding="same",
                    activation="tanh", **CF), (2, 3, 7, 6)),
    (L.Conv3D, dict(filters=3, kernel_size=2), (2, 4, 3, 5, 2)),
    (L.Conv3D, dict(filters=2, kernel_size=(3, 1, 2), strides=(1, 2, 1), padding="same",
                    **CF), (1, 3, 4, 5, 3)),
])
def test_conv(cls, kwargs, shape):
    check_layer(cls, kwargs, shape)


@pytest.mark.parametrize("cls,kwargs,shape", [
    (L.Conv1DTranspose, dict(filters=3, kernel_size=3), (2, 5, 2)),
    (L.Conv1DTranspose, dict(filters=2, kernel_size=2, strides=3, padding="same"), (2, 4, 3)),
    (L.Conv2DTranspose, dict(filters=3, kernel_size=3), (2, 4, 5, 2)),
    (L.Conv2DTranspose, dict(filters=2, kernel_size=3, strides=2, padding="same"),
     (2, 3, 4, 3)),
    (L.Conv2DTranspose, dict(filters=2, kernel_size=(3, 2), strides=(2, 3), padding="valid",
                             output_padding=(1, 2)), (1, 3, 3, 2)),
    (L.Conv2DTranspose, dict(filters=2, kernel_size=1, strides=4), (2, 2, 2, 3)),
    (L.Conv2DTranspose, dict(filters=3, kernel_size=3, dilation_rate=2, padding="same",
                             **CF), (2, 2, 4, 5)),
    (L.Conv2DTranspose, dict(filters=2, kernel_size=4, strides=2, padding="same",
                             output_padding=1), (1, 3, 3, 2)),
    (L.Conv3DTranspose, dict(filters=2, kernel_size=2, strides=2), (1, 2, 3, 2, 3)),
    (L.Conv3DTranspose, dict(filters=2, kernel_size=3, strides=(1, 2, 1), padding="same",
                             **CF), (1, 2, 3, 2, 3)),
])
def test_conv_transpose(cls, kwargs, shape):
    check_layer(cls, kwargs, shape)


@pytest.mark.parametrize("cls,kwargs,shape", [
    (L.DepthwiseConv2D, dict(kernel_size=3), (2, 6, 5, 3)),
    (L.DepthwiseConv2D, dict(kernel_size=(2, 3), depth_multiplier=2, strides=2,
                             padding="same"), (2, 7, 6, 3)),
    (L.DepthwiseConv2D, dict(kernel_size=3, dilation_rate=2, **CF), (2, 4, 7, 7)),
    (L.DepthwiseConv1D, dict(kernel_size=3, depth_multiplier=3), (2, 8, 2)),
    (L.SeparableConv2D, dict(filters=4, kernel_size=3), (2, 6, 6, 3)),
    (L.SeparableConv2D, dict(filters=3, kernel_size=2, depth_multiplier=2, strides=2,
                             padding="same", activation="relu", **CF), (2, 2, 5, 5)),
    (L.SeparableConv1D, dict(filters=3, kernel_size=3, padding="same"), (2, 7, 4)),
])
def test_depthwise_separable(cls, kwargs, shape):
    check_layer(cls, kwargs, shape)


# ---- pooling ----------------------------------------------------------------------------

@pytest.mark.parametrize("cls,kwargs,shape", [
    (L.MaxPooling1D, {}, (2, 7, 3)),
    (L.MaxPooling1D, dict(pool_size=3, strides=1, padding="same"), (2, 6, 2)),
    (L.MaxPooling2D, {}, (2, 6, 7, 3)),
    (L.MaxPooling2D, dict(pool_size=(3, 2), strides=(1, 3), padding="same"), (2, 5, 7, 2)),
    (L.MaxPooling2D, dict(pool_size=2, strides=3), (1, 7, 8, 2)),    # stride > window
    (L.MaxPooling2D, dict(pool_size=2, **CF), (2, 3, 4, 5)),
    (L.MaxPooling3D, {}, (1, 4, 4, 5, 2)),
    (L.MaxPooling3D, dict(pool_size=(1, 2, 3), padding="same", **CF), (1, 2, 3, 4, 5)),
    (L.AveragePooling1D, dict(pool_size=2), (2, 7, 3)),
    (L.AveragePooling1D, dict(pool_size=3, strides=1, padding="same"), (2, 6, 2)),
    (L.AveragePooling2D, dict(pool_size=2), (2, 6, 7, 3)),
    (L.AveragePooling2D, dict(pool_size=3, strides=1, padding="same"), (2, 5, 4, 2)),
    (L.AveragePooling2D, dict(pool_size=(2, 3), strides=2, **CF), (2, 3, 5, 7)),
    (L.AveragePooling3D, dict(pool_size=2), (1, 4, 5, 4, 2)),
])
def test_pooling(cls, kwargs, shape):
    check_layer(cls, kwargs, shape)


def test_average_pooling_same_excludes_padding():
    """'same' padding is never counted (TensorFlow's rule); Keras's torch backend
    replicates edges instead when the padding is asymmetric, so compare with NumPy."""
    x = np.arange(2 * 4 * 4 * 1, dtype="float32").reshape(2, 4, 4, 1)
    out = L.AveragePooling2D(2, strides=1, padding="same")(x)
    assert out.shape == (2, 4, 4, 1)
    np.testing.assert_allclose(out[0, 3, 3, 0], x[0, 3, 3, 0])
    np.testing.assert_allclose(out[0, 3, 0, 0], (x[0, 3, 0, 0] + x[0, 3, 1, 0]) / 2)


@pytest.mark.parametrize("cls", [L.GlobalMaxPooling1D, L.GlobalAveragePooling1D,
                                 L.GlobalMaxPooling2D, L.GlobalAveragePooling2D,
                                 L.GlobalMaxPooling3D, L.GlobalAveragePooling3D])
@pytest.mark.parametrize("kwargs", [{}, dict(keepdims=True), CF])
def test_global_pooling(cls, kwargs):
    rank = int(cls.__name__[-2])
    check_layer(cls, kwargs, (2,) + (3, 4, 2)[:rank] + (5,))


# ---- padding, cropping, upsampling ------------------------------------------------------------

@pytest.mark.parametrize("cls,kwargs,shape", [
    (L.ZeroPadding1D, {}, (2, 4, 3)),
    (L.ZeroPadding1D, dict(padding=(0, 3)), (2, 4, 3)),
    (L.ZeroPadding2D, {}, (2, 3, 4, 2)),
    (L.ZeroPadding2D, dict(padding=((1, 0), (2, 3)), **CF), (2, 2, 3, 4)),
    (L.ZeroPadding2D, dict(padding=(2, 1)), (1, 1, 1, 1)),
    (L.ZeroPadding3D, dict(padding=(1, 0, 2)), (1, 2, 3, 2, 2)),
    (L.Cropping1D, {}, (2, 5, 3)),
    (L.Cropping1D, dict(cropping=(0, 2)), (2, 5, 3)),
    (L.Cropping2D, dict(cropping=((1, 0), (2, 1))), (2, 4, 5, 2)),
    (L.Cropping2D, dict(cropping=1, **CF), (2, 2, 4, 3)),
    (L.Cropping3D, {}, (1, 3, 4, 5, 2)),
    (L.UpSampling1D, {}, (2, 3, 4)),
    (L.UpSampling1D, dict(size=3), (2, 1, 2)),
    (L.UpSampling2D, {}, (2, 3, 4, 2)),
    (L.UpSampling2D, dict(size=(1, 3), **CF), (2, 2, 3, 2)),
    (L.UpSampling2D, dict(size=(2, 3), interpolation="bilinear"), (2, 3, 4, 2)),
    (L.UpSampling2D, dict(size=2, interpolation="bilinear", **CF), (1, 2, 3, 5)),
    (L.UpSampling3D, {}, (1, 2, 3, 2, 2)),
    (L.UpSampling3D, dict(size=(1, 2, 3), **CF), (1, 2, 2, 3, 1)),
])
def test_resizing(cls, kwargs, shape):
    check_layer(cls, kwargs, shape)


def test_upsampling_unknown_spatial_dims():
    x = gn.Input(batch_shape=(None, None, None, 2))
    y = L.UpSampling2D((2, 3))(x)
    assert y.shape == (None, None, None, 2)
    data = np.random.default_rng(0).standard_normal((2, 3, 4, 2)).astype("float32")
    out = gn.Model(x, y).predict(data)
    np.testing.assert_array_equal(out, data.repeat(2, axis=1).repeat(3, axis=2))


# ---- normalization ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,shape", [
    ({}, (4, 5)),
    ({}, (3, 4, 5, 3)),
    (dict(axis=1, momentum=0.9, epsilon=1e-2), (3, 4, 5, 2)),
    (dict(center=False), (4, 3)),
    (dict(scale=False, axis=2), (2, 3, 4)),
])
def test_batch_normalization_inference(kwargs, shape):
    check_layer(L.BatchNormalization, kwargs, shape)


@pytest.mark.parametrize("kwargs,shape", [
    ({}, (2, 5)),
    ({}, (2, 3, 6)),
    (dict(axis=[1, 2], epsilon=1e-2), (2, 3, 4)),
    (dict(center=False), (3, 4)),
    (dict(rms_scaling=True), (2, 3, 5)),
])
def test_layer_normalization(kwargs, shape):
    check_layer(L.LayerNormalization, kwargs, shape)


def test_layer_normalization_inner_axis():
    """axis=1 of a 3-D input (Keras's torch path rejects it, so compare with NumPy)."""
    result = check_layer(L.LayerNormalization, dict(axis=1), (2, 4, 3), keras_cls=None)
    x = result.data
    gamma, beta = result.weights
    norm = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(result.output, norm * gamma[:, None] + beta[:, None],
                               rtol=1e-5, atol=1e-5)


@needs(keras)
@pytest.mark.parametrize("axis,shape", [(-1, (6, 3, 4, 5)), (1, (5, 3, 4, 2))])
def test_batch_normalization_training_matches_keras(axis, shape):
    """Training mode: batch statistics in the output and the moving statistics assigned
    inside the compiled step, as Keras's layer does for one call with training=True."""
    rng = np.random.default_rng(3)
    data = rng.standard_normal(shape).astype("float32") * 2 + 1
    k_layer = keras.layers.BatchNormalization(axis=axis, momentum=0.8)
    k_layer.build(shape)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    expected = np.asarray(k_layer(data, training=True).detach().cpu())

    x = gn.Input(batch_shape=(None,) + shape[1:])
    layer = L.BatchNormalization(axis=axis, momentum=0.8)
    y = layer(x)
    model = gn.Model(x, y)
    layer.set_weights(weights)
    updates = model.state_updates
    assert [v for v, _ in updates] == [layer.moving_mean, layer.moving_variance]
    step = gn.function([x], [y], updates=updates, training=True)
    out = step(data)[0]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    for mine, theirs in zip(layer.get_weights(), k_layer.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)
    # inference uses the (updated) moving statistics, as Keras
    np.testing.assert_allclose(model.predict(data),
                               np.asarray(k_layer(data, training=False).detach().cpu()),
                               rtol=1e-4, atol=1e-4)


def test_batch_normalization_state_updates_filtering():
    """Sequential rebuilds re-call layers; only updates computed from the model's own
    inputs are collected, one per variable; a frozen layer records none."""
    model = gn.Sequential([gn.Input((4,)), L.Dense(3), L.BatchNormalization(),
                           L.Dense(2), L.BatchNormalization(trainable=False)])
    updates = model.state_updates
    bn = model.layers[1]
    assert [v for v, _ in updates] == [bn.moving_mean, bn.moving_variance]


# ---- noise -------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,kwargs,shape", [
    (L.SpatialDropout1D, dict(rate=0.5), (2, 5, 3)),
    (L.SpatialDropout2D, dict(rate=0.3), (2, 4, 4, 3)),
    (L.SpatialDropout2D, dict(rate=0.3, **CF), (2, 3, 4, 4)),
    (L.SpatialDropout3D, dict(rate=0.3), (1, 2, 3, 2, 3)),
    (L.GaussianNoise, dict(stddev=0.3), (2, 5)),
    (L.GaussianDropout, dict(rate=0.4), (2, 5)),
    (L.AlphaDropout, dict(rate=0.2), (2, 5)),
])
def test_noise_identity_at_inference(cls, kwargs, shape):
    result = check_layer(cls, kwargs, shape)
    np.testing.assert_array_equal(result.output, result.data)


def _train_once(layer, data):
    x = gn.Input(batch_shape=(None,) + data.shape[1:])
    return gn.function([x], layer(x), training=True)(data)


def test_spatial_dropout_drops_whole_channels():
    data = np.ones((64, 5, 6, 8), "float32")
    out = _train_once(L.SpatialDropout2D(0.5, seed=1), data)
    per_map = out.reshape(64, 30, 8)
    assert np.all(per_map.min(axis=1) == per_map.max(axis=1))   # one draw per map
    assert set(np.unique(per_map)) <= {0.0, 2.0}
    assert 0.35 < np.mean(per_map[:, 0] == 0) < 0.65
    first = _train_once(L.SpatialDropout2D(0.5, seed=1, data_format="channels_first"),
                        data).reshape(64, 5, 48)
    assert np.all(first.min(axis=2) == first.max(axis=2))


def test_noise_statistics_in_training():
    data = np.full((200, 50), 2.0, "float32")
    out = _train_once(L.GaussianNoise(0.5, seed=2), data)
    assert abs(out.mean() - 2.0) < 0.02 and abs(out.std() - 0.5) < 0.02
    out = _train_once(L.GaussianDropout(0.2, seed=3), data)
    assert abs(out.mean() - 2.0) < 0.04 and abs(out.std() - 2.0 * 0.5) < 0.04
    normal = np.random.default_rng(0).standard_normal((400, 50)).astype("float32")
    out = _train_once(L.AlphaDropout(0.2, seed=4), normal)
    assert abs(out.mean()) < 0.03 and abs(out.std() - 1.0) < 0.05   # self-normalizing
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - 0.2) * (1 + 0.2 * alpha_p ** 2)) ** -0.5
    dropped = a * alpha_p - a * alpha_p * 0.2
    assert 0.17 < np.mean(np.isclose(out, dropped, atol=1e-6)) < 0.23


# ---- errors name the layer and both shapes ---------------------------------------------------

def test_conv_errors():
    x = gn.Input((4, 4, 3))
    assert_raises_naming(lambda: L.Conv2D(2, 5, name="big")(x), "big", "(None, 4, 4, 3)",
                         "(5, 5, 3, 2)")
    assert_raises_naming(lambda: L.Conv2D(2, 3, name="rank")(gn.Input((4, 3))), "rank",
                         "(None, 4, 3)", "rank 4")
    conv = L.Conv2D(2, 3, name="chans")
    conv(x)
    assert_raises_naming(lambda: conv(gn.Input((5, 5, 4))), "chans", "(None, 5, 5, 4)",
                         "(3, 3, 3, 2)")
    assert_raises_naming(lambda: L.Conv2D(4, 3, groups=2, name="grp")(gn.Input((5, 5, 3))),
                         "grp", "(None, 5, 5, 3)", "groups=2")
    assert_raises_naming(lambda: L.Conv1D(2, 3, groups=3), "groups=3")
    assert_raises_naming(lambda: L.Conv2D(2, 3, strides=2, dilation_rate=2), "dilation_rate")
    assert_raises_naming(lambda: L.Conv2D(2, 3, padding="causal"), "padding")
    assert_raises_naming(lambda: L.MaxPooling2D(3, name="pool")(gn.Input((2, 2, 1))), "pool",
                         "(None, 2, 2, 1)")
    assert_raises_naming(lambda: L.MaxPooling2D(name="prank")(gn.Input((4, 1))), "prank",
                         "(None, 4, 1)")
    assert_raises_naming(lambda: L.Conv2DTranspose(2, 3, strides=2, output_padding=2),
                         "output_padding")
    assert_raises_naming(lambda: L.Cropping1D((3, 2), name="crop")(gn.Input((5, 2))), "crop",
                         "(None, 5, 2)")
    assert_raises_naming(lambda: L.BatchNormalization(name="bn")(gn.Input((None, 3, None))),
                         "bn", "(None, None, 3, None)")
    # eager calls too
    assert_raises_naming(lambda: L.Conv1D(1, 4, name="eager")(np.ones((1, 3, 2), "float32")),
                         "eager", "(1, 3, 2)")
