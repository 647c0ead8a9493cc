"""SimpleRNN, LSTM and GRU: the RNN_SEQUENCE op (C kernels against the NumPy reference,
gradients by finite differences), and the layers against Keras 3 (torch backend) with
the same weights: forward for each option, masks and go_backwards on ragged batches,
initial states, variable lengths, five SGD and Adam steps, dropout's per-sequence mask,
saving, and the errors for bad input."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, train_alike
from keras_outputs import assert_outputs as _assert_outputs
from keras_outputs import keras_arrays as _numpy
from graphnet.graph.node import Node
from graphnet.graph.tensor import SymbolicTensor
from graphnet.ops.recurrent import bias_shape
from graphnet.ops.recurrent_layout import GATES, MASK_CARRY, MASK_NONE, MASK_ZERO
from op_check import check_op

RNG = np.random.default_rng(17)
X = RNG.standard_normal((4, 7, 5)).astype("float32")
LAYERS = ["SimpleRNN", "LSTM", "GRU"]


# ---- the op ------------------------------------------------------------------------

def _op_case(cell, reset_after=False, mask_mode=MASK_NONE, go_backwards=False, has_bias=True,
             has_h0=False, activation="tanh", recurrent_activation="sigmoid", rec_masked=False,
             B=2, T=5, D=3, U=4):
    attrs = dict(cell=cell, units=U, activation=activation,
                 recurrent_activation=recurrent_activation, go_backwards=go_backwards,
                 reset_after=reset_after, mask_mode=mask_mode, has_bias=has_bias,
                 has_h0=has_h0, has_c0=has_h0 and cell == "lstm", rec_masked=rec_masked)
    g = GATES[cell] * U
    shapes = [(B, T, D), (D, g), (U, g)] + ([bias_shape(attrs)] if has_bias else [])
    shapes += [(B, U)] * (int(attrs["has_h0"]) + int(attrs["has_c0"]))
    none_axes = [(0, 1), (), ()] + [()] * has_bias + [(0,)] * (len(shapes) - 3 - has_bias)
    dtypes = ["float"] * len(shapes)
    if mask_mode != MASK_NONE:
        shapes.append((B, T))
        none_axes.append((0, 1))
        dtypes.append("bool")
    if rec_masked:   # dropout masks of 0 and 2, from a bool input (not differentiated)
        shapes.append((B, g))
        none_axes.append((0,))
        dtypes.append("bool")

    def fn(*tensors):
        tensors = list(tensors)
        if rec_masked:
            tensors[-1] = gn.ops.multiply(gn.ops.cast(tensors[-1], tensors[0].dtype), 2.0)
        return SymbolicTensor(Node("RNN_SEQUENCE", [t.node for t in tensors], attrs))
    return fn, shapes, none_axes, dtypes


OP_CASES = [
    ("lstm", {}), ("lstm", {"go_backwards": True, "has_h0": True}),
    ("lstm", {"mask_mode": MASK_CARRY, "has_h0": True}),
    ("lstm", {"mask_mode": MASK_ZERO, "go_backwards": True, "has_bias": False}),
    ("lstm", {"activation": "linear", "recurrent_activation": "tanh"}),
    ("gru", {"reset_after": True}), ("gru", {"reset_after": False, "has_h0": True}),
    ("gru", {"reset_after": True, "mask_mode": MASK_CARRY, "go_backwards": True,
             "has_h0": True}),
    ("gru", {"reset_after": False, "mask_mode": MASK_ZERO}),
    ("simple_rnn", {}), ("simple_rnn", {"mask_mode": MASK_CARRY, "has_h0": True,
                                        "go_backwards": True}),
    ("simple_rnn", {"activation": "sigmoid", "has_bias": False}),
    ("lstm", {"rec_masked": True, "mask_mode": MASK_CARRY, "has_h0": True}),
    ("gru", {"rec_masked": True, "reset_after": True, "go_backwards": True}),
    ("gru", {"rec_masked": True, "reset_after": False, "has_h0": True}),
    ("simple_rnn", {"rec_masked": True}),
]


@pytest.mark.parametrize("cell, options", OP_CASES, ids=[f"{c}-{'-'.join(o) or 'plain'}"
                                                         for c, o in OP_CASES])
def test_the_op_matches_its_reference_and_finite_differences(cell, options):
    """Every slot of the record (states, outputs, gates) is differentiated exactly, with
    the batch and the time steps unknown until the plan is specialized."""
    fn, shapes, none_axes, dtypes = _op_case(cell, **options)
    domain = [(-1.0, 1.0)] * len(shapes)
    check_op(fn, shapes, dtypes=dtypes, domain=domain, none_axes=none_axes,
             op="RNN_SEQUENCE")


# a linear LSTM's state grows without bound over 61 units: float32's error grows with it
TEAM_CASES = [(c, o) for c, o in OP_CASES if o.get("activation") != "linear"]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("cell, options", TEAM_CASES, ids=[f"{c}-{'-'.join(o) or 'plain'}"
                                                           for c, o in TEAM_CASES])
def test_the_sequence_kernels_split_between_threads_match_the_reference(cell, options,
                                                                        threads):
    """Sizes whose per-step product is split between a team (batch x gates x units x units
    above two of the GEMM's grains): each thread owns an uneven slice of the units (61 or
    97 over 2 or 3 threads, none a whole register tile), the 37 rows end in a partial tile,
    and the forward and backward kernels must match the reference to float32's rounding
    over products 61-97 deep (1e-4)."""
    fn, shapes, none_axes, dtypes = _op_case(cell, B=37, T=4, D=5,
                                             U=97 if cell == "simple_rnn" else 61, **options)
    before = gn.get_num_threads()
    gn.set_num_threads(threads)
    try:
        check_op(fn, shapes, dtypes=dtypes, domain=[(-1.0, 1.0)] * len(shapes),
                 none_axes=none_axes, op="RNN_SEQUENCE", rtol=1e-4, atol=1e-4,
                 grad_rtol=1e-4, grad_atol=1e-4, fd_samples=2, resize=False)
    finally:
        gn.set_num_threads(before)


def test_one_op_per_call_and_its_gradient_is_the_bptt_kernels():
    i = gn.Input((None, 5))
    model = gn.Model(i, gn.layers.Dense(1)(gn.layers.LSTM(3)(i)))
    from graphnet.graph.graph import topological_order
    names = [n.op.name for n in topological_order([model.outputs[0].node])]
    assert names.count("RNN_SEQUENCE") == 1
    loss = gn.ops.sum(model.outputs[0])
    grads = gn.gradients(loss, model.trainable_weights)
    grad_ops = [n.op.name for n in topological_order([g.node for g in grads])]
    assert grad_ops.count("RNN_BPTT") == 1
    assert grad_ops.count("RNN_PARAM_GRAD") == 3   # kernel, recurrent kernel, bias


def test_a_record_width_the_layout_does_not_give_is_refused_by_the_kernel():
    from graphnet.runtime import cext
    ffi, lib = cext.ffi, cext.lib
    x = np.zeros((1, 2, 3), np.float32)
    W, R = np.zeros((3, 8), np.float32), np.zeros((2, 8), np.float32)
    Y = np.zeros((1, 2, 13), np.float32)   # an LSTM of 2 units needs 12
    work = np.zeros(64, np.float32)

    def p(a):
        return ffi.cast("float *", a.ctypes.data)
    status = lib.gn_rnn_forward(1, 1, 2, 0, 0, 0, 1, 2, 3, 2, 13, p(x), p(W), p(R),
                                ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, p(Y),
                                p(work), 64)
    assert status == lib.GN_ERR_BAD_ARGS
    assert not Y.any()


# ---- the layers against Keras ---------------------------------------------------------

def _pair(name, input_shape=(None, 7, 5), **kwargs):
    """A graphnet layer and, with Keras, Keras's with the same (perturbed) weights."""
    ours = getattr(gn.layers, name)(3, **kwargs)
    theirs = None
    if compare_with(keras, f"Keras's {name}"):
        theirs = getattr(keras.layers, name)(3, **kwargs)
        theirs.build(input_shape)
        weights = [w + RNG.standard_normal(w.shape).astype("float32") * 0.2
                   for w in theirs.get_weights()]
        theirs.set_weights(weights)
    return ours, theirs


def _want(model, theirs, inputs, keras_call):
    """What ``model`` must give on ``inputs``: Keras's layer's outputs (``keras_call()``,
    after our layer took its weights), or without Keras the NumPy reference interpreter's
    run of the same model (graphnet/ops/recurrent.py's reference, the C kernels' oracle)."""
    if theirs is not None:
        return keras_call()
    out = model.predict(inputs, verbose=0, backend="reference")
    return [np.asarray(a) for a in (out if isinstance(out, list) else [out])]


def _take_weights(ours, theirs):
    if theirs is not None:
        ours.set_weights(theirs.get_weights())


FORWARD = [(name, options) for name in LAYERS for options in (
    {}, {"return_sequences": True}, {"go_backwards": True, "return_sequences": True},
    {"return_state": True}, {"use_bias": False, "go_backwards": True},
    {"activation": "relu"})] + [
    ("GRU", {"reset_after": False, "return_sequences": True}),
    ("GRU", {"reset_after": False, "return_state": True, "go_backwards": True}),
    ("LSTM", {"unit_forget_bias": False, "recurrent_activation": "hard_sigmoid"}),
    ("SimpleRNN", {"activation": "linear", "return_sequences": True})]


@pytest.mark.parametrize("name, options", FORWARD,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'plain'}"
                              for n, o in FORWARD])
def test_forward_matches_keras(name, options):
    ours, theirs = _pair(name, **options)
    i = gn.Input((None, 5))
    model = gn.Model(i, ours(i))
    _take_weights(ours, theirs)
    _assert_outputs(model.predict(X, verbose=0), _want(model, theirs, X,
                                                       lambda: _numpy(theirs(X))))


def _ragged(pre_padding):
    """X with steps of each sequence padded with zeros (lengths 7, 4, 1, 5)."""
    x = X.copy()
    for b, n in enumerate((7, 4, 1, 5)):
        if pre_padding:
            x[b, :7 - n] = 0.0
        else:
            x[b, n:] = 0.0
    return x


MASKED = [(name, {"return_sequences": True, "go_backwards": backwards}, pre)
          for name in LAYERS for backwards in (False, True) for pre in (False, True)] + [
    ("LSTM", {"return_state": True}, True), ("GRU", {"return_state": True}, False),
    ("LSTM", {"return_sequences": True, "zero_output_for_mask": True}, True)]


@pytest.mark.parametrize("name, options, pre", MASKED)
def test_masked_ragged_batches_match_keras(name, options, pre):
    """Masking's mask: a masked step keeps the state and repeats the previous output."""
    x = _ragged(pre)
    ours, theirs = _pair(name, **options)
    i = gn.Input((None, 5))
    out = ours(gn.layers.Masking()(i))
    model = gn.Model(i, out)
    _take_weights(ours, theirs)
    _assert_outputs(model.predict(x, verbose=0), _want(
        model, theirs, x, lambda: _numpy(theirs(x, mask=np.any(x != 0, -1)))))


@pytest.mark.parametrize("name", LAYERS)
def test_initial_states_with_a_mask_match_keras(name):
    """Leading masked steps: the output is zeros (Keras's previous output starts at 0)
    while the state stays the given initial state."""
    x = _ragged(True)
    n_states = 2 if name == "LSTM" else 1
    states = [RNG.standard_normal((4, 3)).astype("float32") for _ in range(n_states)]
    ours, theirs = _pair(name, return_sequences=True, return_state=True)
    i = gn.Input((None, 5))
    s = [gn.Input((3,)) for _ in states]
    model = gn.Model([i] + s, ours(gn.layers.Masking()(i), initial_state=s))
    _take_weights(ours, theirs)
    got = model.predict([x] + states, verbose=0)
    want = _want(model, theirs, [x] + states, lambda: _numpy(
        theirs(x, initial_state=states, mask=np.any(x != 0, -1))))
    _assert_outputs(got, want)
    assert np.all(got[0][2, :6] == 0.0)   # only the last step of sequence 2 is unmasked


def test_the_sequence_length_may_vary_between_batches():
    ours, theirs = _pair("LSTM", return_sequences=True)
    i = gn.Input((None, 5))
    model = gn.Model(i, ours(i))
    _take_weights(ours, theirs)
    for steps in (1, 3, 11):
        x = RNG.standard_normal((2, steps, 5)).astype("float32")
        _assert_outputs(model.predict(x, verbose=0), _want(model, theirs, x,
                                                           lambda: _numpy(theirs(x))))


TRAIN = [(name, optimizer, options) for name in LAYERS for optimizer in ("SGD", "Adam")
         for options in ({}, {"return_sequences": True, "go_backwards": True})] + [
    ("GRU", "Adam", {"reset_after": False}),
    ("LSTM", "Adam", {"kernel_regularizer": "l2", "recurrent_constraint": "non_neg"})]


@needs(keras)
@pytest.mark.parametrize("name, optimizer, options", TRAIN)
def test_five_training_steps_match_keras(name, optimizer, options):
    x = _ragged(False)
    y = RNG.standard_normal((4, 7, 2) if options.get("return_sequences") else (4, 2))

    def make(lib):
        return lib.Sequential([lib.Input((None, 5)), lib.layers.Masking(),
                               getattr(lib.layers, name)(6, **options), lib.layers.Dense(2)])
    gm, km = make(gn), make(keras)
    gm.set_weights(km.get_weights())
    train_alike(gm, km, x, y.astype("float32"), optimizer=optimizer,
                optimizer_args={"learning_rate": 0.05})


@pytest.mark.parametrize("unroll", [False, True])
def test_dropout_drops_the_same_features_at_every_step_while_training(unroll):
    """SimpleRNN (the sequence kernel, or unrolled into one-step kernels) with an identity
    kernel, no recurrence and a linear activation outputs its dropped input: each
    (sequence, feature) is kept (scaled by 2) at all steps or at none; at inference
    nothing is dropped."""
    layer = gn.layers.SimpleRNN(5, activation="linear", dropout=0.5, return_sequences=True,
                                seed=3, unroll=unroll)
    i = gn.Input((None, 5))
    model = gn.Model(i, layer(i))
    layer.set_weights([np.eye(5, dtype="float32"), np.zeros((5, 5), "float32"),
                       np.zeros(5, "float32")])
    x = np.abs(RNG.standard_normal((16, 6, 5))).astype("float32") + 0.5
    np.testing.assert_allclose(model.predict(x, verbose=0), x, atol=1e-6)
    dropped = gn.function([i], model.outputs, training=True)(x)[0]
    kept = dropped > 0
    assert np.all(kept == kept[:, :1, :])                       # one mask per sequence
    np.testing.assert_allclose(dropped[kept], 2 * x[kept], rtol=1e-6)
    assert 0.2 < kept[:, 0, :].mean() < 0.8


@needs(keras)
def test_saving_round_trips_a_model_with_an_lstm(tmp_path):
    ours, theirs = _pair("LSTM", return_sequences=True, go_backwards=True)
    i = gn.Input((None, 5))
    model = gn.Model(i, gn.layers.Dense(2)(ours(gn.layers.Masking()(i))))
    ours.set_weights(theirs.get_weights())
    x = _ragged(False)
    before = model.predict(x, verbose=0)
    model.save(str(tmp_path / "lstm.graphnet"))
    loaded = gn.models.load_model(str(tmp_path / "lstm.graphnet"))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)
    lstm = [layer for layer in loaded.layers if isinstance(layer, gn.layers.LSTM)][0]
    assert lstm.go_backwards and lstm.return_sequences
    assert lstm.get_config() == ours.get_config()


@pytest.mark.parametrize("name", LAYERS)
def test_config_round_trip_and_keras_weight_layout(name):
    layer = getattr(gn.layers, name)(4, return_state=True, go_backwards=True)
    i = gn.Input((None, 3))
    layer(i)
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[name]
    bias = (2, 3 * 4) if name == "GRU" else (gates * 4,)
    assert [w.shape for w in layer.get_weights()] == [(3, gates * 4), (4, gates * 4), bias]
    assert layer.name.startswith({"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}[name])
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert layer.compute_output_shape((None, 9, 3)) == [(None, 4)] * (
        3 if name == "LSTM" else 2)
    if name == "LSTM":
        np.testing.assert_array_equal(layer.get_weights()[2], np.r_[np.zeros(4), np.ones(4),
                                                                    np.zeros(8)])


def test_bad_input_is_named():
    layer = gn.layers.LSTM(3)
    with pytest.raises(ValueError, match=r"'lstm\w*'.*rank 3.*\(None, 5\)"):
        layer(gn.Input((5,)))
    i = gn.Input((None, 5))
    with pytest.raises(ValueError, match=r"initial state 1 must have shape \(None, 3\), got "
                                         r"\(None, 4\)"):
        gn.layers.LSTM(3)(i, initial_state=[gn.Input((3,)), gn.Input((4,))])
    with pytest.raises(ValueError, match=r"initial_state must hold 2 tensor\(s\).* got 1"):
        gn.layers.LSTM(3)(i, initial_state=[gn.Input((3,))])
    with pytest.raises(ValueError, match=r"`activation` must be one of .* got "
                                         r"activation='softmax'"):
        gn.layers.GRU(3, activation="softmax")
    with pytest.raises(ValueError, match=r"`units` must be a positive integer, got units=0"):
        gn.layers.SimpleRNN(0)
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\), got dropout=1.5"):
        gn.layers.LSTM(3, dropout=1.5)
    with pytest.raises(ValueError, match=r"the mask has shape \(None, 4\).*expected the "
                                         r"input's leading axes \(None, 7\)"):
        gn.layers.GRU(3)(gn.Input((7, 5)), mask=gn.ops.not_equal(gn.Input((4,)), 0))
    m = gn.Input((None,))
    model = gn.Model([i, m], gn.layers.GRU(3)(i, mask=gn.ops.not_equal(m, 0)))
    with pytest.raises(Exception, match=r"RNN_SEQUENCE: the mask must have shape \(2, 7\), "
                                        r"got \(2, 6\)"):
        model.predict([X[:2], np.ones((2, 6), "float32")], verbose=0)


@pytest.mark.parametrize("name", LAYERS)
def test_recurrent_dropout_changes_training_outputs_only(name):
    layer = getattr(gn.layers, name)(4, recurrent_dropout=0.5, seed=1)
    i = gn.Input((None, 5))
    model = gn.Model(i, layer(i))
    plain = getattr(gn.layers, name)(4)
    reference = gn.Model(i, plain(i))
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(model.predict(X, verbose=0), reference.predict(X, verbose=0),
                               atol=1e-6)
    trained = gn.function([i], model.outputs, training=True)(X)[0]
    assert np.abs(trained - reference.predict(X, verbose=0)).max() > 1e-3
    model.compile("sgd", "mse")
    assert np.isfinite(model.train_on_batch(X, np.zeros((4, 4), "float32")))
