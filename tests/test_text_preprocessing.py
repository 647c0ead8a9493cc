"""Text and categorical preprocessing layers against Keras 3.

Keras 3.15 builds TextVectorization, StringLookup, IntegerLookup and Hashing on tensorflow
(without it they raise ImportError on the torch backend), so their outputs are checked
against the numbers Keras's own tests and docstrings state for the same inputs and
vocabularies; CategoryEncoding runs on torch and is compared with Keras directly."""
import json

import numpy as np
import pytest
from extras import compare_with, keras

import graphnet as gn
from graphnet.layers.preprocessing import IndexLookup
from graphnet.layers.preprocessing.fingerprints import fingerprint64, siphash24

L = gn.layers
CORPUS = ["The cat sat on the mat.", "The dog ate my homework!", "cat, cat; dog?"]


def _roundtrip(layer, custom_objects=None):
    """The layer rebuilt from its config sent through JSON, as a model file holds it."""
    config = json.loads(json.dumps(gn.layers.serialize(layer)))
    return gn.layers.deserialize(config, custom_objects) if custom_objects else \
        gn.layers.deserialize(config)


# -- hashes --------------------------------------------------------------------------
def test_fingerprint64_is_tensorflows():
    # TensorFlow's frozen Fingerprint64 values (fingerprint_test.cc); the longer strings
    # exercise the 17-32, 33-64 and the 64-byte loop branches (values from FarmHash's C++).
    assert fingerprint64(b"Hello") == 15404698994557526151
    assert fingerprint64(b"World") == 18308117990299812472
    assert fingerprint64(b"") == 11160318154034397263
    assert fingerprint64(b"a" * 20) == 15065261471293997870
    assert fingerprint64(b"b" * 40) == 12813125466317408803
    assert fingerprint64(b"c" * 100) == 5964872334950700222
    assert fingerprint64(b"the quick brown fox jumps over the lazy dog and keeps running "
                         b"far") == 4186410358512380148


def test_siphash24_reference_vector():
    key = (int.from_bytes(bytes(range(8)), "little"),
           int.from_bytes(bytes(range(8, 16)), "little"))
    assert siphash24(key, bytes(range(15))) == 0xA129CA6149BE45E5
    assert siphash24(key, b"") == 0x726FDB47DD0E0E31


WIRE = [["omar"], ["stringer"], ["marlo"], ["wire"], ["skywalker"]]


@pytest.mark.parametrize("kwargs, inputs, expected", [
    (dict(num_bins=3), [["A"], ["B"], ["C"], ["D"], ["E"]], [1, 0, 1, 1, 2]),
    (dict(num_bins=3, mask_value=""), [["A"], ["B"], [""], ["C"], ["D"]], [1, 1, 0, 2, 2]),
    (dict(num_bins=3, salt=[133, 137]), [["A"], ["B"], ["C"], ["D"], ["E"]], [1, 2, 1, 0, 2]),
    (dict(num_bins=3, salt=133), [["A"], ["B"], ["C"], ["D"], ["E"]], [0, 0, 2, 1, 0]),
    (dict(num_bins=2), WIRE, [0, 0, 1, 0, 0]),
    (dict(num_bins=3, mask_value="omar"), WIRE, [0, 1, 2, 1, 1]),
    (dict(num_bins=2, salt=[211, 137]), WIRE, [1, 0, 1, 0, 1]),
    (dict(num_bins=3), [[0], [1], [2], [3], [4]], [1, 0, 1, 0, 2]),
    (dict(num_bins=3, salt=[133, 137]), [[0], [1], [2], [3], [4]], [1, 1, 2, 0, 1]),
    (dict(num_bins=1), [["A"], ["B"]], [0, 0]),
])
def test_hashing_matches_keras_numbers(kwargs, inputs, expected):
    """The outputs Keras's hashing_test.py and docstring give for these inputs."""
    out = L.Hashing(**kwargs)(inputs)
    assert out.dtype == np.int64 and out.shape == (len(inputs), 1)
    np.testing.assert_array_equal(out[:, 0], expected)


def test_hashing_floats_lists_and_encoded_outputs():
    np.testing.assert_array_equal(L.Hashing(num_bins=3)([0, 1, 2, 3, 4]), [1, 0, 1, 0, 2])
    np.testing.assert_array_equal(L.Hashing(num_bins=3)(np.array([0.5, 1.9, 2.0])), [1, 0, 1])
    np.testing.assert_array_equal(L.Hashing(num_bins=3, output_mode="one_hot")(
        np.array([[0], [1], [2], [3], [4]])), np.eye(3)[[1, 0, 1, 0, 2]])
    np.testing.assert_array_equal(L.Hashing(num_bins=3, output_mode="multi_hot")(
        np.array([[0, 1, 2, 3, 4]])), [[1, 1, 1]])
    np.testing.assert_array_equal(L.Hashing(num_bins=3, output_mode="count")(
        np.array([0, 1, 2, 3, 4])), [2, 2, 1])
    assert L.Hashing(num_bins=5, output_mode="count").compute_output_shape((None, 4)) == \
        (None, 5)


def test_hashing_bad_arguments_and_symbolic_inputs():
    with pytest.raises(ValueError, match="cannot be `None` or non-positive"):
        L.Hashing(num_bins=0)
    with pytest.raises(ValueError, match="salt.*tuple of size 2"):
        L.Hashing(num_bins=2, salt=[1, 2, 3])
    with pytest.raises(ValueError, match="Expected one of .*Received: output_mode='tf_idf'"):
        L.Hashing(num_bins=2, output_mode="tf_idf")
    with pytest.raises(ValueError, match="`sparse=True` can only be used with the TensorFlow"):
        L.Hashing(num_bins=2, output_mode="count", sparse=True)
    with pytest.raises(TypeError, match="preprocesses data: call it on numpy arrays"):
        L.Hashing(num_bins=2)(gn.Input((1,), dtype="int32"))
    layer = _roundtrip(L.Hashing(num_bins=4, salt=9, mask_value="", output_mode="count"))
    assert (layer.num_bins, layer.salt, layer.mask_value) == (4, [9, 9], "")


# -- CategoryEncoding: against Keras on torch -------------------------------------------
ENCODING_CASES = [("one_hot", [3, 2, 0, 1]), ("one_hot", [[3], [2], [0], [1]]),
                  ("one_hot", [[0, 3], [1, 2]]), ("multi_hot", [[0, 1], [0, 0], [1, 2], [3, 1]]),
                  ("multi_hot", [3, 2, 3]), ("count", [[0, 1], [0, 0], [1, 2], [3, 1]]),
                  ("count", [1, 1, 3])]


@pytest.mark.parametrize("mode, ids", ENCODING_CASES, ids=str)
def test_category_encoding_matches_keras_eager_and_compiled(mode, ids):
    layer = L.CategoryEncoding(num_tokens=4, output_mode=mode)
    eager = layer(np.array(ids))
    assert eager.dtype == np.float32
    assert eager.shape == layer.compute_output_shape(np.shape(ids))
    if np.ndim(ids) == 2:  # inside a model: compiled through gn.ops
        x = gn.Input(np.shape(ids)[1:], dtype="int32")
        model = gn.Model(x, L.CategoryEncoding(num_tokens=4, output_mode=mode)(x))
        np.testing.assert_array_equal(model.predict(np.array(ids, "int32"), verbose=0),
                                      eager)
    if compare_with(keras, "keras.layers.CategoryEncoding on the same ids"):
        theirs = keras.layers.CategoryEncoding(num_tokens=4, output_mode=mode)(np.array(ids))
        np.testing.assert_array_equal(eager, keras.ops.convert_to_numpy(theirs))


def test_category_encoding_count_weights():
    ids = np.array([[0, 1, 1], [2, 2, 3]])
    weights = np.array([[0.5, 1.0, 2.0], [1.0, 1.5, 0.25]], "float32")
    ours = L.CategoryEncoding(4, output_mode="count")(ids, count_weights=weights)
    np.testing.assert_allclose(ours, [[0.5, 3.0, 0, 0], [0, 0, 2.5, 0.25]])
    x, w = gn.Input((3,), dtype="int32"), gn.Input((3,))
    with pytest.raises(ValueError, match="`count_weights` is supported on data, not inside"):
        L.CategoryEncoding(4, output_mode="count")(x, count_weights=w)
    if compare_with(keras, "CategoryEncoding count_weights against Keras"):
        theirs = keras.layers.CategoryEncoding(4, output_mode="count")(ids,
                                                                      count_weights=weights)
        np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs))


def test_category_encoding_saved_in_a_model(tmp_path):
    x = gn.Input((3,), dtype="int32")
    y = gn.layers.Dense(2)(L.CategoryEncoding(5, output_mode="count")(x))
    model = gn.Model(x, y)
    path = str(tmp_path / "model.graphnet")
    model.save(path)
    loaded = gn.models.load_model(path)
    ids = np.array([[0, 4, 4], [1, 2, 3]], "int32")
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0))
    assert loaded.layers[1].get_config()["num_tokens"] == 5


def test_category_encoding_bad_input():
    with pytest.raises(ValueError, match="num_tokens must be set"):
        L.CategoryEncoding()
    with pytest.raises(ValueError, match="Received: output_mode='tf_idf'"):
        L.CategoryEncoding(3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="0 <= values < num_tokens with num_tokens=3; got a "
                                         "value of 3"):
        L.CategoryEncoding(3)([[0, 3]])
    with pytest.raises(TypeError, match="expects integer ids, got dtype float64"):
        L.CategoryEncoding(3)([[0.5, 1]])
    with pytest.raises(ValueError, match="`count_weights` is not used"):
        L.CategoryEncoding(3, output_mode="multi_hot")([[0, 1]], count_weights=[[1, 1]])
    with pytest.raises(ValueError, match="maximum supported output rank is 2"):
        L.CategoryEncoding(3)(np.zeros((2, 2, 2), int))


# -- StringLookup / IntegerLookup ----------------------------------------------------
VOCAB = ["a", "b", "c", "d"]
DATA = [["a", "c", "d"], ["d", "z", "b"]]


def test_string_lookup_keras_docstring_examples():
    np.testing.assert_array_equal(L.StringLookup(vocabulary=VOCAB)(DATA), [[1, 3, 4], [4, 0, 2]])
    layer = L.StringLookup()
    layer.adapt(np.array([["d", "z", "b"], ["a", "c", "d"], ["d", "c", "d"]]))
    assert layer.get_vocabulary() == ["[UNK]", "d", "c", "z", "b", "a"]
    two_oov = L.StringLookup(vocabulary=VOCAB, num_oov_indices=2)
    np.testing.assert_array_equal(two_oov([["a", "c", "d"], ["m", "z", "b"]]),
                                  [[2, 4, 5], [0, 1, 3]])
    np.testing.assert_array_equal(
        L.StringLookup(vocabulary=VOCAB, output_mode="one_hot")(["a", "b", "c", "d", "z"]),
        np.eye(5)[[1, 2, 3, 4, 0]])
    np.testing.assert_array_equal(
        L.StringLookup(vocabulary=VOCAB, output_mode="multi_hot")(DATA),
        [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    np.testing.assert_array_equal(
        L.StringLookup(vocabulary=VOCAB, output_mode="count")([["a", "c", "d", "d"],
                                                               ["d", "z", "b", "z"]]),
        [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tf_idf = L.StringLookup(output_mode="tf_idf", vocabulary=VOCAB,
                            idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tf_idf([["a", "c", "d", "d"], ["d", "z", "b", "z"]]),
                               [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]])
    with_oov_weight = L.StringLookup(output_mode="tf_idf", vocabulary=["[UNK]"] + VOCAB,
                                     idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(with_oov_weight([["a", "c", "d", "d"], ["d", "z", "b", "z"]]),
                               [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]])
    inverse = L.StringLookup(vocabulary=VOCAB, invert=True)
    assert inverse(np.array([[1, 3, 4], [4, 0, 2]])).tolist() == [["a", "c", "d"],
                                                                   ["d", "[UNK]", "b"]]


def test_string_lookup_mask_and_bytes():
    layer = L.StringLookup(vocabulary=VOCAB, mask_token="")
    np.testing.assert_array_equal(layer([["a", ""], ["q", "d"]]), [[2, 0], [1, 5]])
    assert layer.get_vocabulary() == ["", "[UNK]", "a", "b", "c", "d"]
    assert layer.vocabulary_size() == 6
    np.testing.assert_array_equal(layer(np.array([b"a", b"d"])), [2, 5])
    multi = L.StringLookup(vocabulary=VOCAB, mask_token="", output_mode="multi_hot")
    np.testing.assert_array_equal(multi([["a", ""]]), [[0, 1, 0, 0, 0]])  # mask: nowhere
    latin = L.StringLookup(vocabulary=["café"], encoding="latin-1")
    np.testing.assert_array_equal(latin(np.array(["café".encode("latin-1")], dtype=object)), [1])


def test_index_lookup_tf_idf_as_keras_tests():
    """keras/src/layers/preprocessing/index_lookup_test.py::test_adapt_tf_idf."""
    kwargs = dict(max_tokens=7, num_oov_indices=1, mask_token="", oov_token="[OOV]",
                  vocabulary_dtype="string", output_mode="tf_idf")
    layer = IndexLookup(**kwargs)
    layer.adapt(["one", "one", "one", "two", "two", "three"])
    np.testing.assert_allclose(layer.idf_weights[1:], np.log(1 + 6 / (1 + np.array([3, 2, 1]))),
                               rtol=1e-6)
    np.testing.assert_allclose(layer(["one", "two", "four"]),
                               [1.1337324, 0.91629076, 1.0986123, 0.0], rtol=1e-6)
    layer = IndexLookup(**kwargs)
    layer.adapt([["one", "one"], ["one", "two"], ["two", "three"]])
    np.testing.assert_allclose(layer([["one", "two"], ["two", "four"]]),
                               [[0.0, 0.6931472, 0.6931472, 0.0],
                                [0.76752836, 0.0, 0.6931472, 0.0]], rtol=1e-6)
    padded = IndexLookup(**dict(kwargs, pad_to_max_tokens=True))
    padded.adapt(["one", "two"])
    assert padded(["one"]).shape == (7,) and padded.idf_weights.shape == (7,)


def test_integer_lookup_keras_examples():
    vocab = [12, 36, 1138, 42]
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    np.testing.assert_array_equal(L.IntegerLookup(vocabulary=vocab)(data),
                                  [[1, 3, 4], [4, 0, 2]])
    np.testing.assert_array_equal(L.IntegerLookup(vocabulary=vocab, mask_token=0)(data),
                                  [[2, 4, 5], [5, 1, 3]])
    np.testing.assert_array_equal(L.IntegerLookup(vocabulary=vocab, invert=True)(
        [[1, 3, 4], [4, 0, 2]]), [[12, 1138, 42], [42, -1, 36]])
    np.testing.assert_array_equal(L.IntegerLookup(vocabulary=vocab, num_oov_indices=2)(
        [[12, 1138, 42], [37, 1000, 36]]), [[2, 4, 5], [1, 0, 3]])  # floormod
    farm = L.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4, oov_method="farmhash")
    np.testing.assert_array_equal(farm([100, 200, 300, 400]), [3, 1, 3, 1])
    salted = L.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4,
                             oov_method="farmhash", salt=[137, 42])
    values = np.array([100, 300, 700, 1100, 1700, 2000])
    assert not np.array_equal(salted(values), farm(values))
    adapted = L.IntegerLookup(output_mode="tf_idf")
    adapted.adapt([12, 36, 12, 42, 1138, 12, 36])
    assert adapted.get_vocabulary() == [-1, 12, 36, 1138, 42]


def test_integer_lookup_adapt_modes_as_keras_tests():
    """keras/src/layers/preprocessing/integer_lookup_test.py::test_adapt_flow modes."""
    adapt_data = [1, 1, 1, 2, 2, 3]
    for mode, expected in (("int", [1, 2, 0]), ("one_hot", np.eye(4)[[1, 2, 0]]),
                           ("multi_hot", [1, 1, 1, 0]),
                           ("tf_idf", [1.133732, 0.916291, 1.098612, 0.0])):
        layer = L.IntegerLookup(output_mode=mode)
        layer.adapt(adapt_data)
        np.testing.assert_allclose(layer([1, 2, 4]), expected, rtol=1e-5)
    counting = L.IntegerLookup(output_mode="count")
    counting.adapt(adapt_data)
    np.testing.assert_array_equal(counting([1, 2, 3, 4, 1, 2, 1]), [1, 3, 2, 1])


@pytest.mark.parametrize("kwargs", [dict(), dict(mask_token=0), dict(num_oov_indices=3),
                                    dict(output_mode="count", mask_token=0),
                                    dict(output_mode="one_hot"),
                                    dict(output_mode="tf_idf", idf_weights=[0.5, 1, 2, 3])],
                         ids=str)
def test_integer_lookup_inside_a_model_matches_data(kwargs):
    layer = L.IntegerLookup(vocabulary=[12, 36, 1138, 42], **kwargs)
    x = gn.Input((3,), dtype="int32")
    model = gn.Model(x, layer(x))
    ids = np.array([[12, 1138, 0], [42, 1000, 37], [-5, 36, 36]], "int32")
    compiled = model.predict(ids, verbose=0)
    assert compiled.dtype == layer(ids).dtype
    np.testing.assert_array_equal(compiled, layer(ids))


def test_integer_lookup_saved_in_a_model_and_refused_in_graph(tmp_path):
    x = gn.Input((2,), dtype="int64")
    model = gn.Model(x, L.IntegerLookup(vocabulary=[7, 3], output_mode="multi_hot")(x))
    path = str(tmp_path / "lookup.graphnet")
    model.save(path)
    loaded = gn.models.load_model(path)
    ids = np.array([[3, 3], [9, 7]])
    np.testing.assert_array_equal(loaded.predict(ids, verbose=0), [[0, 0, 1], [1, 1, 0]])
    for layer in (L.IntegerLookup(vocabulary=[1], invert=True), L.IntegerLookup(),
                  L.IntegerLookup(vocabulary=[1], num_oov_indices=2, oov_method="farmhash")):
        with pytest.raises(ValueError, match="runs inside a model only with a vocabulary"):
            layer(gn.Input((2,), dtype="int32"))
    with pytest.raises(TypeError, match="expects integer inputs, got dtype float32"):
        L.IntegerLookup(vocabulary=[1])(gn.Input((2,)))


def test_lookup_vocabulary_file_and_set_vocabulary(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("10\n20\n30\n")
    np.testing.assert_array_equal(L.IntegerLookup(vocabulary=str(path))([10, 20, 30, 999]),
                                  [1, 2, 3, 0])
    layer = L.StringLookup()
    layer.set_vocabulary(["[UNK]", "x", "y"])  # the special tokens in front are skipped
    assert layer.get_vocabulary() == ["[UNK]", "x", "y"]
    assert layer.get_vocabulary(include_special_tokens=False) == ["x", "y"]


def test_lookup_config_round_trip_keeps_adapted_vocabulary():
    layer = L.StringLookup(output_mode="tf_idf", max_tokens=6, pad_to_max_tokens=True)
    layer.adapt([["b", "a", "a"], ["c", "a", "c"]])
    loaded = _roundtrip(layer)
    assert loaded.get_vocabulary() == layer.get_vocabulary() == ["[UNK]", "a", "c", "b"]
    assert loaded.idf_weights.shape == (6,)
    np.testing.assert_array_equal(loaded.idf_weights, layer.idf_weights)
    np.testing.assert_array_equal(loaded([["a", "q"]]), layer([["a", "q"]]))
    loaded.adapt([["z"]])  # still adaptable: its vocabulary came from adapt
    assert loaded.get_vocabulary() == ["[UNK]", "z"]
    given = _roundtrip(L.IntegerLookup(vocabulary=[5, 6], mask_token=0, invert=True))
    np.testing.assert_array_equal(given([0, 1, 2, 3]), [0, -1, 5, 6])


@pytest.mark.parametrize("make, message", [
    (lambda: L.StringLookup(output_mode="bag"), "Received: output_mode='bag'"),
    (lambda: L.StringLookup(max_tokens=1), "`max_tokens` must be greater than 1"),
    (lambda: L.StringLookup(num_oov_indices=-1), "`num_oov_indices` must be greater"),
    (lambda: L.StringLookup(pad_to_max_tokens=True), "must set `max_tokens`"),
    (lambda: L.StringLookup(invert=True, output_mode="count"), "must be `'int'` when `invert`"),
    (lambda: L.StringLookup(vocabulary=["a", "b", "a"]), "repeated term.*\\['a'\\]"),
    (lambda: L.StringLookup(vocabulary=["a", ""], mask_token=""), "reserved mask token"),
    (lambda: L.StringLookup(vocabulary=["a", "b"], max_tokens=2), "larger than the maximum"),
    (lambda: L.StringLookup(vocabulary=[], ), "Cannot set an empty vocabulary"),
    (lambda: L.StringLookup(vocabulary=["a"], idf_weights=[1.0]), "should only be set if"),
    (lambda: L.StringLookup(vocabulary=["a"], output_mode="tf_idf"),
     "the `idf_weights` argument must also be provided"),
    (lambda: L.StringLookup(vocabulary=["a"], output_mode="tf_idf", idf_weights=[1, 2]),
     "must be the same length as vocabulary"),
    (lambda: L.IntegerLookup(vocabulary_dtype="int32"), "Only `vocabulary_dtype='int64'`"),
    (lambda: L.IntegerLookup(salt=3), "`salt` can only be used when `oov_method='farmhash'`"),
    (lambda: L.IntegerLookup(oov_method="md5"), "Received: oov_method='md5'"),
    (lambda: L.IntegerLookup(vocabulary="/no/such/file.txt"), "does not exist"),
])
def test_lookup_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_lookup_bad_inputs():
    with pytest.raises(TypeError, match="expects integer inputs, got dtype float64"):
        L.IntegerLookup(vocabulary=[1, 2])([1.0, 2.5])
    with pytest.raises(TypeError, match="expects string inputs, got dtype int64"):
        L.StringLookup(vocabulary=["a"])([1, 2])
    with pytest.raises(ValueError, match="all inputs should be in vocabulary, found OOV "
                                         "values \\['z'\\]"):
        L.StringLookup(vocabulary=["a"], num_oov_indices=0)(["a", "z"])
    with pytest.raises(RuntimeError, match="you must set the layer's vocabulary"):
        L.StringLookup(output_mode="multi_hot")(["a"])
    with pytest.raises(ValueError, match="cannot adapt on an empty dataset"):
        L.StringLookup().adapt([])
    with pytest.raises(ValueError, match="Cannot adapt layer .* after setting a static"):
        L.StringLookup(vocabulary=["a"]).adapt(["a"])
    with pytest.raises(TypeError, match="preprocesses data"):
        L.StringLookup(vocabulary=["a"])(gn.Input((2,), dtype="int32"))


# -- TextVectorization ---------------------------------------------------------------
@pytest.mark.parametrize("how", ["adapt", "vocabulary", "set_vocabulary"])
def test_text_vectorization_as_keras_tests(how):
    """keras/src/layers/preprocessing/text_vectorization_test.py: the same outputs
    whether the vocabulary is adapted, given or set."""
    kwargs = dict(max_tokens=5000, output_mode="int", output_sequence_length=4)
    if how == "vocabulary":
        kwargs["vocabulary"] = ["baz", "bar", "foo"]
    layer = L.TextVectorization(**kwargs)
    if how == "adapt":
        layer.adapt(["foo bar", "bar baz", "baz bada boom"])
        assert layer.get_vocabulary() == ["", "[UNK]", "baz", "bar", "foo", "boom", "bada"]
    elif how == "set_vocabulary":
        layer.set_vocabulary(["baz", "bar", "foo"])
    out = layer([["foo qux bar"], ["qux baz"]])
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[4, 1, 3, 0], [1, 2, 0, 0]])


def test_text_vectorization_standardize_split_and_ngrams():
    layer = L.TextVectorization()
    layer.adapt(CORPUS)
    assert layer.get_vocabulary()[:5] == ["", "[UNK]", "the", "cat", "dog"]
    np.testing.assert_array_equal(layer(["THE Cat ate", "dog"]), [[2, 3, 10], [4, 0, 0]])
    # tf.strings.lower, as Keras calls it, lowers ASCII letters only
    accents = L.TextVectorization(vocabulary=["élan", "Élan"])
    np.testing.assert_array_equal(accents(["ÉLAN élan"]), [[3, 2]])
    lower = L.TextVectorization(standardize="lower", vocabulary=["mat.", "cat,"])
    np.testing.assert_array_equal(lower(["Cat, on the MAT."]), [[3, 1, 1, 2]])
    strip = L.TextVectorization(standardize="strip_punctuation", split="character",
                                vocabulary=["a", "B"])
    np.testing.assert_array_equal(strip(["aB!b", "a"]), [[2, 3, 1], [2, 0, 0]])
    kept = L.TextVectorization(standardize=None, split=None, vocabulary=["x y", "z"])
    np.testing.assert_array_equal(kept([["x y", "z"], ["q", ""]]), [[2, 3], [1, 0]])
    grams = L.TextVectorization(ngrams=2, vocabulary=["a", "b", "a b", "b c"])
    np.testing.assert_array_equal(grams(["a b c", "c"]), [[2, 3, 1, 4, 5], [1, 0, 0, 0, 0]])
    widths = L.TextVectorization(ngrams=(2, 3), vocabulary=["a b", "a b c"])
    np.testing.assert_array_equal(widths(["a b c"]), [[2, 1, 3]])
    spaced = L.TextVectorization(vocabulary=["a", "b"])
    np.testing.assert_array_equal(spaced(["  a\t\nb\u00a0a "]), [[2, 1]])  # ASCII spaces only


def test_text_vectorization_callables_and_custom_objects():
    def shout(text):
        return np.char.upper(text)

    def comma_split(text):
        return [t.split(",") for t in text]

    layer = L.TextVectorization(standardize=shout, split=comma_split, vocabulary=["A", "B C"])
    np.testing.assert_array_equal(layer(["a,b c,d"]), [[2, 3, 1]])
    loaded = _roundtrip(layer, {"shout": shout, "comma_split": comma_split})
    np.testing.assert_array_equal(loaded(["b c,a"]), [[3, 2]])
    with pytest.raises(ValueError, match="`standardize` is the function 'shout'.*custom_objects"):
        _roundtrip(layer)
    with pytest.raises(ValueError, match="one sequence of tokens per string"):
        L.TextVectorization(split=lambda text: [["a"]], vocabulary=["a"])(["x", "y"])
    with pytest.raises(ValueError, match="must return strings of the shape"):
        L.TextVectorization(standardize=lambda text: text[:1], vocabulary=["a"])(["x", "y"])


def test_text_vectorization_vector_modes():
    multi = L.TextVectorization(output_mode="multi_hot", vocabulary=["the", "cat", "dog"])
    np.testing.assert_array_equal(multi(["the cat the bird", "dog"]),
                                  [[1, 1, 1, 0], [0, 0, 0, 1]])
    count = L.TextVectorization(output_mode="count", vocabulary=["the", "cat", "dog"],
                                max_tokens=6, pad_to_max_tokens=True)
    np.testing.assert_array_equal(count(["the cat the bird", "dog"]),
                                  [[1, 2, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0]])
    tf_idf = L.TextVectorization(output_mode="tf_idf")
    tf_idf.adapt(CORPUS)
    vocab = tf_idf.get_vocabulary()
    out = tf_idf(["the cat cat", "zebra"])
    df = {"the": 2, "cat": 2}
    for word in ("the", "cat"):
        idf = np.log(1 + 3 / (1 + df[word]))
        np.testing.assert_allclose(out[0, vocab.index(word)],
                                   idf * (1 if word == "the" else 2), rtol=1e-6)
    np.testing.assert_allclose(out[1, 0], np.mean(tf_idf.idf_weights[1:]), rtol=1e-6)
    assert out.shape == (2, len(vocab)) and out.dtype == np.float32


def test_text_vectorization_adapt_sources():
    def batches():
        yield ["hello world", "foo bar"]
        yield ["baz qux", "hello foo"]
        raise AssertionError("read past steps")

    layer = L.TextVectorization()
    layer.adapt(batches(), steps=2)
    assert layer.get_vocabulary()[2:4] == ["hello", "foo"]

    class Texts(gn.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return np.array([["a b"], ["b c"]][index])

    from_dataset = L.TextVectorization(max_tokens=4)
    from_dataset.adapt(Texts())
    assert from_dataset.get_vocabulary() == ["", "[UNK]", "b", "c"]
    chunked = L.TextVectorization()
    chunked.adapt(np.array(CORPUS), batch_size=2)
    whole = L.TextVectorization()
    whole.adapt(CORPUS)
    assert chunked.get_vocabulary() == whole.get_vocabulary()


def test_text_vectorization_config_round_trip():
    layer = L.TextVectorization(max_tokens=20, ngrams=(1, 2), output_mode="tf_idf")
    layer.adapt(CORPUS)
    config = layer.get_config()
    assert config["vocabulary"][:3] == ["[UNK]", "the", "cat"] and config["ngrams"] == (1, 2)
    loaded = _roundtrip(layer)
    np.testing.assert_array_equal(loaded(CORPUS), layer(CORPUS))
    int_layer = L.TextVectorization(output_sequence_length=3, vocabulary=["one", "two"])
    loaded = _roundtrip(int_layer)
    assert loaded.get_config() == int_layer.get_config()
    np.testing.assert_array_equal(loaded(["two one three"]), [[3, 2, 1]])


@pytest.mark.parametrize("kwargs, message", [
    (dict(output_mode="bag_of_words"), "Received: output_mode='bag_of_words'"),
    (dict(standardize="upper"), "Received: standardize='upper'"),
    (dict(split="comma"), "Received: split='comma'"),
    (dict(ngrams=(1, "2")), "`ngrams` must be None, an integer, or a tuple"),
    (dict(output_sequence_length=2.5), "`output_sequence_length` must be either None or"),
    (dict(output_mode="count", output_sequence_length=3), "must not be set if"),
    (dict(output_mode="tf_idf", vocabulary=["a"]), "`idf_weights` argument must also be"),
    (dict(ragged=True), "`ragged=True` can only be used with the TensorFlow backend"),
])
def test_text_vectorization_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        L.TextVectorization(**kwargs)


def test_text_vectorization_bad_inputs():
    layer = L.TextVectorization(vocabulary=["a"])
    with pytest.raises(ValueError, match="the last shape dimension must be 1"):
        layer([["a", "b"]])
    with pytest.raises(TypeError, match="expects strings, got dtype int64"):
        layer([1, 2])
    with pytest.raises(ValueError, match="cannot adapt on an empty dataset"):
        L.TextVectorization().adapt(iter([]))
    with pytest.raises(ValueError, match="cannot adapt on an empty dataset"):
        L.TextVectorization().adapt(["", "   "])
    with pytest.raises(TypeError, match="preprocesses data"):
        layer(gn.Input((1,)))
    idf_less = L.TextVectorization(output_mode="tf_idf")
    with pytest.raises(RuntimeError, match="you must set the layer's vocabulary"):
        idf_less(["a"])


def test_text_classification_pipeline():
    """TextVectorization on the data, Embedding + pooling in the compiled model."""
    rng = np.random.default_rng(0)
    good, bad = ["great", "fine", "superb"], ["awful", "poor", "dull"]
    filler = ["movie", "plot", "the", "was", "and"]
    texts, labels = [], []
    for _ in range(200):
        label = int(rng.integers(2))
        words = list(rng.choice(filler, 4)) + [rng.choice(good if label else bad)]
        texts.append(" ".join(rng.permutation(words)))
        labels.append(label)
    vectorize = L.TextVectorization(max_tokens=20, output_sequence_length=6)
    vectorize.adapt(texts)
    x = vectorize(texts)
    model = gn.Sequential([gn.Input((6,), dtype="int64"), L.Embedding(20, 8),
                           L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")])
    model.compile(gn.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, np.array(labels, "float32"), epochs=15, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(vectorize(["superb plot", "the movie was dull"]),
                                 np.array([1.0, 0.0]), verbose=0)
    assert accuracy == 1.0
