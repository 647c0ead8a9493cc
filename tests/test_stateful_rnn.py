"""stateful=True for SimpleRNN, LSTM, GRU and Bidirectional against Keras 3 (torch
backend) with the same weights: the final states of each batch carried into the next by
predict, evaluate, fit and train_on_batch (five SGD/Adam steps), masks, reset_state /
reset_states / Model.reset_states, eager calls, custom steps, nested models, saving
(states are not weights), and the errors for a batch size that is not fixed or does not
match and for exporting."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, train_alike

ATOL = 1e-5
RNG = np.random.default_rng(31)
LAYERS = ["SimpleRNN", "LSTM", "GRU"]
B, T, D, U = 3, 4, 5, 6
BATCHES = RNG.standard_normal((4, B, T, D)).astype("float32")   # four batches in a row


def _recurrent(lib, name, **kwargs):
    """The layer; Keras's LSTM and GRU with use_cudnn=False: their torch fast path
    assigns the states in place, which torch's autograd refuses when training."""
    if lib is keras and name != "SimpleRNN":
        kwargs["use_cudnn"] = False
    return getattr(lib.layers, name)(U, stateful=True, **kwargs)


def _models(name, head=False, **kwargs):
    """graphnet's and (with Keras) Keras's Input(batch_shape) -> stateful layer [-> Dense
    2], the same weights in both; and the two recurrent layers."""
    def build(lib):
        i = lib.Input(batch_shape=(B, T, D))
        layer = _recurrent(lib, name, **kwargs)
        out = layer(i)
        return lib.Model(i, lib.layers.Dense(2)(out) if head else out), layer
    gm, gl = build(gn)
    km, kl = (None, None)
    if compare_with(keras, "Keras's stateful layer"):
        km, kl = build(keras)
        weights = [w + RNG.standard_normal(w.shape).astype("float32") * 0.3
                   for w in km.get_weights()]
        km.set_weights(weights)
        gm.set_weights(weights)
    return gm, gl, km, kl


def _assert_states(ours, theirs):
    assert len(ours.states) == len(theirs.states)
    for a, b in zip(ours.states, theirs.states):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), atol=ATOL)


@needs(keras)
@pytest.mark.parametrize("name", LAYERS)
def test_predict_carries_the_states_across_batches_as_keras(name):
    gm, gl, km, kl = _models(name, return_sequences=True)
    assert [w.shape for w in gm.weights] == [tuple(w.shape) for w in km.weights]
    assert all(not s.trainable for s in gl.states)
    outputs = []
    for x in BATCHES:   # batch by batch: each continues the sequences of the one before
        outputs.append(gm.predict(x, verbose=0))
        np.testing.assert_allclose(outputs[-1], km.predict(x, verbose=0), atol=ATOL)
        _assert_states(gl, kl)
    first = outputs[0]
    assert np.abs(gm.predict(BATCHES[0], verbose=0) - first).max() > 1e-3
    gl.reset_state()
    kl.reset_state()
    np.testing.assert_allclose(gm.predict(BATCHES[0], verbose=0), first, atol=1e-6)
    gm.reset_states()   # Keras 2's Model.reset_states
    kl.reset_states()   # Keras 3's alias on the layer
    assert not any(s.numpy().any() for s in gl.states)
    joined = BATCHES.reshape(-1, T, D)   # one predict over all batches, B samples each
    np.testing.assert_allclose(gm.predict(joined, batch_size=B, verbose=0),
                               km.predict(joined, batch_size=B, verbose=0), atol=ATOL)
    _assert_states(gl, kl)


@needs(keras)
@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_training_steps_and_evaluate_carry_the_states_as_keras(name, optimizer):
    """evaluate, then five train_on_batch steps on the same batch, each starting from
    the states the step before left; then fit over batches in order and evaluate."""
    gm, gl, km, kl = _models(name, head=True)
    y = RNG.standard_normal((len(BATCHES), B, 2)).astype("float32")
    train_alike(gm, km, BATCHES[0], y[0], optimizer=optimizer,
                optimizer_args={"learning_rate": 0.05 if optimizer == "SGD" else 0.01})
    _assert_states(gl, kl)
    x, y = BATCHES.reshape(-1, T, D), y.reshape(-1, 2)
    ours = gm.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0).history["loss"]
    theirs = km.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(ours, theirs, atol=ATOL)
    _assert_states(gl, kl)
    np.testing.assert_allclose(gm.evaluate(x, y, batch_size=B, verbose=0),
                               km.evaluate(x, y, batch_size=B, verbose=0), atol=ATOL)
    _assert_states(gl, kl)


@needs(keras)
@pytest.mark.parametrize("name", LAYERS)
def test_masked_steps_keep_the_carried_state_as_keras(name):
    x = BATCHES[:2].copy()
    x[0, 1, 2:] = 0.0    # the last two steps of sequence 1 are padding
    x[1, 0, :1] = 0.0    # and the first step of sequence 0 in the next batch

    def build(lib):
        i = lib.Input(batch_shape=(B, T, D))
        layer = _recurrent(lib, name, return_sequences=True)
        return lib.Model(i, layer(lib.layers.Masking()(i))), layer
    (gm, gl), (km, kl) = build(gn), build(keras)
    gm.set_weights(km.get_weights())
    for batch in x:
        np.testing.assert_allclose(gm.predict(batch, verbose=0), km.predict(batch, verbose=0),
                                   atol=ATOL)
        _assert_states(gl, kl)


@needs(keras)
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_a_stateful_bidirectional_carries_both_directions_as_keras(name):
    def build(lib):
        i = lib.Input(batch_shape=(B, T, D))
        layer = lib.layers.Bidirectional(_recurrent(lib, name, return_sequences=True),
                                         merge_mode="sum")
        return lib.Model(i, layer(i)), layer
    (gm, gl), (km, kl) = build(gn), build(keras)
    gm.set_weights(km.get_weights())
    assert gl.stateful and len(gl.states) == len(kl.states)
    for x in BATCHES:
        np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0),
                                   atol=ATOL)
        _assert_states(gl, kl)
    gl.reset_states()
    kl.reset_states()
    np.testing.assert_allclose(gm.predict(BATCHES[0], verbose=0),
                               km.predict(BATCHES[0], verbose=0), atol=ATOL)


@needs(keras)
def test_a_given_initial_state_replaces_the_carried_one_for_that_call():
    """Keras 3: the given states start the call and its final states are carried."""
    def build(lib):
        i, s = lib.Input(batch_shape=(B, T, D)), lib.Input(batch_shape=(B, U))
        layer = _recurrent(lib, "GRU")
        return lib.Model([i, s], layer(i, initial_state=[s])), layer
    (gm, gl), (km, kl) = build(gn), build(keras)
    gm.set_weights(km.get_weights())
    for x in BATCHES[:2]:
        s = RNG.standard_normal((B, U)).astype("float32")
        got = gm.predict([x, s], verbose=0)
        np.testing.assert_allclose(got, km.predict([x, s], verbose=0), atol=ATOL)
        np.testing.assert_allclose(gl.states[0].numpy(), got, atol=1e-6)


@needs(keras)
def test_calling_the_layer_on_arrays_carries_the_states():
    ours, theirs = _recurrent(gn, "LSTM"), _recurrent(keras, "LSTM")
    theirs.build((B, T, D))
    ours.build((B, T, D))
    ours.set_weights(theirs.get_weights())
    for x in BATCHES[:3]:
        np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), atol=ATOL)
    _assert_states(ours, theirs)


def test_a_custom_train_step_carries_the_states():
    """The traced step assigns the states too: with a learning rate of 0 the states after
    fitting two batches are those predict leaves after the same two batches."""
    class Stepped(gn.Model):
        def train_step(self, data):
            x, y = data
            with gn.GradientTape() as tape:
                loss = gn.ops.mean(gn.ops.square(self(x, training=True) - y))
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables),
                                 self.trainable_variables)
            return {"loss": loss}
    i = gn.Input(batch_shape=(B, T, D))
    layer = gn.layers.GRU(U, stateful=True)
    model = Stepped(i, layer(i))
    model.compile(gn.optimizers.SGD(0.0))
    model.fit(BATCHES[:2].reshape(-1, T, D), np.zeros((2 * B, U), "float32"), batch_size=B,
              shuffle=False, verbose=0)
    fitted = layer.states[0].numpy()
    assert np.abs(fitted).max() > 1e-2
    layer.reset_state()
    model.predict(BATCHES[:2].reshape(-1, T, D), batch_size=B, verbose=0)
    np.testing.assert_allclose(layer.states[0].numpy(), fitted, atol=1e-6)


def test_saving_keeps_the_option_not_the_states(tmp_path):
    """As Keras 3, the states are not weights: a loaded model starts from zeros."""
    i = gn.Input(batch_shape=(B, T, D))
    model = gn.Model(i, gn.layers.LSTM(U, stateful=True)(i))
    first = model.predict(BATCHES[0], verbose=0)
    model.predict(BATCHES[1], verbose=0)
    path = str(tmp_path / "stateful.graphnet")
    model.save(path)
    loaded = gn.models.load_model(path)
    lstm = loaded.layers[-1]
    assert lstm.stateful and len(loaded.get_weights()) == 3
    assert not any(s.numpy().any() for s in lstm.states)
    np.testing.assert_allclose(loaded.predict(BATCHES[0], verbose=0), first, atol=1e-6)


def test_errors_name_the_layer_and_the_batch_sizes():
    with pytest.raises(ValueError, match=r"LSTM 'lstm\w*': stateful=True needs a fixed "
                                         r"batch size.*got input shape \(None, 4, 5\)"):
        gn.layers.LSTM(U, stateful=True)(gn.Input((T, D)))
    layer = gn.layers.GRU(U, stateful=True)
    model = gn.Model(*(lambda i: (i, layer(i)))(gn.Input(batch_shape=(B, T, D))))
    with pytest.raises(ValueError, match=r"GRU 'gru\w*': a stateful layer needs inputs of "
                                         r"the batch size of its states: expected batch "
                                         r"size 3, got input shape \(2, 4, 5\)"):
        layer(gn.Input(batch_shape=(2, T, D)))
    with pytest.raises(ValueError, match=r"expects shape \(3, 4, 5\).*got an array of "
                                         r"shape \(2, 4, 5\)"):
        model.predict(BATCHES[0, :2], verbose=0)
    states = layer.states[0].numpy()
    np.testing.assert_array_equal(states, 0.0)    # nothing ran, nothing changed
    with pytest.raises(ValueError, match=r"expects shape \(3, 4, 5\).*got an array of "
                                         r"shape \(2, 4, 5\)"):
        model.predict(BATCHES[:2].reshape(-1, T, D)[:5], batch_size=B, verbose=0)


def test_a_nested_model_s_state_updates_reach_the_model_it_is_called_in():
    """A model called inside another runs its layer calls again on the new inputs when it
    has state updates: a stateful GRU's states carry, and BatchNormalization's moving
    statistics move (momentum 0.99) in the outer model's training step."""
    i = gn.Input(batch_shape=(B, T, D))
    gru = gn.layers.GRU(U, stateful=True)
    inner = gn.Model(i, gru(i))
    j = gn.Input(batch_shape=(B, T, D))
    outer = gn.Model(j, gn.layers.Dense(2)(inner(j)))
    outer.predict(BATCHES[0], verbose=0)
    carried = gru.states[0].numpy()
    gru.reset_state()
    np.testing.assert_allclose(inner.predict(BATCHES[0], verbose=0), carried, atol=1e-6)
    k = gn.Input((D,))
    norm = gn.layers.BatchNormalization()
    l_in = gn.Input((D,))
    model = gn.Model(l_in, gn.layers.Dense(1)(gn.Model(k, norm(k))(l_in)))
    model.compile("sgd", "mse")
    x = BATCHES[0, :, 0]
    model.train_on_batch(x, np.zeros((B, 1), "float32"))
    np.testing.assert_allclose(norm.moving_mean.numpy(), 0.01 * x.mean(axis=0), atol=1e-6)


def test_export_refuses_a_model_that_carries_states(tmp_path):
    i = gn.Input(batch_shape=(B, T, D))
    model = gn.Model(i, gn.layers.GRU(U, stateful=True, name="carried")(i))
    for fmt, name in (("graphnet", "m.gnx"), ("onnx", "m.onnx"), ("c", "c")):
        with pytest.raises(ValueError, match=r"carries states from one call to the next "
                                             r"\(carried/rnn_state: a stateful layer\)"):
            model.export(str(tmp_path / name), format=fmt)
