"""``Layer.add_loss`` and ``model.losses``: terms added in ``call``, activity and weight
regularizers, read by the built-in training step, against Keras 3 on torch."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras


def _activity_layer(lib):
    """A layer adding ``rate * mean(x**2)`` of its input with add_loss (Keras's docs)."""
    class ActivityPenalty(lib.layers.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * lib.ops.mean(lib.ops.square(inputs)))
            return inputs
    return ActivityPenalty


def _functional(lib):
    inputs = lib.Input((5,))
    h = lib.layers.Dense(6, activation="tanh",
                         kernel_regularizer=lib.regularizers.L2(0.05))(inputs)
    h = _activity_layer(lib)(0.3)(h)
    outputs = lib.layers.Dense(2, activity_regularizer=lib.regularizers.L1(0.01))(h)
    return lib.Model(inputs, outputs)


def _data(n=12):
    rng = np.random.default_rng(3)
    return rng.normal(size=(n, 5)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")


def test_losses_lists_the_add_loss_activity_and_weight_terms():
    model = _functional(gn)
    assert len(model.losses) == 3     # add_loss, the Dense activity term, the kernel L2
    assert all(isinstance(t, gn.SymbolicTensor) for t in model.losses)
    x, _ = _data()
    kernel = model.layers[1].kernel.numpy()
    penalty = gn.function(model.inputs, [model.losses[2]])(x)[0]
    np.testing.assert_allclose(penalty, 0.05 * np.sum(kernel ** 2), rtol=1e-5)
    hidden = np.tanh(x @ kernel + model.layers[1].bias.numpy())
    added = gn.function(model.inputs, [model.losses[0]])(x)[0]
    np.testing.assert_allclose(added, 0.3 * np.mean(hidden ** 2), rtol=1e-5)


def test_five_sgd_steps_with_add_loss_and_regularizers_match_keras():
    x, y = _data()
    model = _functional(gn)
    start = model.get_weights()
    model.compile(optimizer=gn.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    logs = [model.train_on_batch(x, y) for _ in range(2)]
    plain = gn.Model(model.inputs, model.outputs)  # the same layers, the same terms
    assert len(plain.losses) == 3
    if compare_with(keras, "5 SGD steps of the same Keras model with add_loss"):
        kmodel = _functional(keras)
        kmodel.set_weights(start)
        kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        khistory = kmodel.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        klogs = [kmodel.train_on_batch(x, y) for _ in range(2)]
        np.testing.assert_allclose(history.history["loss"], khistory.history["loss"],
                                   rtol=1e-5)
        np.testing.assert_allclose(logs, klogs, rtol=1e-5)
        for got, want in zip(model.get_weights(), kmodel.get_weights()):
            np.testing.assert_allclose(got, want, atol=1e-5)


def test_the_loss_log_includes_the_added_terms():
    x, y = _data()
    model = _functional(gn)
    model.compile(optimizer=gn.optimizers.SGD(0.0), loss="mse")
    loss = model.test_on_batch(x, y)
    mse = np.mean((model.predict(x, verbose=0) - y) ** 2)
    extra = sum(float(v) for v in gn.function(model.inputs, model.losses)(x))
    np.testing.assert_allclose(loss, mse + extra, rtol=1e-5)
    assert extra > 0.01


def _subclassed(lib):
    class Net(lib.Model):
        def __init__(self):
            super().__init__()
            self.dense = lib.layers.Dense(3, kernel_regularizer=lib.regularizers.L2(0.1))
            self.penalty = _activity_layer(lib)(0.5)
            self.out = lib.layers.Dense(2)

        def call(self, inputs, training=None):
            h = self.penalty(self.dense(inputs))
            if training:
                self.add_loss(lib.ops.sum(h) * 0.01)
            return self.out(h)
    return Net


def test_a_subclassed_model_adds_its_training_trace_terms():
    x, y = _data()
    net = _subclassed(gn)()
    net.build((None, 5))
    start = net.get_weights()
    assert len(net.losses) == 2      # inference trace: the add_loss term and the L2
    net.compile(optimizer=gn.optimizers.SGD(0.1), loss="mse")
    logs = [net.train_on_batch(x, y) for _ in range(5)]
    if compare_with(keras, "5 SGD steps of a subclassed Keras model with add_loss"):
        knet = _subclassed(keras)()
        knet(x[:1])
        knet.set_weights(start)
        knet.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        klogs = [knet.train_on_batch(x, y) for _ in range(5)]
        np.testing.assert_allclose(logs, klogs, rtol=1e-5)
        for got, want in zip(net.get_weights(), knet.get_weights()):
            np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_constant_add_loss_and_a_bad_value():
    layer = gn.layers.Dense(2)
    layer.add_loss(0.25)
    assert [float(t) for t in layer.losses] == [0.25]
    with pytest.raises(TypeError, match="add_loss expects a tensor or a number, got str"):
        layer.add_loss("big")


def test_compute_loss_in_the_traced_default_train_step_adds_the_same_terms():
    """A compiled Metric subclass sends fit through the traced Keras 3 default train_step,
    whose compute_loss adds model.losses: it trains as the built-in step does."""
    class Count(gn.metrics.Metric):
        def __init__(self):
            super().__init__(name="count")
            self.seen = self.add_variable((), "zeros", name="seen")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.seen.assign_add(gn.ops.sum(gn.ops.ones_like(y_true[:, 0])))

        def result(self):
            return self.seen

    x, y = _data()
    runs = []
    for metrics in ([], [Count()]):
        model = _functional(gn)
        if runs:
            model.set_weights(runs[0][1])
        start = model.get_weights()
        model.compile(optimizer=gn.optimizers.SGD(0.1), loss="mse", metrics=metrics)
        history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        runs.append((history.history, start, model.get_weights()))
    assert model._uses_custom_steps() and runs[1][0]["count"] == [12.0]
    np.testing.assert_allclose(runs[0][0]["loss"], runs[1][0]["loss"], rtol=1e-5)
    for got, want in zip(runs[1][2], runs[0][2]):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_layer_called_on_arrays_holds_its_loss_values():
    layer = _activity_layer(gn)(0.5)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(layer(x), x)
    [term] = layer.losses
    np.testing.assert_allclose(term, 0.5 * np.mean(x ** 2), rtol=1e-6)
    layer(x[:1])                       # the latest call's terms replace the previous ones
    np.testing.assert_allclose(layer.losses, [0.5 * np.mean(x[:1] ** 2)], rtol=1e-6)


def test_a_sequential_model_reads_the_terms_of_its_own_graph():
    x, y = _data()
    model = gn.Sequential([gn.Input((5,)), gn.layers.Dense(4), _activity_layer(gn)(0.2),
                           gn.layers.Dense(2)])
    assert len(model.losses) == 1
    model.compile(optimizer=gn.optimizers.SGD(0.0), loss="mse")
    mse = np.mean((model.predict(x, verbose=0) - y) ** 2)
    hidden = x @ model.layers[0].kernel.numpy() + model.layers[0].bias.numpy()
    np.testing.assert_allclose(model.test_on_batch(x, y), mse + 0.2 * np.mean(hidden ** 2),
                               rtol=1e-5)
