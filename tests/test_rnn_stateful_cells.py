"""Issue 17's leftovers against Keras 3 (torch backend): StackedRNNCells' final states
nested per cell, stateful RNN(cell) and ConvLSTM with reset_state(s), stateful layers with
unroll=True, and a DropoutRNNCell's masks drawn once per call and reused at every step."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras
from keras_outputs import assert_outputs as _assert_outputs
from test_rnn_cells import minimal_cell_class, two_state_cell_class

ATOL = 1e-5
RNG = np.random.default_rng(41)
B, T, D = 3, 4, 5
BATCHES = RNG.standard_normal((3, B, T, D)).astype("float32")   # three batches in a row


def _structure(value):
    """The nesting of a call's outputs: 't' per tensor, a list per list."""
    if isinstance(value, (list, tuple)):
        return [_structure(v) for v in value]
    return "t"


def _random_weights(model, scale=0.5):
    model.set_weights([RNG.standard_normal(w.shape).astype("float32") * scale
                       for w in model.get_weights()])


def _flat(value):
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flat(v)]
    return [value]


# ---- StackedRNNCells' states -----------------------------------------------------------

def _stack(lib):
    return [lib.layers.LSTMCell(4), lib.layers.GRUCell(2), two_state_cell_class(lib)(3)]


def test_stacked_cells_return_their_states_nested_per_cell_as_keras():
    """One entry per cell after the output: a list for a cell of several states (LSTMCell,
    the two-state cell), the tensor itself for a cell of one state (GRUCell)."""
    i = gn.Input((T, D))
    ours = gn.layers.RNN(_stack(gn), return_state=True)(i)
    assert _structure(ours) == ["t", ["t", "t"], "t", ["t", "t"]]
    assert [tuple(t.shape) for t in _flat(ours)] == [(None, 6), (None, 4), (None, 4),
                                                     (None, 2), (None, 3), (None, 6)]
    model = gn.Model(i, ours)
    _random_weights(model)
    got = model.predict(BATCHES[0], verbose=0)   # a Model's outputs come back flat
    assert len(got) == 6
    if compare_with(keras, "Keras's StackedRNNCells states"):
        ki = keras.Input((T, D))
        theirs = keras.layers.RNN(_stack(keras), return_state=True)(ki)
        assert _structure(theirs) == _structure(ours)
        km = keras.Model(ki, theirs)
        km.set_weights(model.get_weights())
        _assert_outputs(got, _flat(km.predict(BATCHES[0], verbose=0)))


# ---- stateful RNN(cell) and ConvLSTM --------------------------------------------------

def _carry_like_keras(build, batches, atol=ATOL):
    """build(lib) -> (model, layer) of a stateful layer; predict batch by batch, states
    compared with Keras's after each, then reset_state / reset_states start over."""
    gm, gl = build(gn)
    _random_weights(gm)
    km, kl = build(keras) if compare_with(keras, "Keras's stateful layer") else (None, None)
    if km is not None:
        km.set_weights(gm.get_weights())
    outputs = []
    for x in batches:
        outputs.append(gm.predict(x, verbose=0))
        if km is not None:
            np.testing.assert_allclose(outputs[-1], km.predict(x, verbose=0), atol=atol)
            theirs = _flat(kl.states)   # Keras nests a stack's states per cell
            assert len(gl.states) == len(theirs)
            for a, b in zip(gl.states, theirs):
                np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b),
                                           atol=atol)
    assert all(s.numpy().any() for s in gl.states)
    assert np.abs(gm.predict(batches[0], verbose=0) - outputs[0]).max() > 1e-3
    gl.reset_state()
    assert not any(s.numpy().any() for s in gl.states)
    np.testing.assert_allclose(gm.predict(batches[0], verbose=0), outputs[0], atol=1e-6)
    gl.reset_states()
    np.testing.assert_allclose(gm.predict(batches[0], verbose=0), outputs[0], atol=1e-6)
    return gl


@pytest.mark.parametrize("cells, unroll", [("two_state", False), ("stack", False),
                                           ("minimal", True)])
def test_a_stateful_rnn_over_any_cell_carries_its_states_as_keras(cells, unroll):
    def build(lib):
        make = {"two_state": lambda: two_state_cell_class(lib)(3),
                "stack": lambda: [minimal_cell_class(lib)(3), lib.layers.LSTMCell(2)],
                "minimal": lambda: minimal_cell_class(lib)(3)}[cells]
        i = lib.Input(batch_shape=(B, T, D))
        layer = lib.layers.RNN(make(), stateful=True, unroll=unroll, return_sequences=True)
        return lib.Model(i, layer(i)), layer
    layer = _carry_like_keras(build, BATCHES)
    want = {"two_state": [(B, 3), (B, 6)], "stack": [(B, 3), (B, 2), (B, 2)],
            "minimal": [(B, 3)]}[cells]
    assert [s.shape for s in layer.states] == want


@pytest.mark.parametrize("options", [{"padding": "same"}, {"strides": 2}])
def test_a_stateful_conv_lstm_carries_h_and_c_as_keras(options):
    frames = RNG.standard_normal((3, 2, 3, 5, 6, 2)).astype("float32")

    def build(lib):
        i = lib.Input(batch_shape=(2, 3, 5, 6, 2))
        layer = lib.layers.ConvLSTM2D(3, 3, stateful=True, **options)
        return lib.Model(i, layer(i)), layer
    layer = _carry_like_keras(build, frames, atol=1e-4)
    rows, cols = (5, 6) if options.get("padding") == "same" else (2, 2)
    assert [s.shape for s in layer.states] == [(2, rows, cols, 3)] * 2


def test_a_stateful_conv_lstm_keeps_its_states_in_the_data_format():
    """channels_first states are (batch, filters, rows, cols), as its outputs."""
    i = gn.Input(batch_shape=(2, 3, 2, 5, 6))
    layer = gn.layers.ConvLSTM1D(3, 2, stateful=True, data_format="channels_first")
    with pytest.raises(ValueError, match=r"ConvLSTM1D '\w+': expected an input of rank 4"):
        layer(i)
    layer = gn.layers.ConvLSTM2D(3, 3, stateful=True, data_format="channels_first",
                                 return_state=True)
    model = gn.Model(i, layer(i))
    x = RNG.standard_normal((2, 3, 2, 5, 6)).astype("float32")
    _, h, c = model.predict(x, verbose=0)
    assert [s.shape for s in layer.states] == [(2, 3, 3, 4)] * 2
    np.testing.assert_allclose(layer.states[0].numpy(), h, atol=1e-6)
    np.testing.assert_allclose(layer.states[1].numpy(), c, atol=1e-6)


# ---- stateful with unroll=True ---------------------------------------------------------

@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_stateful_with_unroll_carries_the_states_of_the_sequence_kernel(name):
    def build(unroll):
        i = gn.Input(batch_shape=(B, T, D))
        layer = getattr(gn.layers, name)(4, stateful=True, unroll=unroll,
                                         return_sequences=True)
        return gn.Model(i, layer(i)), layer
    (unrolled, ul), (kernel, kl) = build(True), build(False)
    _random_weights(unrolled)
    kernel.set_weights(unrolled.get_weights())
    for x in BATCHES:
        np.testing.assert_allclose(unrolled.predict(x, verbose=0), kernel.predict(x, verbose=0),
                                   atol=ATOL)
        for a, b in zip(ul.states, kl.states, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=ATOL)
    assert all(s.numpy().any() for s in ul.states)
    if compare_with(keras, "Keras's stateful unrolled layer"):
        def build_keras(lib):
            i = lib.Input(batch_shape=(B, T, D))
            extra = {"use_cudnn": False} if lib is keras and name != "SimpleRNN" else {}
            layer = getattr(lib.layers, name)(4, stateful=True, unroll=True,
                                              return_sequences=True, **extra)
            return lib.Model(i, layer(i)), layer
        _carry_like_keras(build_keras, BATCHES)


# ---- DropoutRNNCell ----------------------------------------------------------------------

def dropout_cell_class(lib):
    """A cell showing its masks: the output is the input times its mask beside ones times
    the recurrent mask (drawn on the state); Keras's DropoutRNNCell mixin."""
    DropoutRNNCell = keras.src.layers.rnn.dropout_rnn_cell.DropoutRNNCell if lib is keras \
        else gn.layers.DropoutRNNCell

    class MaskShowingCell(DropoutRNNCell, lib.layers.Layer):
        def __init__(self, units, dropout=0.5, recurrent_dropout=0.5, **kwargs):
            super().__init__(**kwargs)
            self.units, self.state_size = units, units
            self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
            if lib is keras:
                self.seed_generator = keras.random.SeedGenerator(5)

        def call(self, inputs, states):
            h = states[0]
            shown = lib.ops.concatenate([inputs * self.get_dropout_mask(inputs),
                                         (h * 0.0 + 1.0) * self.get_recurrent_dropout_mask(h)],
                                        axis=-1)
            return shown, [h + 1.0]
    return MaskShowingCell


def _masks_by_step(outputs, width):
    """(input masks, recurrent masks), each (batch, steps, features), of the shown masks."""
    return outputs[..., :width], outputs[..., width:]


@pytest.mark.parametrize("lib_name", ["graphnet", "keras"])
def test_a_dropout_cells_masks_are_drawn_once_per_call_and_reused_at_every_step(lib_name):
    lib = gn if lib_name == "graphnet" else keras
    if lib is keras and not compare_with(keras, "Keras's DropoutRNNCell"):
        return
    x = np.ones((64, T, D), "float32")
    cell = dropout_cell_class(lib)(6)
    if lib is gn:
        i = gn.Input((T, D))
        model = gn.Model(i, gn.layers.RNN(cell, return_sequences=True)(i))

        def run():
            return model.predict(x, verbose=0)
    else:
        layer = keras.layers.RNN(cell, return_sequences=True)

        def run():
            return keras.ops.convert_to_numpy(layer(x))
    first, second = run(), run()
    for out in (first, second):
        for masks in _masks_by_step(out, D):
            assert set(np.unique(masks)) == {0.0, 2.0}   # rate 0.5: kept ones scaled by 2
            for t in range(1, T):
                np.testing.assert_array_equal(masks[:, t], masks[:, 0])
    assert (first != second).any()    # each call draws its own
    assert cell.__dict__.get("_dropout_mask") is None   # reset after the call


def test_stacked_dropout_cells_draw_masks_of_each_cells_input_and_state():
    """The second cell's masks are drawn on the first one's output (6 wide) and its own
    state (2 wide); dropout_mask_count gives that many different masks."""
    class Shown(dropout_cell_class(gn)):
        output_size = D + 2   # its input's mask beside its state's

    class Counted(dropout_cell_class(gn)):
        dropout_mask_count = 2

        def call(self, inputs, states):
            first, second = self.get_dropout_mask(inputs)
            return gn.ops.concatenate([inputs * first, inputs * second], axis=-1), \
                [states[0] + 1.0]

    i = gn.Input((T, D))
    out = gn.layers.RNN([Shown(2), Counted(2)], return_sequences=True)(i)
    assert tuple(out.shape) == (None, T, 2 * (D + 2))
    got = gn.Model(i, out).predict(np.ones((64, T, D), "float32"), verbose=0)
    first, second = got[..., :D + 2], got[..., D + 2:]
    for t in range(1, T):
        np.testing.assert_array_equal(got[:, t], got[:, 0])
    assert set(np.unique(first)) == {0.0, 4.0}   # a mask of 0, 2 over masks of 0, 2
    assert (first != second).any()
