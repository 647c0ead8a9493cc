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
    2], the same random weights in both; and the two recurrent layers."""
    def build(lib):
        i = lib.Input(batch_shape=(B, T, D))
        layer = _recurrent(lib, name, **kwargs)
        out = layer(i)
        return lib.Model(i, lib.layers.Dense(2)(out) if head else out), layer
    gm, gl = build(gn)
    gm.set_weights([RNG.standard_normal(w.shape).astype("float32") * 0.5
                    for w in gm.get_weights()])
    km, kl = (None, None)
    if compare_with(keras, "Keras's stateful layer"):
        km, kl = build(keras)
        km.set_weights(gm.get_weights())
    return gm, gl, km, kl


class _Chained:
    """The reference that stands where Keras is missing: a copy of the stateful ``layer``
    with stateful=False, run batch by batch on the same inputs, each batch's final states
    given as the next batch's initial_state."""

    def __init__(self, layer, masked=False):
        copy = type(layer).from_config(dict(layer.get_config(), stateful=False,
                                            return_state=True, name=f"{layer.name}_chained"))
        i, s = gn.Input((T, D)), [gn.Input((U,)) for _ in layer.states]
        out = copy(gn.layers.Masking()(i) if masked else i, initial_state=s)
        copy.set_weights(layer.get_weights())
        self.model = gn.Model([i] + s, out)
        self.states = [np.zeros((B, U), "float32") for _ in layer.states]

    def __call__(self, x):
        output, *self.states = self.model.predict([x] + self.states, verbose=0)
        return output

    def assert_states(self, layer):
        for ours, want in zip(layer.states, self.states, strict=True):
            np.testing.assert_allclose(ours.numpy(), want, atol=ATOL)


def _assert_states(ours, theirs):
    assert len(ours.states) == len(theirs.states)
    for a, b in zip(ours.states, theirs.states):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), atol=ATOL)


@pytest.mark.parametrize("name", LAYERS)
def test_predict_carries_the_states_across_batches(name):
    gm, gl, km, kl = _models(name, return_sequences=True)
    assert len(gm.weights) == 3 and all(not s.trainable for s in gl.states)
    chained = _Chained(gl)
    outputs = []
    for x in BATCHES:   # batch by batch: each continues the sequences of the one before
        outputs.append(gm.predict(x, verbose=0))
        np.testing.assert_allclose(outputs[-1], chained(x), atol=ATOL)
        chained.assert_states(gl)
        if km is not None:
            np.testing.assert_allclose(outputs[-1], km.predict(x, verbose=0), atol=ATOL)
            _assert_states(gl, kl)
    first = outputs[0]
    assert np.abs(gm.predict(BATCHES[0], verbose=0) - first).max() > 1e-3
    gl.reset_state()
    np.testing.assert_allclose(gm.predict(BATCHES[0], verbose=0), first, atol=1e-6)
    gm.reset_states()   # Keras 2's Model.reset_states
    assert not any(s.numpy().any() for s in gl.states)
    gl.reset_states()   # Keras 3's alias on the layer
    joined = BATCHES.reshape(-1, T, D)   # one predict over all batches, B samples each
    np.testing.assert_allclose(gm.predict(joined, batch_size=B, verbose=0),
                               np.concatenate(outputs), atol=1e-6)
    if km is not None:
        assert [w.shape for w in gm.weights] == [tuple(w.shape) for w in km.weights]
        gl.reset_state()
        kl.reset_state()
        np.testing.assert_allclose(gm.predict(joined, batch_size=B, verbose=0),
                                   km.predict(joined, batch_size=B, verbose=0), atol=ATOL)
        _assert_states(gl, kl)


@needs(keras)
@pytest.mark.parametrize("name, optimizer", [("SimpleRNN", "SGD"), ("LSTM", "Adam"),
                                             ("GRU", "SGD")])
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


def test_fit_and_evaluate_carry_the_states():
    """With a learning rate of 0, fit and evaluate leave the states predict leaves."""
    gm, gl, _, _ = _models("LSTM", head=True)
    x, y = BATCHES.reshape(-1, T, D), np.zeros((len(BATCHES) * B, 2), "float32")
    gm.compile(gn.optimizers.SGD(0.0), "mse")
    chained = _Chained(gl)
    for batch in BATCHES:
        chained(batch)
    for run in (lambda: gm.fit(x, y, batch_size=B, shuffle=False, verbose=0),
                lambda: gm.evaluate(x, y, batch_size=B, verbose=0)):
        gl.reset_state()
        run()
        chained.assert_states(gl)


@pytest.mark.parametrize("name", LAYERS)
def test_masked_steps_keep_the_carried_state(name):
    x = BATCHES[:2].copy()
    x[0, 1, 2:] = 0.0    # the last two steps of sequence 1 are padding
    x[1, 0, :1] = 0.0    # and the first step of sequence 0 in the next batch

    def build(lib):
        i = lib.Input(batch_shape=(B, T, D))
        layer = _recurrent(lib, name, return_sequences=True)
        return lib.Model(i, layer(lib.layers.Masking()(i))), layer
    gm, gl = build(gn)
    chained = _Chained(gl, masked=True)
    km, kl = build(keras) if compare_with(keras, "Keras's masked stateful layer") else \
        (None, None)
    if km is not None:
        km.set_weights(gm.get_weights())
    for batch in x:
        got = gm.predict(batch, verbose=0)
        np.testing.assert_allclose(got, chained(batch), atol=ATOL)
        chained.assert_states(gl)
        if km is not None:
            np.testing.assert_allclose(got, km.predict(batch, verbose=0), atol=ATOL)
            _assert_states(gl, kl)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_a_stateful_bidirectional_carries_both_directions(name):
    def build(lib):
        i = lib.Input(batch_shape=(B, T, D))
        layer = lib.layers.Bidirectional(_recurrent(lib, name, return_sequences=True),
                                         merge_mode="sum")
        return lib.Model(i, layer(i)), layer
    gm, gl = build(gn)
    assert gl.stateful and len(gl.states) == 2 * len(gl.forward_layer.states)
    forward, backward = _Chained(gl.forward_layer), _Chained(gl.backward_layer)
    km, kl = build(keras) if compare_with(keras, "Keras's stateful Bidirectional") else \
        (None, None)
    if km is not None:
        km.set_weights(gm.get_weights())
    for x in BATCHES:
        got = gm.predict(x, verbose=0)
        np.testing.assert_allclose(got, forward(x) + backward(x)[:, ::-1], atol=ATOL)
        forward.assert_states(gl.forward_layer)
        backward.assert_states(gl.backward_layer)
        if km is not None:
            np.testing.assert_allclose(got, km.predict(x, verbose=0), atol=ATOL)
            _assert_states(gl, kl)
    gl.reset_states()
    assert not any(s.numpy().any() for s in gl.states)


def test_a_given_initial_state_replaces_the_carried_one_for_that_call():
    """Keras 3: the given states start the call and its final states are carried."""
    def build(lib):
        i, s = lib.Input(batch_shape=(B, T, D)), lib.Input(batch_shape=(B, U))
        layer = _recurrent(lib, "GRU")
        return lib.Model([i, s], layer(i, initial_state=[s])), layer
    gm, gl = build(gn)
    km = build(keras)[0] if compare_with(keras, "Keras's stateful GRU") else None
    if km is not None:
        km.set_weights(gm.get_weights())
    chained = _Chained(gl)
    for x in BATCHES[:2]:
        chained.states = [RNG.standard_normal((B, U)).astype("float32")]
        given = chained.states[0]
        got = gm.predict([x, given], verbose=0)
        np.testing.assert_allclose(got, chained(x), atol=ATOL)
        np.testing.assert_allclose(gl.states[0].numpy(), got, atol=1e-6)
        if km is not None:
            np.testing.assert_allclose(got, km.predict([x, given], verbose=0), atol=ATOL)


def test_calling_the_layer_on_arrays_carries_the_states():
    ours = _recurrent(gn, "LSTM")
    ours.build((B, T, D))
    theirs = None
    if compare_with(keras, "Keras's eager stateful LSTM"):
        theirs = _recurrent(keras, "LSTM")
        theirs.build((B, T, D))
        ours.set_weights(theirs.get_weights())
    chained = _Chained(ours)
    for x in BATCHES[:3]:
        got = ours(x)
        np.testing.assert_allclose(got, chained(x), atol=ATOL)
        if theirs is not None:
            np.testing.assert_allclose(got, keras.ops.convert_to_numpy(theirs(x)), atol=ATOL)
    chained.assert_states(ours)


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
