"""The ``training`` value a user's layer sees (graphnet/engine/training_mode.py), against
Keras 3 on torch: ``if training:`` in a layer of a Functional model takes the branch of the
mode that runs (fit's step: True; predict and evaluate: False), a subclassed model's
``training`` reaches sublayers called without it, and add_loss terms of one mode only
count in that mode."""
import numpy as np
import pytest

import graphnet as gn
from extras import keras, needs, train_alike


def _shift_class(lib):
    """Adds 1 to its input in training, and a loss of the input's mean in training."""
    class Shift(lib.layers.Layer):
        def call(self, x, training=None):
            if training:
                self.add_loss(lib.ops.mean(lib.ops.square(x)) * 0.5)
                return x + 1.0
            return x
    return Shift


def _functional(lib):
    inputs = lib.Input((4,))
    hidden = lib.layers.Dense(5, activation="tanh")(inputs)
    return lib.Model(inputs, lib.layers.Dense(2)(_shift_class(lib)()(hidden)))


def _data():
    rng = np.random.default_rng(3)
    return rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")


def test_functional_layer_takes_the_branch_of_the_mode():
    model = _functional(gn)
    x, y = _data()
    dense = model.layers[-1]
    before = model.layers[-2].output
    inference = model.predict(x, verbose=0)
    head = gn.Model(model.inputs, before)   # the Shift output: the hidden state as it is
    np.testing.assert_allclose(inference, head.predict(x, verbose=0) @ dense.get_weights()[0]
                               + dense.get_weights()[1], rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    trained = model.evaluate(x, y, verbose=0)
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss) and loss != pytest.approx(trained)


@needs(keras)
def test_functional_layer_trains_as_keras():
    ours, theirs = _functional(gn), _functional(keras)
    theirs.set_weights(ours.get_weights())
    x, y = _data()
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               atol=1e-6)
    train_alike(ours, theirs, x, y, optimizer="Adam", optimizer_args={"learning_rate": 0.01})


def _subclassed_class(lib):
    Shift = _shift_class(lib)

    class Net(lib.Model):
        def __init__(self):
            super().__init__()
            self.dense = lib.layers.Dense(3)
            self.shift = Shift()
            self.out = lib.layers.Dense(2)

        def call(self, x, training=None):
            return self.out(self.shift(self.dense(x)))   # shift gets no training argument
    return Net


@needs(keras)
def test_subclassed_model_passes_training_to_its_sublayers():
    ours, theirs = _subclassed_class(gn)(), _subclassed_class(keras)()
    x, y = _data()
    ours(x), theirs(x)
    theirs.set_weights(ours.get_weights())
    train_alike(ours, theirs, x, y)


def test_layers_ignoring_training_run_alike_in_both_modes():
    class Scale(gn.layers.Layer):
        def call(self, x, training=None):
            return x * 2.0
    inputs = gn.Input((3,))
    model = gn.Model(inputs, Scale()(inputs))
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), 2.0)
    model.compile(optimizer="sgd", loss="mse")
    assert model.train_on_batch(x, np.full((2, 3), 2.0, "float32")) == pytest.approx(0.0)


def test_outputs_that_differ_by_mode_in_shape_are_refused():
    class Grow(gn.layers.Layer):
        def call(self, x, training=None):
            return gn.ops.concatenate([x, x], axis=-1) if training else x
    with pytest.raises(ValueError, match=r"Layer 'grow'.*shape \(None, 6\).*training=True "
                                         r"but \(None, 3\).*training=False"):
        Grow()(gn.Input((3,)))


def test_outputs_that_differ_by_mode_in_count_are_refused():
    class Split(gn.layers.Layer):
        def call(self, x, training=None):
            return [x, x] if training else [x]
    with pytest.raises(ValueError, match=r"Layer 'split'.*2 outputs with training=True but "
                                         r"1 with training=False"):
        Split()(gn.Input((3,)))


def test_explicit_training_is_kept():
    class Mark(gn.layers.Layer):
        def call(self, x, training=None):
            return x + (1.0 if training else 0.0)
    inputs = gn.Input((2,))
    model = gn.Model(inputs, Mark()(inputs, training=True))
    np.testing.assert_allclose(model.predict(np.zeros((1, 2), "float32"), verbose=0), 1.0)
