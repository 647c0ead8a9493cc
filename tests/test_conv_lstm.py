"""ConvLSTM1D/2D/3D against Keras 3 (torch backend) with the same weights: forward for
padding, strides, dilation, data_format, go_backwards and return_state, masks, initial
states, five SGD and Adam steps, saving, configs, and the errors for bad input."""
import numpy as np
import pytest

import graphnet as gn
from extras import keras, needs, train_alike
from keras_outputs import assert_outputs as _assert_outputs
from keras_outputs import keras_arrays as _numpy

RNG = np.random.default_rng(31)


def _pair(name, input_shape, **kwargs):
    ours = getattr(gn.layers, name)(3, 3, **kwargs)
    theirs = getattr(keras.layers, name)(3, 3, **kwargs)
    theirs.build((None,) + input_shape)
    theirs.set_weights([w + RNG.standard_normal(w.shape).astype("float32") * 0.2
                        for w in theirs.get_weights()])
    return ours, theirs


FORWARD = [
    ("ConvLSTM2D", (4, 6, 5, 2), {}),
    ("ConvLSTM2D", (4, 6, 5, 2), {"padding": "same", "return_sequences": True,
                                  "go_backwards": True}),
    ("ConvLSTM2D", (3, 2, 6, 5), {"data_format": "channels_first", "return_state": True,
                                  "return_sequences": True, "strides": (2, 1)}),
    ("ConvLSTM1D", (4, 7, 2), {"strides": 2, "return_state": True}),
    ("ConvLSTM1D", (4, 7, 2), {"dilation_rate": 2, "padding": "same",
                               "return_sequences": True, "activation": "relu"}),
    ("ConvLSTM1D", (4, 2, 7), {"data_format": "channels_first", "use_bias": False,
                               "unit_forget_bias": False}),
    ("ConvLSTM3D", (3, 4, 4, 3, 2), {"padding": "same", "recurrent_activation":
                                     "hard_sigmoid"}),
]


@needs(keras)
@pytest.mark.parametrize("name, input_shape, options", FORWARD)
def test_forward_matches_keras(name, input_shape, options):
    x = RNG.standard_normal((2,) + input_shape).astype("float32")
    ours, theirs = _pair(name, input_shape, **options)
    i = gn.Input((None,) + input_shape[1:])
    model = gn.Model(i, ours(i))
    ours.set_weights(theirs.get_weights())
    _assert_outputs(model.predict(x, verbose=0), _numpy(theirs(x)))


@needs(keras)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_masks_and_initial_states_match_keras(data_format):
    shape = (5, 6, 2) if data_format == "channels_last" else (5, 2, 6)
    state_shape = (6, 3) if data_format == "channels_last" else (3, 6)
    x = RNG.standard_normal((3,) + shape).astype("float32")
    mask = np.ones((3, 5), bool)
    mask[0, 3:] = mask[1, :2] = False
    states = [RNG.standard_normal((3,) + state_shape).astype("float32") for _ in range(2)]
    ours, theirs = _pair("ConvLSTM1D", shape, padding="same", data_format=data_format,
                         return_sequences=True, return_state=True)
    i, m = gn.Input((None,) + shape[1:]), gn.Input((None,), dtype="bool")
    s = [gn.Input(state_shape) for _ in states]
    model = gn.Model([i, m] + s, ours(i, initial_state=s, mask=m))
    ours.set_weights(theirs.get_weights())
    got = model.predict([x, mask] + states, verbose=0)
    _assert_outputs(got, _numpy(theirs(x, initial_state=states, mask=mask)))
    assert np.all(got[0][1, :2] == 0.0)   # before the first unmasked step


@needs(keras)
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_five_training_steps_match_keras(optimizer):
    x = RNG.standard_normal((3, 4, 5, 5, 2)).astype("float32")
    y = RNG.standard_normal((3, 2)).astype("float32")

    def make(lib):
        return lib.Sequential([
            lib.Input((4, 5, 5, 2)),
            lib.layers.ConvLSTM2D(3, (3, 2), padding="same", go_backwards=True,
                                  kernel_regularizer="l2"),
            lib.layers.GlobalAveragePooling2D(), lib.layers.Dense(2)])
    gm, km = make(gn), make(keras)
    gm.set_weights(km.get_weights())
    train_alike(gm, km, x, y, optimizer=optimizer, optimizer_args={"learning_rate": 0.05})


@needs(keras)
def test_saving_and_config_round_trip(tmp_path):
    ours, theirs = _pair("ConvLSTM2D", (4, 6, 5, 2), strides=(1, 2), return_sequences=True)
    i = gn.Input((None, 6, 5, 2))
    model = gn.Model(i, ours(i))
    ours.set_weights(theirs.get_weights())
    assert set(ours.get_config()) == set(theirs.get_config())
    assert [w.shape for w in ours.get_weights()] == [(3, 3, 2, 12), (3, 3, 3, 12), (12,)]
    x = RNG.standard_normal((2, 4, 6, 5, 2)).astype("float32")
    before = model.predict(x, verbose=0)
    model.save(str(tmp_path / "conv_lstm.graphnet"))
    loaded = gn.models.load_model(str(tmp_path / "conv_lstm.graphnet"))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)
    assert loaded.layers[-1].get_config() == ours.get_config()


@pytest.mark.parametrize("rates", [(0.5, 0.0), (0.0, 0.5), (0.4, 0.4)])
def test_dropout_draws_one_mask_per_gate_per_sequence_while_training(rates):
    """Every frame the same and the forget gate shut (its bias -100): without recurrence
    (input dropout alone, the recurrent kernel zero) each step's output is the same
    function of the dropped frame, so with masks drawn once per sequence every step's
    output repeats; training outputs differ from inference's, where nothing is dropped."""
    dropout, recurrent_dropout = rates
    layer = gn.layers.ConvLSTM1D(3, 3, padding="same", return_sequences=True, seed=4,
                                 dropout=dropout, recurrent_dropout=recurrent_dropout)
    plain = gn.layers.ConvLSTM1D(3, 3, padding="same", return_sequences=True)
    i = gn.Input((None, 6, 2))
    model, reference = gn.Model(i, layer(i)), gn.Model(i, plain(i))
    kernel, recurrent, bias = layer.get_weights()
    bias[3:6] = -100.0
    layer.set_weights([kernel, recurrent * (recurrent_dropout > 0), bias])
    plain.set_weights(layer.get_weights())
    x = np.repeat(RNG.standard_normal((8, 1, 6, 2)).astype("float32"), 5, axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0),
                               atol=1e-6)
    trained = gn.function([i], model.outputs, training=True)(x)[0]
    assert np.abs(trained - reference.predict(x, verbose=0)).max() > 1e-3
    if not recurrent_dropout:   # no recurrence: every step the same
        np.testing.assert_allclose(trained[:, 1:], np.broadcast_to(trained[:, :1],
                                                                   trained[:, 1:].shape),
                                   atol=1e-6)
    model.compile("sgd", "mse")
    assert np.isfinite(model.train_on_batch(x, np.zeros_like(trained)))


def test_the_forget_gate_bias_starts_at_one():
    layer = gn.layers.ConvLSTM1D(2, 3)
    layer.build((None, 4, 7, 3))
    np.testing.assert_array_equal(layer.get_weights()[2], [0, 0, 1, 1, 0, 0, 0, 0])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"'conv_lstm2d\w*': expected an input of rank 5"):
        gn.layers.ConvLSTM2D(2, 3)(gn.Input((None, 6, 2)))
    with pytest.raises(ValueError, match=r"the spatial sizes of the input must be known"):
        gn.layers.ConvLSTM1D(2, 3)(gn.Input((None, None, 2)))
    with pytest.raises(ValueError, match=r"`recurrent_dropout` must be in \[0, 1\), got "
                                         r"recurrent_dropout=1.0"):
        gn.layers.ConvLSTM1D(2, 3, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match=r"`filters` must be a positive integer"):
        gn.layers.ConvLSTM3D(0, 3)
    with pytest.raises(ValueError, match=r"strides > 1 not supported in conjunction with "
                                         r"dilation_rate > 1"):
        gn.layers.ConvLSTM1D(2, 3, strides=2, dilation_rate=2)
    layer = gn.layers.ConvLSTM1D(2, 3)
    with pytest.raises(ValueError, match=r"initial state 1 must have shape \(None, 5, 2\), "
                                         r"got \(None, 5, 3\)"):
        layer(gn.Input((None, 7, 2)), initial_state=[gn.Input((5, 2)), gn.Input((5, 3))])
