"""Sizes known only when the model runs (graphnet/ops/dims.py): ``gn.ops.shape`` of a
symbolic tensor gives them as Dims, which random draws and reshape take, as Keras code
writes ``batch = ops.shape(z)[0]``."""
import numpy as np
import pytest

import graphnet as gn
from graphnet import layers, ops
from graphnet.ops.dims import Dim


class Sampling(layers.Layer):
    """keras.io's VAE sampling layer, unchanged."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = gn.random.normal(shape=(batch, dim))
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def test_shape_gives_dims_for_unknown_sizes():
    x = gn.Input((None, 4))
    batch, steps, width = ops.shape(x)
    assert isinstance(batch, Dim) and isinstance(steps, Dim) and width == 4
    assert ops.shape(x) == (None, None, 4) and batch != steps
    assert ops.shape(np.zeros((2, 3))) == (2, 3)


def test_vae_sampling_draws_the_batch_it_runs():
    inputs = gn.Input((3,))
    z = Sampling()([layers.Dense(2, kernel_initializer="zeros")(inputs),
                    layers.Dense(2, kernel_initializer="zeros")(inputs)])
    model = gn.Model(inputs, z)   # z_mean 0, z_log_var 0: z is the normal draw itself
    for batch in (3, 4000):
        draws = model.predict(np.ones((batch, 3), "float32"), verbose=0, batch_size=batch)
        assert draws.shape == (batch, 2)
    assert abs(draws.mean()) < 0.06 and abs(draws.std() - 1.0) < 0.06
    again = model.predict(np.ones((4000, 3), "float32"), verbose=0, batch_size=4000)
    assert not np.array_equal(draws, again)


def test_vae_sampling_trains():
    inputs = gn.Input((3,))
    z = Sampling()([layers.Dense(2)(inputs), layers.Dense(2)(inputs)])
    model = gn.Model(inputs, layers.Dense(1)(z))
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    history = model.fit(x, x[:, :1], batch_size=16, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize("draw", [
    lambda s: gn.random.uniform(s, 2.0, 3.0),
    lambda s: gn.random.truncated_normal(s),
    lambda s: gn.random.randint(s, 0, 5),
])
def test_other_draws_take_dims(draw):
    inputs = gn.Input((None,))
    model = gn.Model(inputs, gn.layers.Lambda(lambda t: draw(ops.shape(t)))(inputs))
    out = model.predict(np.zeros((3, 7), "float32"), verbose=0)
    assert out.shape == (3, 7)


def test_reshape_takes_its_own_and_other_tensors_dims():
    inputs = gn.Input((None, 6))
    other = gn.Input((5,))

    def split_heads(t):
        x, o = t
        return ops.reshape(x, (ops.shape(o)[0], ops.shape(x)[1], 3, 2))
    out = layers.Lambda(split_heads)([inputs, other])
    model = gn.Model([inputs, other], out)
    x = np.arange(2 * 4 * 6, dtype="float32").reshape(2, 4, 6)
    np.testing.assert_array_equal(model.predict([x, np.zeros((2, 5), "float32")], verbose=0),
                                  x.reshape(2, 4, 3, 2))


def test_dims_refuse_arithmetic_and_mixed_sources():
    a, b = gn.Input((3,)), gn.Input((3,))
    with pytest.raises(TypeError, match=r"Dim\(axis 0 of .*not known until the model runs"):
        ops.shape(a)[0] * 2
    with pytest.raises(TypeError, match="not known until the model runs"):
        int(ops.shape(a)[0])
    with pytest.raises(ValueError, match=r"gn.random.normal: the unknown sizes of shape .* "
                                         r"come from 2 different tensors"):
        gn.random.normal((ops.shape(a)[0], ops.shape(b)[0]))
    with pytest.raises(ValueError, match="gn.random.binomial: shape must be a tuple of ints"):
        gn.random.binomial((ops.shape(a)[0],), 3, 0.5)
    with pytest.raises(ValueError, match=r"reshape: newshape .* more than one size to infer"):
        ops.reshape(a, (ops.shape(b)[0], -1))


def test_ops_between_layers_record_dims_and_save(tmp_path):
    """``ops.reshape(x, (ops.shape(x)[0], -1))`` between layers is an op layer whose
    argument names the input's axis; it saves and loads as data."""
    inputs = gn.Input((None, 4))
    flat = ops.reshape(inputs, (ops.shape(inputs)[0], -1))
    model = gn.Model(inputs, layers.Dense(2)(ops.reshape(flat, (ops.shape(inputs)[0], 3, 4))))
    x = np.random.default_rng(0).normal(size=(5, 3, 4)).astype("float32")
    path = str(tmp_path / "dims.graphnet")
    model.save(path)
    np.testing.assert_allclose(gn.models.load_model(path).predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)
