"""Bidirectional against Keras 3 (torch backend) with the same weights: every merge mode
with return_sequences and return_state over SimpleRNN, LSTM and GRU, masks on ragged
batches, initial states split between the directions, a given backward_layer, five SGD
and Adam steps, saving, the generic layer checks, export (.gnx and ONNX) and the errors
for bad input."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, onnx, train_alike
from extras import onnxruntime as ort
from layer_check import assert_raises_naming, check_layer

ATOL = 1e-5
RNG = np.random.default_rng(23)
X = RNG.standard_normal((4, 7, 5)).astype("float32")
LAYERS = ["SimpleRNN", "LSTM", "GRU"]
MERGE_MODES = ["concat", "sum", "mul", "ave", None]


def _ragged(pre_padding):
    """X with the steps past each sequence's length zeroed (lengths 7, 3, 1, 5), at the
    start (pre) or the end (post)."""
    x = X.copy()
    for b, n in enumerate((7, 3, 1, 5)):
        if pre_padding:
            x[b, :7 - n] = 0.0
        else:
            x[b, n:] = 0.0
    return x


def _bidirectional_of(model):
    return [layer for layer in model.layers if isinstance(layer, gn.layers.Bidirectional)][0]


def _two_directions(bidirectional, x, masked, states=()):
    """What Bidirectional computes, from its two layers run on their own (copies with its
    weights, on the same masks and initial states) merged in NumPy: the reference that
    stands where Keras is missing."""
    half = len(states) // 2
    results = []
    for direction, given in ((bidirectional.forward_layer, states[:half]),
                             (bidirectional.backward_layer, states[half:])):
        copy = type(direction).from_config(direction.get_config())
        i, s = gn.Input(x.shape[1:]), [gn.Input(st.shape[1:]) for st in given]
        out = copy(gn.layers.Masking()(i) if masked else i, initial_state=s or None)
        copy.set_weights(direction.get_weights())
        results.append(_as_list(gn.Model([i] + s, out).predict([x] + list(given), verbose=0)))
    (y, *forward_states), (y_rev, *backward_states) = results
    if bidirectional.return_sequences:
        y_rev = y_rev[:, ::-1]
    merged = {"concat": lambda: [np.concatenate([y, y_rev], axis=-1)],
              "sum": lambda: [y + y_rev], "mul": lambda: [y * y_rev],
              "ave": lambda: [(y + y_rev) / 2], None: lambda: [y, y_rev]}
    return merged[bidirectional.merge_mode]() + forward_states + backward_states


def _checked(make, x, masked=False, states=()):
    """graphnet's model Input -> [Masking] -> make(lib) with random weights on ``x`` (and
    the initial ``states``) against its two directions run alone, and against Keras's
    model with the same weights where Keras is installed; graphnet's outputs."""
    def build(lib):
        i = lib.Input(x.shape[1:])
        s = [lib.Input(st.shape[1:]) for st in states]
        out = make(lib)(lib.layers.Masking()(i) if masked else i, initial_state=s or None)
        return lib.Model([i] + s, out)
    gm = build(gn)
    weights = [RNG.standard_normal(w.shape).astype("float32") * 0.6 for w in gm.get_weights()]
    gm.set_weights(weights)
    feed = [x] + list(states)
    got = gm.predict(feed, verbose=0)
    _assert_same(got, _two_directions(_bidirectional_of(gm), x, masked, states))
    if compare_with(keras, "the same Keras model"):
        km = build(keras)
        km.set_weights(weights)
        _assert_same(got, km.predict(feed, verbose=0))
    return got


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _assert_same(got, want):
    got, want = _as_list(got), _as_list(want)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=ATOL)


FORWARD = [(name, mode, sequences, state) for name in LAYERS for mode in MERGE_MODES
           for sequences, state in ((False, False), (True, True))] + [
    ("GRU", "concat", True, False), ("LSTM", None, False, True),
    ("SimpleRNN", "ave", True, False)]


@pytest.mark.parametrize("name, merge_mode, return_sequences, return_state", FORWARD)
def test_forward_matches_its_directions_and_keras(name, merge_mode, return_sequences,
                                                  return_state):
    def make(lib):
        return lib.layers.Bidirectional(
            getattr(lib.layers, name)(3, return_sequences=return_sequences,
                                      return_state=return_state), merge_mode=merge_mode)
    _checked(make, X)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("pre", [False, True], ids=["post-padded", "pre-padded"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_masked_ragged_batches_match_its_directions_and_keras(name, pre, return_sequences):
    """Both directions see the mask: the backward layer starts at each sequence's last
    real step, and with return_sequences masked steps output zeros (Keras forces
    zero_output_for_mask)."""
    x = _ragged(pre)

    def make(lib):
        return lib.layers.Bidirectional(getattr(lib.layers, name)(
            3, return_sequences=return_sequences, return_state=True))
    got = _checked(make, x, masked=True)
    if return_sequences:
        padded = ~np.any(x != 0, axis=-1)
        assert np.all(got[0][padded] == 0.0)


def test_a_padded_sequence_gives_what_it_gives_unpadded():
    """The mask from Embedding(mask_zero=True) reaches both directions: padding (before or
    after) changes nothing, so a padded row gives the output of its tokens alone."""
    def make(lib):
        i = lib.Input((None,), dtype="int32")
        e = lib.layers.Embedding(9, 4, mask_zero=True)(i)
        return lib.Model(i, lib.layers.Bidirectional(lib.layers.GRU(3), merge_mode="sum")(e))
    model = make(gn)
    model.set_weights([RNG.standard_normal(w.shape).astype("float32")
                       for w in model.get_weights()])
    tokens = RNG.integers(1, 9, size=(3, 4)).astype("int32")
    alone = model.predict(tokens, verbose=0)
    padded = np.zeros((3, 7), "int32")
    padded[0, :4], padded[1, 3:], padded[2, 1:5] = tokens
    got = model.predict(padded, verbose=0)
    np.testing.assert_allclose(got, alone, atol=ATOL)
    if compare_with(keras, "Keras's Embedding + Bidirectional"):
        theirs = make(keras)
        theirs.set_weights(model.get_weights())
        np.testing.assert_allclose(got, theirs.predict(padded, verbose=0), atol=ATOL)


@pytest.mark.parametrize("name", LAYERS)
def test_initial_states_are_split_between_the_directions(name):
    """initial_state holds the forward layer's states then the backward layer's."""
    count = 2 * (2 if name == "LSTM" else 1)
    states = [RNG.standard_normal((4, 3)).astype("float32") for _ in range(count)]

    def make(lib):
        return lib.layers.Bidirectional(getattr(lib.layers, name)(
            3, return_sequences=True, return_state=True), merge_mode=None)
    got = _checked(make, X, states=states)
    zeros = _checked(make, X, states=[np.zeros_like(s) for s in states])
    assert not np.allclose(zeros[1], got[1])


def test_a_given_backward_layer_matches_its_directions_and_keras():
    def make(lib):
        return lib.layers.Bidirectional(
            lib.layers.LSTM(3, return_sequences=True),
            backward_layer=lib.layers.LSTM(4, activation="relu", return_sequences=True,
                                           go_backwards=True))
    got = _checked(make, _ragged(False), masked=True)
    assert got.shape == (4, 7, 7)


TRAIN = [("SimpleRNN", "SGD", "concat"), ("LSTM", "Adam", "ave"), ("GRU", "Adam", "mul"),
         ("LSTM", "SGD", "sum")]


@needs(keras)
@pytest.mark.parametrize("name, optimizer, merge_mode", TRAIN)
def test_five_training_steps_match_keras(name, optimizer, merge_mode):
    x = _ragged(False)
    y = RNG.standard_normal((4, 2)).astype("float32")

    def make(lib):
        return lib.Sequential([
            lib.Input((None, 5)), lib.layers.Masking(),
            lib.layers.Bidirectional(getattr(lib.layers, name)(4, return_sequences=True),
                                     merge_mode=merge_mode),
            lib.layers.Bidirectional(getattr(lib.layers, name)(3)), lib.layers.Dense(2)])
    gm, km = make(gn), make(keras)
    gm.set_weights(km.get_weights())
    train_alike(gm, km, x, y, optimizer=optimizer, optimizer_args={"learning_rate": 0.05})


@pytest.mark.parametrize("name", LAYERS)
def test_the_generic_layer_checks(name):
    """Shapes against compute_output_shape, compiled against the NumPy reference, config
    and JSON round trips, and Keras's weights, parameter count and config keys."""
    check_layer(gn.layers.Bidirectional,
                {"layer": getattr(gn.layers, name)(3, return_sequences=True)},
                input_shape=(2, 5, 4),
                keras_kwargs=lambda k: {"layer": getattr(k.layers, name)(
                    3, return_sequences=True)})


def test_weights_are_the_forward_layer_s_then_the_backward_layer_s():
    inner = gn.layers.GRU(3, name="encoder")
    layer = gn.layers.Bidirectional(inner)
    layer(gn.Input((None, 5)))
    assert not inner.built   # a copy is wrapped, as in Keras
    assert layer.forward_layer.name == "forward_encoder"
    assert layer.backward_layer.name == "backward_encoder"
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
    assert [w.name for w in layer.weights] == [
        f"{d}_encoder/{w}" for d in ("forward", "backward")
        for w in ("kernel", "recurrent_kernel", "bias")]
    values = [RNG.standard_normal(w.shape).astype("float32") for w in layer.weights]
    given = gn.layers.Bidirectional(gn.layers.GRU(3), weights=values)
    given(gn.Input((None, 5)))
    for ours, want in zip(given.get_weights(), values, strict=True):
        np.testing.assert_array_equal(ours, want)


@needs(keras)
def test_the_config_matches_keras_s():
    ours = gn.layers.Bidirectional(gn.layers.LSTM(3, name="rnn"), merge_mode="mul")
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(3, name="rnn"), merge_mode="mul")
    config, keras_config = ours.get_config(), theirs.get_config()
    assert set(keras_config) <= set(config)
    assert config["merge_mode"] == "mul"
    for key in ("layer", "backward_layer"):
        assert config[key]["class_name"] == keras_config[key]["class_name"] == "LSTM"
        for option in ("name", "go_backwards", "return_sequences", "zero_output_for_mask"):
            assert config[key]["config"][option] == keras_config[key]["config"][option]


def test_saving_round_trips_a_bidirectional_model(tmp_path):
    i = gn.Input((None, 5))
    h = gn.layers.Bidirectional(gn.layers.LSTM(3, return_sequences=True), merge_mode="ave",
                                backward_layer=gn.layers.LSTM(
                                    3, return_sequences=True, go_backwards=True,
                                    activation="relu"))(gn.layers.Masking()(i))
    model = gn.Model(i, gn.layers.Bidirectional(gn.layers.GRU(2))(h))
    x = _ragged(True)
    before = model.predict(x, verbose=0)
    path = str(tmp_path / "bidirectional.graphnet")
    model.save(path)
    loaded = gn.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)
    first = [layer for layer in loaded.layers
             if isinstance(layer, gn.layers.Bidirectional)][0]
    assert first.merge_mode == "ave"
    assert first.backward_layer.get_config()["activation"] == "relu"
    assert first.get_config() == model.layers[2].get_config()


def test_bad_input_is_named():
    assert_raises_naming(lambda: gn.layers.Bidirectional(gn.layers.Dense(3)),
                         "`layer` must be a recurrent layer", "Dense", "go_backwards")
    assert_raises_naming(lambda: gn.layers.Bidirectional("lstm"),
                         "`layer` must be a gn.layers.Layer instance", "str")
    assert_raises_naming(lambda: gn.layers.Bidirectional(gn.layers.GRU(3),
                                                         merge_mode="max"),
                         "`merge_mode` must be one of", "'max'")
    assert_raises_naming(lambda: gn.layers.Bidirectional(
        gn.layers.LSTM(3), backward_layer=gn.layers.LSTM(3)),
        "different `go_backwards`", "forward_layer.go_backwards=False",
        "backward_layer.go_backwards=False")
    assert_raises_naming(lambda: gn.layers.Bidirectional(
        gn.layers.LSTM(3), backward_layer=gn.layers.LSTM(3, go_backwards=True,
                                                         return_sequences=True)),
        "the same `return_sequences`", "False for the forward layer",
        "True for the backward layer")
    assert_raises_naming(lambda: gn.layers.Bidirectional(
        gn.layers.LSTM(3), backward_layer=gn.layers.Dense(3)),
        "`backward_layer` must be a recurrent layer", "Dense")
    assert_raises_naming(lambda: gn.layers.Bidirectional(gn.layers.GRU(3), weights=3),
                         "`weights` must be a list", "int")
    i = gn.Input((None, 5))
    assert_raises_naming(lambda: gn.layers.Bidirectional(
        gn.layers.GRU(3), merge_mode="sum",
        backward_layer=gn.layers.GRU(4, go_backwards=True))(i),
        "merge_mode='sum' needs forward and backward outputs of the same shape",
        "(None, 3)", "(None, 4)")
    assert_raises_naming(lambda: gn.layers.Bidirectional(gn.layers.LSTM(3))(
        i, initial_state=[gn.Input((3,)) for _ in range(3)]),
        "an even number of tensors", "got 3")
    assert_raises_naming(lambda: gn.layers.Bidirectional(gn.layers.LSTM(3))(
        i, initial_state=[gn.Input((3,)) for _ in range(2)]),
        "initial_state must hold 2 tensor(s)", "got 1")
    assert_raises_naming(lambda: gn.layers.Bidirectional(gn.layers.GRU(3))(gn.Input((5,))),
                         "rank 3", "(None, 5)")
    wrong = gn.layers.Bidirectional(gn.layers.GRU(3), weights=[np.zeros((5, 9), "float32")])
    assert_raises_naming(lambda: wrong(i), "expects 3 weight arrays, got 0")
    with pytest.raises(AttributeError, match=r"reset_state needs a stateful layer"):
        gn.layers.Bidirectional(gn.layers.GRU(3)).reset_state()


def test_dropout_in_both_directions_only_while_training():
    layer = gn.layers.Bidirectional(gn.layers.GRU(3, dropout=0.5, recurrent_dropout=0.5,
                                                  seed=2))
    i = gn.Input((None, 5))
    model = gn.Model(i, layer(i))
    plain = gn.layers.Bidirectional(gn.layers.GRU(3))
    reference = gn.Model(i, plain(i))
    plain.set_weights(layer.get_weights())
    inference = model.predict(X, verbose=0)
    np.testing.assert_allclose(inference, reference.predict(X, verbose=0), atol=1e-6)
    trained = gn.function([i], model.outputs, training=True)(X)[0]
    assert np.abs(trained[:, :3] - inference[:, :3]).max() > 1e-3
    assert np.abs(trained[:, 3:] - inference[:, 3:]).max() > 1e-3
    if compare_with(keras, "Keras's output shape with dropout"):
        ki = keras.Input((None, 5))
        assert keras.layers.Bidirectional(keras.layers.GRU(3, dropout=0.5))(ki).shape == \
            tuple(model.outputs[0].shape)


def _stacked_on_tokens():
    """Embedding(mask_zero) -> Bidirectional LSTM (sequences, concat) -> Bidirectional GRU
    (ave) -> Dense, and ragged token batches (pre and post padding)."""
    tokens = gn.Input((7,), dtype="int32", name="tokens")
    h = gn.layers.Embedding(12, 6, mask_zero=True)(tokens)
    h = gn.layers.Bidirectional(gn.layers.LSTM(5, return_sequences=True))(h)
    h = gn.layers.Bidirectional(gn.layers.GRU(4, reset_after=False), merge_mode="ave")(h)
    model = gn.Model(tokens, gn.layers.Dense(2)(h))
    x = RNG.integers(1, 12, size=(5, 7)).astype("int32")
    x[1, 4:] = 0
    x[2, :3] = 0
    x[4, 1:] = 0
    return model, x


def test_the_gnx_export_runs_any_batch(tmp_path):
    model, x = _stacked_on_tokens()
    path = str(tmp_path / "bidirectional.gnx")
    model.export(path)
    loaded = gn.load_compiled(path)
    for rows in (x[:1], x):
        np.testing.assert_allclose(loaded(rows), model.predict(rows, verbose=0), atol=1e-6,
                                   rtol=0)


@needs(onnx, ort)
def test_onnx_export_matches_in_onnxruntime(tmp_path):
    model, x = _stacked_on_tokens()
    path = str(tmp_path / "bidirectional.onnx")
    model.export(path, format="onnx")
    assert [n.op_type for n in onnx.load(path).graph.node].count("Scan") == 4
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5, rtol=1e-5)
