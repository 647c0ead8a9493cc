"""Sublayer tracking on every Layer: attributes that are layers, Variables or nested lists,
tuples and dicts of them own their weights, in Keras 3's order."""
import numpy as np

import graphnet as gn
from extras import compare_with, keras


def _block_class(lib):
    """The same custom layer written for graphnet (``lib=gn``) or Keras (``lib=keras``)."""
    class Block(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.scale = lib.Variable(np.full((units,), 2.0, "float32"), name="scale",
                                      trainable=False)
            self.parts = [lib.layers.Dense(units), {"norm": lib.layers.BatchNormalization()}]
            self.extra = ()

        def build(self, input_shape):
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros",
                                        name="bias", trainable=False)
            self.gain = self.add_weight(shape=(self.units,), initializer="ones", name="gain")

        def call(self, x, training=None):
            y = self.parts[0](x)
            y = self.parts[1]["norm"](y, training=training)
            return y * self.gain * self.scale + self.bias
    return Block


def _short(name):
    return name.split("/")[-1]


def test_a_layer_tracks_its_attribute_layers_and_variables_in_keras_order():
    block = _block_class(gn)(3)
    x = gn.Input((4,))
    block(x)
    names = [_short(w.name) for w in block.weights]
    # own trainable, own non-trainable (in the order tracked: scale in __init__, bias in
    # build), then the sublayers'
    assert names == ["gain", "scale", "bias", "kernel", "bias", "gamma", "beta",
                     "moving_mean", "moving_variance"]
    assert [_short(w.name) for w in block.trainable_weights] == ["gain", "kernel", "bias",
                                                                  "gamma", "beta"]
    assert [_short(w.name) for w in block.non_trainable_weights] == [
        "scale", "bias", "moving_mean", "moving_variance"]
    if compare_with(keras, "weight order of a Keras layer with the same attributes"):
        kblock = _block_class(keras)(3)
        kblock(np.zeros((2, 4), "float32"))
        assert [w.shape for w in block.weights] == [tuple(w.shape) for w in kblock.weights]
        assert [_short(w.path) for w in kblock.weights] == names
        assert [_short(w.path) for w in kblock.trainable_weights] == \
            [_short(w.name) for w in block.trainable_weights]


def test_a_list_filled_after_assignment_is_tracked_and_a_frozen_sublayer_holds_nothing():
    class Stack(gn.layers.Layer):
        def __init__(self):
            super().__init__()
            self.blocks = []
            for units in (5, 2):
                self.blocks.append(gn.layers.Dense(units))
            self.myself = self

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    stack = Stack()
    stack(gn.Input((3,)))
    assert [w.shape for w in stack.weights] == [(3, 5), (5,), (5, 2), (2,)]
    stack.blocks[0].trainable = False
    assert [w.shape for w in stack.trainable_weights] == [(5, 2), (2,)]
    assert [w.shape for w in stack.non_trainable_weights] == [(3, 5), (5,)]
    stack.trainable = False
    assert stack.trainable_weights == [] and len(stack.non_trainable_weights) == 4


def test_a_tracked_layer_sets_and_gets_weights_in_keras_order():
    block = _block_class(gn)(3)
    block(gn.Input((4,)))
    values = [np.random.default_rng(i).normal(size=w.shape).astype("float32")
              for i, w in enumerate(block.weights)]
    block.set_weights(values)
    for got, want in zip(block.get_weights(), values):
        np.testing.assert_array_equal(got, want)
    if compare_with(keras, "outputs of a Keras layer given the same weights"):
        kblock = _block_class(keras)(3)
        x = np.random.default_rng(9).normal(size=(6, 4)).astype("float32")
        kblock(x)
        kblock.set_weights(values)
        want = keras.ops.convert_to_numpy(kblock(x, training=False))
        np.testing.assert_allclose(block(x, training=False), want, atol=1e-5)
