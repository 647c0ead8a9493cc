"""gn.utils.pad_sequences and timeseries_dataset_from_array against Keras 3 (pad_sequences
on the same inputs; Keras's timeseries datasets need tensorflow or grain, so the windows are
checked against Keras's documented examples)."""
import numpy as np
import pytest
from extras import compare_with, keras

import graphnet as gn

PAD_CASES = [
    dict(),
    dict(maxlen=2),
    dict(maxlen=5),
    dict(padding="post"),
    dict(truncating="post", maxlen=2),
    dict(padding="post", truncating="post", maxlen=2, value=-1),
    dict(dtype="float32", value=0.5),
    dict(dtype="int64", maxlen=3),
]


@pytest.mark.parametrize("kwargs", PAD_CASES, ids=str)
def test_pad_sequences_matches_keras(kwargs):
    sequences = [[1], [2, 3], [4, 5, 6], [], [7, 8, 9, 10]]
    ours = gn.utils.pad_sequences(sequences, **kwargs)
    lengths = kwargs.get("maxlen", 4)
    assert ours.shape == (5, lengths)
    assert ours.dtype == np.dtype(kwargs.get("dtype", "int32"))
    if compare_with(keras, "keras.utils.pad_sequences on the same sequences"):
        theirs = keras.utils.pad_sequences(sequences, **kwargs)
        assert theirs.dtype == ours.dtype
        np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_documented_examples():
    sequence = [[1], [2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(gn.utils.pad_sequences(sequence),
                                  [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(gn.utils.pad_sequences(sequence, padding="post"),
                                  [[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    np.testing.assert_array_equal(gn.utils.pad_sequences(sequence, maxlen=2),
                                  [[0, 1], [2, 3], [5, 6]])
    # maxlen=0 (Keras fails to broadcast): every sequence truncated away
    assert gn.utils.pad_sequences(sequence, maxlen=0).shape == (3, 0)


def test_pad_sequences_strings_and_steps_of_vectors():
    words = [["a"], ["b", "c"], ["d", "e", "f"]]
    ours = gn.utils.pad_sequences(words, dtype=object, value="<pad>", maxlen=2)
    assert ours.tolist() == [["<pad>", "a"], ["b", "c"], ["e", "f"]]
    vectors = [np.ones((2, 3)), np.full((1, 3), 2.0)]
    padded = gn.utils.pad_sequences(vectors, dtype="float32", padding="post")
    assert padded.shape == (2, 2, 3)
    np.testing.assert_array_equal(padded[1], [[2, 2, 2], [0, 0, 0]])
    if compare_with(keras, "pad_sequences of strings and of vector steps"):
        np.testing.assert_array_equal(
            ours, keras.utils.pad_sequences(words, dtype=object, value="<pad>", maxlen=2))
        np.testing.assert_array_equal(
            padded, keras.utils.pad_sequences(vectors, dtype="float32", padding="post"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(padding="middle"), "`padding` must be one of"),
    (dict(truncating="both"), "`truncating` must be one of"),
    (dict(value="x"), "should set `dtype=object`"),
    (dict(maxlen=-1), "`maxlen` must be None or a non-negative integer"),
])
def test_pad_sequences_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gn.utils.pad_sequences([[1, 2], [3]], **kwargs)


def test_pad_sequences_bad_sequences():
    with pytest.raises(ValueError, match="must be a list of iterables"):
        gn.utils.pad_sequences([[1], 2])
    with pytest.raises(ValueError, match="different from expected shape"):
        gn.utils.pad_sequences([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="must be iterable"):
        gn.utils.pad_sequences(iter([[1]]))


def test_timeseries_windows_as_keras_example_1():
    """Keras's docstring: indices 0..98, sequence_length 10, sampling_rate 2, stride 3."""
    data = np.arange(99)
    dataset = gn.utils.timeseries_dataset_from_array(
        data, None, sequence_length=10, sampling_rate=2, sequence_stride=3, batch_size=7)
    windows = np.concatenate(list(dataset))
    assert isinstance(dataset, gn.utils.PyDataset)
    np.testing.assert_array_equal(windows[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(windows[1], np.arange(3, 23, 2))
    np.testing.assert_array_equal(windows[-1], np.arange(78, 98, 2))
    assert len(windows) == 27 and len(dataset) == 4
    assert [len(b) for b in dataset] == [7, 7, 7, 6]


def test_timeseries_targets_as_keras_example_2():
    data = np.arange(100, dtype="float32") * 0.5
    dataset = gn.utils.timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10)
    inputs, targets = dataset[0]
    assert inputs.shape == (81, 10) and targets.shape == (81,)
    np.testing.assert_array_equal(inputs[0], data[:10])
    assert targets[0] == data[10]
    np.testing.assert_array_equal(inputs[:, -1] + 0.5, targets)


def test_timeseries_start_end_index_and_features():
    data = np.arange(60, dtype="float32").reshape(20, 3)
    targets = np.arange(20) * 10
    dataset = gn.utils.timeseries_dataset_from_array(
        data, targets, sequence_length=4, start_index=5, end_index=15, batch_size=None)
    assert len(dataset) == 15 - 5 - 3
    first, target = dataset[0]
    np.testing.assert_array_equal(first, data[5:9])
    assert target == 50
    last, target = dataset[-1]
    np.testing.assert_array_equal(last, data[11:15])
    assert target == 110


def test_timeseries_shuffle_is_keras_seeded_permutation():
    data = np.arange(50)
    kwargs = dict(sequence_length=5, batch_size=8, shuffle=True, seed=3)
    first = np.concatenate([b for b in gn.utils.timeseries_dataset_from_array(data, None,
                                                                              **kwargs)])
    again = np.concatenate([b for b in gn.utils.timeseries_dataset_from_array(data, None,
                                                                              **kwargs)])
    starts = np.arange(46)
    np.random.RandomState(3).shuffle(starts)
    np.testing.assert_array_equal(first[:, 0], starts)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first[:, 1:] - first[:, :-1], np.ones((46, 4)))


def test_timeseries_dataset_trains_a_model():
    rng = np.random.default_rng(0)
    series = rng.normal(size=(64, 2)).astype("float32")
    dataset = gn.utils.timeseries_dataset_from_array(series[:-4], series[4:, 0],
                                                     sequence_length=4, batch_size=16)
    model = gn.Sequential([gn.Input((4, 2)), gn.layers.Flatten(), gn.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(dataset, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.predict(dataset, verbose=0).shape == (57, 1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(sequence_length=0), "`sequence_length` must be higher than 0"),
    (dict(sampling_rate=0), "`sampling_rate` must be higher than 0"),
    (dict(sampling_rate=10), "`sampling_rate` must be lower than the length"),
    (dict(sequence_stride=-1), "`sequence_stride` must be higher than 0"),
    (dict(start_index=-2), "`start_index` must be 0 or greater"),
    (dict(start_index=10), "`start_index` must be lower than the length"),
    (dict(start_index=5, end_index=4), "`end_index` must be higher than `start_index`"),
    (dict(end_index=10), "`end_index` must be lower than the length"),
    (dict(batch_size=0), "`batch_size` must be higher than 0"),
])
def test_timeseries_bad_arguments(kwargs, message):
    args = dict(sequence_length=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        gn.utils.timeseries_dataset_from_array(np.arange(10), None, **args)


def test_timeseries_index_out_of_range():
    dataset = gn.utils.timeseries_dataset_from_array(np.arange(10), None, sequence_length=3,
                                                     batch_size=4)
    with pytest.raises(IndexError, match="out of range for 2 items"):
        dataset[2]
