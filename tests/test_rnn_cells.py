"""RNN(cell), the built-in cells, StackedRNNCells and unroll, against the recurrent layers
and Keras 3 (torch backend) with the same weights: the built-in cells in RNN against
SimpleRNN / LSTM / GRU and Keras, a user's own cell (keras.io's MinimalRNNCell) and one
with two states, stacks, masks on ragged batches, go_backwards, initial states, unroll,
five SGD and Adam steps, saving with custom objects, and the errors for bad input."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, train_alike
from keras_outputs import assert_outputs as _assert_outputs
from keras_outputs import keras_arrays as _numpy
from rnn_reference import reference_rnn as _reference_rnn

RNG = np.random.default_rng(23)
X = RNG.standard_normal((4, 7, 5)).astype("float32")
CELLS = [("SimpleRNNCell", "SimpleRNN", {}), ("LSTMCell", "LSTM", {}),
         ("GRUCell", "GRU", {}), ("GRUCell", "GRU", {"reset_after": False})]
OPTIONS = [{}, {"return_sequences": True, "go_backwards": True}, {"return_state": True},
           {"unroll": True, "return_sequences": True}, {"unroll": True, "return_state": True,
                                                        "go_backwards": True}]


def minimal_cell_class(lib):
    """keras.io's MinimalRNNCell, written against ``lib`` (graphnet or keras)."""
    class MinimalRNNCell(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                    initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            prev_output = states[0]
            h = lib.ops.matmul(inputs, self.kernel)
            output = h + lib.ops.matmul(prev_output, self.recurrent_kernel)
            return output, [output]

        def get_config(self):
            return dict(super().get_config(), units=self.units)
    return MinimalRNNCell


def two_state_cell_class(lib):
    """A cell of two states of different sizes: a tanh state and a running sum of it."""
    class TwoStateCell(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = [units, 2 * units]
            self.output_size = 2 * units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.mix = self.add_weight(shape=(2 * self.units, self.units), name="mix")

        def call(self, inputs, states, training=None):
            h, total = states
            h = lib.ops.tanh(lib.ops.matmul(inputs, self.kernel) +
                             lib.ops.matmul(total, self.mix) * 0.5 + h * 0.25)
            total = total + lib.ops.concatenate([h, h * h], axis=-1)
            return total, [h, total]

        def get_config(self):
            return dict(super().get_config(), units=self.units)
    return TwoStateCell


GN_MINIMAL, GN_TWO_STATE = minimal_cell_class(gn), two_state_cell_class(gn)


def _keras_classes():
    return minimal_cell_class(keras), two_state_cell_class(keras)


def _perturbed(layer):
    layer.set_weights([w + RNG.standard_normal(w.shape).astype("float32") * 0.3
                       for w in layer.get_weights()])


def _ragged(x):
    x = x.copy()
    for b, n in enumerate((7, 4, 1, 5)):
        x[b, n:] = 0.0
    x[3, :2] = 0.0   # and leading padding
    return x


# ---- built-in cells --------------------------------------------------------------------

@pytest.mark.parametrize("cell, layer, kwargs", CELLS)
@pytest.mark.parametrize("options", OPTIONS)
def test_a_built_in_cell_in_rnn_is_its_layer_and_keras(cell, layer, kwargs, options):
    rnn = gn.layers.RNN(getattr(gn.layers, cell)(3, **kwargs), **options)
    twin = getattr(gn.layers, layer)(3, **kwargs, **options)
    i = gn.Input((None, 5))
    model, reference = gn.Model(i, rnn(i)), gn.Model(i, twin(i))
    _perturbed(rnn)
    twin.set_weights(rnn.get_weights())
    got = model.predict(X, verbose=0)
    _assert_outputs(got, [np.asarray(g) for g in (reference.predict(X, verbose=0)
                                                  if options.get("return_state") else
                                                  [reference.predict(X, verbose=0)])])
    if compare_with(keras, f"Keras's RNN({cell})"):
        theirs = keras.layers.RNN(getattr(keras.layers, cell)(3, **kwargs), **options)
        theirs.build((None, 7, 5))
        theirs.set_weights(rnn.get_weights())
        _assert_outputs(got, _numpy(theirs(X)))


def test_unroll_runs_one_kernel_per_step_and_the_plain_layer_one():
    i = gn.Input((None, 5))
    for unroll, count in ((True, 7), (False, 1)):
        layer = gn.layers.LSTM(3, unroll=unroll, return_sequences=True)
        report = gn.function([i], [layer(i)]).explain([(4, 7, 5)])
        final = report.graphs["tile"]
        assert final.count("RNN_SEQUENCE(") == count
        assert "RNN_UNROLL" not in final
        assert report.fired["unroll_recurrence"] == int(unroll)


@pytest.mark.parametrize("cell", ["SimpleRNNCell", "LSTMCell", "GRUCell"])
def test_a_cell_runs_one_step_symbolically_and_eagerly(cell):
    ours = getattr(gn.layers, cell)(4)
    n_states = 2 if cell == "LSTMCell" else 1
    x = RNG.standard_normal((3, 5)).astype("float32")
    states = [RNG.standard_normal((3, 4)).astype("float32") for _ in range(n_states)]
    i, s = gn.Input((5,)), [gn.Input((4,)) for _ in states]
    output, new = ours(i, s)
    assert len(new) == n_states and output.shape == (None, 4)
    _perturbed(ours)
    got = gn.Model([i] + s, [output] + new).predict([x] + states, verbose=0)
    eager_output, eager_new = ours(x, states)
    _assert_outputs([eager_output] + list(eager_new), got)
    assert ours.state_size == ([4, 4] if n_states == 2 else 4) and ours.output_size == 4
    assert type(ours).from_config(ours.get_config()).get_config() == ours.get_config()
    if compare_with(keras, f"Keras's {cell}"):
        theirs = getattr(keras.layers, cell)(4)
        theirs.build((3, 5))
        theirs.set_weights(ours.get_weights())
        want_output, want_new = theirs(x, states)
        _assert_outputs(got, _numpy([want_output] + list(want_new)))
        assert set(ours.get_config()) == set(theirs.get_config())


def _train_like(model, reference, x, y, optimizer, steps=5):
    """Two graphnet models of the same weights train alike: losses and weights."""
    for m in (model, reference):
        m.compile(getattr(gn.optimizers, optimizer)(learning_rate=0.05), "mse")
    for _ in range(steps):
        np.testing.assert_allclose(model.train_on_batch(x, y), reference.train_on_batch(x, y),
                                   atol=1e-5)
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("unroll", [False, True])
@pytest.mark.parametrize("layer, optimizer", [("LSTM", "Adam"), ("GRU", "SGD"),
                                              ("SimpleRNN", "Adam")])
def test_five_training_steps_of_rnn_of_a_cell_and_of_unroll_match_the_layer_and_keras(
        layer, optimizer, unroll):
    x = _ragged(X)
    y = RNG.standard_normal((4, 2)).astype("float32")

    def make(lib, cell, unroll):
        recurrent = lib.layers.RNN(getattr(lib.layers, layer + "Cell")(6), unroll=unroll) \
            if cell else getattr(lib.layers, layer)(6, unroll=unroll)
        return lib.Sequential([lib.Input((7, 5)), lib.layers.Masking(), recurrent,
                               lib.layers.Dense(2)])
    for cell in (True, False) if unroll else (True,):
        model, reference = make(gn, cell, unroll), make(gn, False, False)
        _perturbed(reference)
        model.set_weights(reference.get_weights())
        _train_like(model, reference, x, y, optimizer)
    if compare_with(keras, f"Keras's RNN({layer}Cell) training"):
        keras.utils.set_random_seed(7)   # drawn weights whose 5 Adam steps stay in 1e-5
        gm, km = make(gn, True, unroll), make(keras, True, unroll)
        gm.set_weights(km.get_weights())
        train_alike(gm, km, x, y, optimizer=optimizer, optimizer_args={"learning_rate": 0.05})


# ---- a user's cells ----------------------------------------------------------------------

USER = [(GN_MINIMAL, 0, opts) for opts in (
    {}, {"return_sequences": True}, {"return_sequences": True, "go_backwards": True},
    {"return_state": True}, {"unroll": True, "return_state": True})] + [
    (GN_TWO_STATE, 1, opts) for opts in ({"return_state": True},
                                         {"return_sequences": True, "go_backwards": True})]


def _minimal_step(weights, x_t, states):
    kernel, recurrent = weights
    output = x_t @ kernel + states[0] @ recurrent
    return output, [output]


def _two_state_step(weights, x_t, states):
    kernel, mix = weights
    h, total = states
    h = np.tanh(x_t @ kernel + total @ mix * 0.5 + h * 0.25)
    total = total + np.concatenate([h, h * h], axis=-1)
    return total, [h, total]


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("cls, which, options", USER)
def test_a_users_cell_matches_numpy_and_keras(cls, which, options, masked):
    x = _ragged(X) if masked else X
    ours = gn.layers.RNN(cls(3), **options)
    i = gn.Input((None, 5))
    model = gn.Model(i, ours(gn.layers.Masking()(i) if masked else i))
    _perturbed(ours)
    got = model.predict(x, verbose=0)
    sizes = [3] if which == 0 else [3, 6]
    weights = [w.astype(np.float64) for w in ours.get_weights()]
    _assert_outputs(got, _reference_rnn((_minimal_step, _two_state_step)[which], weights, x,
                                        [np.zeros((4, n)) for n in sizes],
                                        np.any(x != 0, -1) if masked else None, **options))
    if compare_with(keras, "Keras's RNN of the same cell"):
        theirs = keras.layers.RNN(_keras_classes()[which](3), **options)
        theirs.build((None, 7, 5))
        theirs.set_weights(ours.get_weights())
        want = theirs(x, mask=np.any(x != 0, -1)) if masked else theirs(x)
        _assert_outputs(got, _numpy(want))


@pytest.mark.parametrize("zero_output", [False, True])
def test_initial_states_and_masks_of_a_two_state_cell_match_numpy_and_keras(zero_output):
    x = _ragged(X)
    mask = np.any(x != 0, -1)
    states = [RNG.standard_normal((4, 3)).astype("float32"),
              RNG.standard_normal((4, 6)).astype("float32")]
    options = dict(return_sequences=True, return_state=True, zero_output_for_mask=zero_output)
    ours = gn.layers.RNN(GN_TWO_STATE(3), **options)
    i, s = gn.Input((None, 5)), [gn.Input((3,)), gn.Input((6,))]
    model = gn.Model([i] + s, ours(gn.layers.Masking()(i), initial_state=s))
    got = model.predict([x] + states, verbose=0)
    _assert_outputs(got, _reference_rnn(_two_state_step, ours.get_weights(), x, states, mask,
                                        **options))
    held = np.zeros_like(got[0][1, 4:]) if zero_output else got[0][1, 3:4]
    np.testing.assert_array_equal(got[0][1, 4:], np.broadcast_to(held, (3, 6)))
    if compare_with(keras, "Keras's RNN with initial states and a mask"):
        theirs = keras.layers.RNN(_keras_classes()[1](3), **options)
        theirs.build((None, 7, 5))
        theirs.set_weights(ours.get_weights())
        _assert_outputs(got, _numpy(theirs(x, initial_state=states, mask=mask)))


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize("which", [0, 1])
def test_gradients_through_a_users_cell_match_differences_and_training_keras(which,
                                                                             optimizer):
    """The gradients of the weights through the unrolled loop (masked, backwards) against
    central differences of the NumPy reference; then five steps against Keras."""
    x = _ragged(X)
    y = RNG.standard_normal((4, 7, 8 if which else 4)).astype("float32")
    options = dict(return_sequences=True, go_backwards=True)

    def make(lib, cls):
        return lib.Sequential([lib.Input((None, 5)), lib.layers.Masking(),
                               lib.layers.RNN(cls(4), **options)])
    gm = make(gn, (GN_MINIMAL, GN_TWO_STATE)[which])
    _perturbed(gm)
    weights = [w.astype(np.float64) for w in gm.get_weights()]
    step, sizes = ((_minimal_step, [4]), (_two_state_step, [4, 8]))[which]

    def loss(ws):
        out = _reference_rnn(step, ws, x, [np.zeros((4, n)) for n in sizes],
                             np.any(x != 0, -1), **options)[0]
        return np.sum((out - y) ** 2)
    grads = gn.function(gm.inputs, gn.gradients(
        gn.ops.sum(gn.ops.square(gm.outputs[0] - y)), gm.trainable_weights))(x)
    for k, (w, g) in enumerate(zip(weights, grads)):
        for index in list(np.ndindex(w.shape))[::max(w.size // 6, 1)]:
            bumped = [v.copy() for v in weights]
            bumped[k][index] += 1e-6
            up = loss(bumped)
            bumped[k][index] -= 2e-6
            np.testing.assert_allclose(g[index], (up - loss(bumped)) / 2e-6, rtol=1e-3,
                                       atol=1e-3)
    if compare_with(keras, "Keras's training through the same cell"):
        keras.utils.set_random_seed(7)   # drawn weights whose 5 Adam steps stay in 1e-5
        km = make(keras, _keras_classes()[which])
        gm.set_weights(km.get_weights())
        train_alike(gm, km, x, y, optimizer=optimizer, optimizer_args={"learning_rate": 0.05})


def test_a_cell_branching_on_training_takes_the_branch_of_the_plan_that_runs():
    """``if training:`` in a cell's call: the step is traced in both modes, and the
    training plan unrolls the training step (fit), the inference plan the other."""
    class Scaled(gn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.state_size = 2

        def call(self, inputs, states, training=None):
            h = inputs + states[0]
            return (h * 3.0 if training else h), [h]
    i = gn.Input((None, 2))
    model = gn.Model(i, gn.layers.RNN(Scaled(), return_sequences=True)(i))
    x = np.ones((1, 3, 2), "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0)[0, :, 0], [1, 2, 3])
    trained = gn.function([i], model.outputs, training=True)(x)[0]
    np.testing.assert_array_equal(trained[0, :, 0], [3, 6, 9])


# ---- StackedRNNCells ----------------------------------------------------------------------

def _stack(lib, minimal):
    return [lib.layers.LSTMCell(4), minimal(3), lib.layers.GRUCell(2)]


def _chained_layers(masked, return_sequences):
    """The layers StackedRNNCells(_stack) stands for, one after another: the outputs, then
    every layer's final states (the stack's state order)."""
    seq1, h1, c1 = gn.layers.LSTM(4, return_sequences=True, return_state=True)(masked)
    seq2, m = gn.layers.RNN(GN_MINIMAL(3), return_sequences=True, return_state=True)(seq1)
    out, g = gn.layers.GRU(2, return_sequences=return_sequences, return_state=True)(seq2)
    return [out, h1, c1, m, g]


@pytest.mark.parametrize("go_backwards", [False, True])
def test_stacked_cells_are_their_layers_chained_and_match_keras(go_backwards):
    """A stack keeps every cell's states over a masked step, as the chained layers do; it
    runs backwards as they run over the reversed sequence."""
    x = _ragged(X)
    options = {"return_state": True, "return_sequences": go_backwards,
               "go_backwards": go_backwards}
    ours = gn.layers.RNN(gn.layers.StackedRNNCells(_stack(gn, GN_MINIMAL)), **options)
    i = gn.Input((None, 5))
    model = gn.Model(i, ours(gn.layers.Masking()(i)))
    assert ours.cell.state_size == [[4, 4], 3, 2]
    _perturbed(model)
    chained = gn.Model(i, _chained_layers(gn.layers.Masking()(i), go_backwards))
    chained.set_weights(model.get_weights())
    got = model.predict(x, verbose=0)
    _assert_outputs(got, chained.predict(x[:, ::-1] if go_backwards else x, verbose=0))
    if compare_with(keras, "Keras's StackedRNNCells"):
        theirs = keras.layers.RNN(keras.layers.StackedRNNCells(
            _stack(keras, _keras_classes()[0])), **options)
        theirs.build((None, 7, 5))
        theirs.set_weights(model.get_weights())
        assert theirs.cell.state_size == ours.cell.state_size
        _assert_outputs(got, _numpy(theirs(x, mask=np.any(x != 0, -1))))


def test_five_adam_steps_through_stacked_cells_match_the_chained_layers_and_keras():
    x = _ragged(X)
    y = RNG.standard_normal((4, 2)).astype("float32")

    def make(lib, minimal):
        return lib.Sequential([lib.Input((None, 5)), lib.layers.Masking(),
                               lib.layers.RNN(_stack(lib, minimal)), lib.layers.Dense(2)])
    i = gn.Input((None, 5))
    chained = gn.Model(i, gn.layers.Dense(2)(_chained_layers(gn.layers.Masking()(i),
                                                             False)[0]))
    model = make(gn, GN_MINIMAL)
    model.set_weights(chained.get_weights())
    _train_like(model, chained, x, y, "Adam")
    if compare_with(keras, "Keras's StackedRNNCells training"):
        keras.utils.set_random_seed(7)   # drawn weights whose 5 Adam steps stay in 1e-5
        gm, km = make(gn, GN_MINIMAL), make(keras, _keras_classes()[0])
        gm.set_weights(km.get_weights())
        train_alike(gm, km, x, y, optimizer="Adam", optimizer_args={"learning_rate": 0.05})


# ---- saving and configs ---------------------------------------------------------------------

def test_saving_round_trips_users_and_stacked_cells(tmp_path):
    i = gn.Input((None, 5))
    stacked = gn.layers.RNN([GN_MINIMAL(3), gn.layers.GRUCell(2, reset_after=False)],
                            return_sequences=True)
    two = gn.layers.RNN(GN_TWO_STATE(2), go_backwards=True, unroll=True)
    model = gn.Model(i, [stacked(i), two(i)])
    _perturbed(model)
    before = model.predict(X, verbose=0)
    model.save(str(tmp_path / "cells.graphnet"))
    loaded = gn.models.load_model(str(tmp_path / "cells.graphnet"), custom_objects={
        "MinimalRNNCell": GN_MINIMAL, "TwoStateCell": GN_TWO_STATE})
    for a, b in zip(loaded.predict(X, verbose=0), before):
        np.testing.assert_array_equal(a, b)
    rnn = [layer for layer in loaded.layers if isinstance(layer, gn.layers.RNN)]
    assert [type(r.cell).__name__ for r in rnn] == ["StackedRNNCells", "TwoStateCell"]
    assert rnn[1].go_backwards and rnn[1].unroll
    assert rnn[0].get_config()["cell"] == stacked.get_config()["cell"]


@needs(keras)
def test_rnn_and_stacked_configs_have_keras_keys():
    ours = gn.layers.RNN(gn.layers.StackedRNNCells([gn.layers.LSTMCell(2)]))
    theirs = keras.layers.RNN(keras.layers.StackedRNNCells([keras.layers.LSTMCell(2)]))
    assert set(ours.get_config()) == set(theirs.get_config())
    assert set(ours.cell.get_config()) == set(theirs.cell.get_config())


# ---- bad input ---------------------------------------------------------------------------

def test_bad_input_is_named():
    class NoState(gn.layers.Layer):
        def call(self, inputs, states):
            return inputs, states

    class WrongStates(GN_MINIMAL):
        def call(self, inputs, states):
            output, _ = super().call(inputs, states)
            return output, [output, output]

    with pytest.raises(ValueError, match=r"cell 'no_state\w*' must have a `state_size`"):
        gn.layers.RNN(NoState())
    with pytest.raises(ValueError, match=r"a cell must be a gn.layers.Layer"):
        gn.layers.RNN("lstm")
    with pytest.raises(TypeError, match=r"LSTMCell: unexpected keyword argument "
                                        r"'return_sequences'"):
        gn.layers.LSTMCell(3, return_sequences=True)
    i = gn.Input((None, 5))
    with pytest.raises(ValueError, match=r"the cell returned 2 state\(s\), its state_size "
                                         r"gives 1"):
        gn.layers.RNN(WrongStates(3))(i)
    with pytest.raises(ValueError, match=r"RNN '\w+': expected an input of rank 3 or more"):
        gn.layers.RNN(GN_MINIMAL(3))(gn.Input((5,)))
    with pytest.raises(ValueError, match=r"initial state 0 must have shape \(None, 3\), got "
                                         r"\(None, 4\)"):
        gn.layers.RNN(GN_MINIMAL(3))(i, initial_state=[gn.Input((4,))])
    with pytest.raises(ValueError, match=r"initial_state must hold 2 tensor\(s\)"):
        gn.layers.RNN(GN_TWO_STATE(3))(i, initial_state=[gn.Input((3,))])
    with pytest.raises(ValueError, match=r"unroll=True does not support recurrent_dropout"):
        gn.layers.GRU(3, unroll=True, recurrent_dropout=0.5)(i)
    with pytest.raises(ValueError, match=r"LSTMCell '\w+': expected a step input of rank 2"):
        gn.layers.LSTMCell(3)(i, [gn.Input((3,)), gn.Input((3,))])
