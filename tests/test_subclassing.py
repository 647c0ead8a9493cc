"""Model subclassing: ``class Net(gn.Model)`` with ``__init__`` and ``call``, traced into
a static graph once per training mode, against Keras 3 on torch."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras


def _net_class(lib):
    """The same subclassed model for graphnet (``lib=gn``) or Keras (``lib=keras``):
    a Dense list, a dict holding BatchNormalization, a Dropout branch on ``training``."""
    class Net(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = [lib.layers.Dense(8, activation="relu"), lib.layers.Dense(6)]
            self.norms = {"bn": lib.layers.BatchNormalization()}
            self.dropout = lib.layers.Dropout(0.5)
            self.head = lib.layers.Dense(3)

        def call(self, inputs, training=None):
            x = inputs
            for layer in self.hidden:
                x = layer(x)
            x = self.norms["bn"](x, training=training)
            if training:
                x = self.dropout(x, training=training)
            return self.head(x)
    return Net


def _plain_class(lib):
    """Two Dense layers with gn.ops / keras.ops between them, no ``training`` argument."""
    class Plain(lib.Model):
        def __init__(self):
            super().__init__()
            self.dense = lib.layers.Dense(4)
            self.out = lib.layers.Dense(3)

        def call(self, inputs):
            return self.out(lib.ops.relu(self.dense(inputs)))
    return Plain


def _data(n=16):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 5)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")


def test_a_subclassed_model_predicts_like_keras_with_the_same_weights():
    x, _ = _data()
    net = _net_class(gn)(name="net")
    out = net.predict(x, verbose=0)
    assert out.shape == (16, 3)
    names = [w.name.split("/")[-1] for w in net.weights]
    assert names == ["kernel", "bias", "kernel", "bias", "gamma", "beta", "moving_mean",
                     "moving_variance", "kernel", "bias"]
    assert [type(layer).__name__ for layer in net.layers] == [
        "Dense", "Dense", "BatchNormalization", "Dropout", "Dense"]
    np.testing.assert_allclose(net(x), out, atol=1e-6)
    if compare_with(keras, "outputs of the same subclassed Keras model"):
        knet = _net_class(keras)()
        knet(x)
        assert [tuple(w.shape) for w in knet.weights] == [w.shape for w in net.weights]
        net.set_weights([keras.ops.convert_to_numpy(w) for w in knet.weights])
        want = keras.ops.convert_to_numpy(knet(x, training=False))
        np.testing.assert_allclose(net.predict(x, verbose=0), want, atol=1e-5)


def test_fit_traces_the_training_branch_and_matches_keras_sgd_steps():
    x, y = _data()
    net = _plain_class(gn)()
    net.build((None, 5))
    start = net.get_weights()
    net.compile(optimizer=gn.optimizers.SGD(0.1), loss="mse")
    for _ in range(5):
        net.train_on_batch(x, y)
    if compare_with(keras, "5 SGD steps of the same Keras model"):
        knet = _plain_class(keras)()
        knet(x[:1])
        knet.set_weights(start)
        knet.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        for _ in range(5):
            knet.train_on_batch(x, y)
        for got, want in zip(net.get_weights(), knet.get_weights()):
            np.testing.assert_allclose(got, want, atol=1e-5)


def test_the_training_branch_runs_dropout_and_updates_batch_statistics():
    x, y = _data(64)
    net = _net_class(gn)()
    net.compile(optimizer="sgd", loss="mse")
    before = net.predict(x, verbose=0)
    moving_mean = net.norms["bn"].moving_mean.numpy().copy()
    net.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert not np.allclose(net.norms["bn"].moving_mean.numpy(), moving_mean)
    after = net.predict(x, verbose=0)
    assert after.shape == before.shape and not np.allclose(after, before)
    np.testing.assert_allclose(net.predict(x, verbose=0), after)  # inference: no dropout
    assert not np.allclose(net(x, training=True), after)  # the training branch drops


def test_a_value_dependent_branch_names_the_users_line():
    class Branchy(gn.Model):
        def __init__(self):
            super().__init__()
            self.dense = gn.layers.Dense(2)

        def call(self, inputs):
            if gn.ops.sum(inputs) > 0:
                return self.dense(inputs)
            return inputs

    with pytest.raises(TypeError, match=r"test_subclassing\.py:\d+ \(`if gn\.ops\.sum"):
        Branchy().predict(np.ones((2, 2), "float32"), verbose=0)


def test_a_subclassed_model_inside_a_functional_model_and_save_weights(tmp_path):
    x, _ = _data()
    inner = _net_class(gn)()
    inp = gn.Input((5,))
    outer = gn.Model(inp, gn.layers.Dense(2)(inner(inp)))
    assert outer.predict(x, verbose=0).shape == (16, 2)
    assert len(outer.weights) == len(inner.weights) + 2
    path = str(tmp_path / "net.weights.npz")
    inner.save_weights(path)
    other = _net_class(gn)()
    other.build((None, 5))
    other.load_weights(path)
    np.testing.assert_allclose(other.predict(x, verbose=0), inner.predict(x, verbose=0),
                               atol=1e-6)


def test_summary_before_build_is_an_error_and_after_lists_the_layers():
    net = _net_class(gn)()
    with pytest.raises(ValueError, match="has not yet been built"):
        net.summary()
    net.build((None, 5))
    lines = []
    net.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for layer in net.layers:
        assert layer.name in text
    assert "Total params: 147" in text


def test_save_needs_get_config_when_init_takes_arguments(tmp_path):
    class Sized(gn.Model):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = gn.layers.Dense(units)

        def call(self, inputs):
            return self.dense(inputs)

    net = Sized(3)
    net.build((None, 4))
    with pytest.raises(NotImplementedError, match=r"\['units'\].*get_config"):
        net.save(str(tmp_path / "sized.graphnet"))


def test_save_and_load_model_with_get_config_and_custom_objects(tmp_path):
    class Scaled(gn.Model):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = gn.layers.Dense(units)

        def call(self, inputs):
            return self.dense(inputs) * 2.0

        def get_config(self):
            return dict(super().get_config(), units=self.units)

    x = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    net = Scaled(2, name="scaled")
    want = net.predict(x, verbose=0)
    path = str(tmp_path / "scaled.graphnet")
    net.save(path)
    loaded = gn.models.load_model(path, custom_objects={"Scaled": Scaled})
    assert type(loaded) is Scaled and loaded.units == 2 and loaded.name == "scaled"
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, atol=1e-6)
