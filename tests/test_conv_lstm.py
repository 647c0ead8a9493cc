"""ConvLSTM1D/2D/3D against Keras 3 (torch backend) with the same weights: forward for
padding, strides, dilation, data_format, go_backwards and return_state, masks, initial
states, five SGD and Adam steps, saving, configs, and the errors for bad input."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, train_alike
from keras_outputs import assert_outputs as _assert_outputs
from keras_outputs import keras_arrays as _numpy
from rnn_reference import conv, reference_rnn

RNG = np.random.default_rng(31)


ACTIVATIONS = {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
               "relu": lambda v: np.maximum(v, 0),
               "hard_sigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1)}


def _reference(layer, x, states=None, mask=None):
    """ConvLSTM in NumPy (float64): each step the input and recurrent convolutions per
    Keras's ConvLSTMCell, over Keras's RNN loop; channels_first transposed in and out."""
    first = layer.data_format == "channels_first"

    def last(a, lead):
        return np.moveaxis(a, lead, -1) if first else a

    def back(a, lead):
        return np.moveaxis(a, -1, lead) if first else a
    weights = [w.astype(np.float64) for w in layer.get_weights()]
    act = ACTIVATIONS[gn.activations.serialize(layer.activation)]
    ract = ACTIVATIONS[gn.activations.serialize(layer.recurrent_activation)]
    f = layer.filters

    def step(weights, x_t, states):
        kernel, recurrent = weights[:2]
        h, c = states
        z = conv(x_t, kernel, layer.strides, layer.padding, layer.dilation_rate) + \
            (weights[2] if layer.use_bias else 0.0) + conv(h, recurrent, 1, "same")
        i, fg, g, o = (z[..., q * f:(q + 1) * f] for q in range(4))
        c = ract(fg) * c + ract(i) * act(g)
        h = ract(o) * act(c)
        return h, [h, c]
    x = last(x.astype(np.float64), 2)
    if states is None:
        frame = conv(x[:, 0], weights[0], layer.strides, layer.padding, layer.dilation_rate)
        states = [np.zeros(frame.shape[:-1] + (f,))] * 2
    else:
        states = [last(s, 1) for s in states]
    out = reference_rnn(step, weights, x, states, mask, go_backwards=layer.go_backwards,
                        return_sequences=layer.return_sequences,
                        return_state=layer.return_state)
    return [back(out[0], 2 if layer.return_sequences else 1)] + [back(s, 1) for s in out[1:]]


def _keras_twin(name, input_shape, ours, **kwargs):
    theirs = getattr(keras.layers, name)(3, 3, **kwargs)
    theirs.build((None,) + input_shape)
    theirs.set_weights(ours.get_weights())
    return theirs


def _perturbed(layer):
    layer.set_weights([w + RNG.standard_normal(w.shape).astype("float32") * 0.2
                       for w in layer.get_weights()])


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


@pytest.mark.parametrize("name, input_shape, options", FORWARD)
def test_forward_matches_numpy_and_keras(name, input_shape, options):
    x = RNG.standard_normal((2,) + input_shape).astype("float32")
    ours = getattr(gn.layers, name)(3, 3, **options)
    i = gn.Input((None,) + input_shape[1:])
    model = gn.Model(i, ours(i))
    _perturbed(ours)
    got = model.predict(x, verbose=0)
    _assert_outputs(got, _reference(ours, x))
    if compare_with(keras, f"Keras's {name}"):
        _assert_outputs(got, _numpy(_keras_twin(name, input_shape, ours, **options)(x)))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_masks_and_initial_states_match_numpy_and_keras(data_format):
    shape = (5, 6, 2) if data_format == "channels_last" else (5, 2, 6)
    state_shape = (6, 3) if data_format == "channels_last" else (3, 6)
    x = RNG.standard_normal((3,) + shape).astype("float32")
    mask = np.ones((3, 5), bool)
    mask[0, 3:] = mask[1, :2] = False
    states = [RNG.standard_normal((3,) + state_shape).astype("float32") for _ in range(2)]
    options = dict(padding="same", data_format=data_format, return_sequences=True,
                   return_state=True)
    ours = gn.layers.ConvLSTM1D(3, 3, **options)
    i, m = gn.Input((None,) + shape[1:]), gn.Input((None,), dtype="bool")
    s = [gn.Input(state_shape) for _ in states]
    model = gn.Model([i, m] + s, ours(i, initial_state=s, mask=m))
    _perturbed(ours)
    got = model.predict([x, mask] + states, verbose=0)
    _assert_outputs(got, _reference(ours, x, states, mask))
    assert np.all(got[0][1, :2] == 0.0)   # before the first unmasked step
    if compare_with(keras, "Keras's ConvLSTM1D with a mask and initial states"):
        theirs = _keras_twin("ConvLSTM1D", shape, ours, **options)
        _assert_outputs(got, _numpy(theirs(x, initial_state=states, mask=mask)))


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
    keras.utils.set_random_seed(7)   # drawn weights whose 5 Adam steps stay in 1e-5
    gm, km = make(gn), make(keras)
    gm.set_weights(km.get_weights())
    train_alike(gm, km, x, y, optimizer=optimizer, optimizer_args={"learning_rate": 0.05})


def test_saving_and_config_round_trip(tmp_path):
    options = dict(strides=(1, 2), return_sequences=True)
    ours = gn.layers.ConvLSTM2D(3, 3, **options)
    i = gn.Input((None, 6, 5, 2))
    model = gn.Model(i, ours(i))
    _perturbed(ours)
    if compare_with(keras, "Keras's ConvLSTM2D config"):
        theirs = _keras_twin("ConvLSTM2D", (4, 6, 5, 2), ours, **options)
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
