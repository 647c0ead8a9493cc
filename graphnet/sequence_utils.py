"""Sequence helpers of ``gn.utils``: ``pad_sequences`` and ``timeseries_dataset_from_array``,
with Keras 3's arguments, defaults and outputs (keras/src/utils/sequence_utils.py and
timeseries_dataset_utils.py)."""
import numpy as np

from .engine.py_dataset import PyDataset

_SIDES = ("pre", "post")


def _side(name, value):
    if value not in _SIDES:
        raise ValueError(f"pad_sequences: `{name}` must be one of {_SIDES}, got "
                         f"{name}={value!r}")
    return value


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pads sequences to the same length (as ``keras.utils.pad_sequences``).

    Args:
        sequences: a list (of length ``num_samples``) of sequences: lists or arrays of
            numbers, or of strings (then ``dtype=object`` or a string dtype).
        maxlen: the length of every output sequence (default: the longest one's).
        dtype: the output's dtype ("int32"); ``object`` for variable-length strings.
        padding: "pre" or "post": pad before or after each sequence.
        truncating: "pre" or "post": drop values from the start or the end of the
            sequences longer than ``maxlen``.
        value: the padding value (a number or a string).

    Returns:
        A numpy array of shape ``(num_samples, maxlen) + sample_shape`` where
        ``sample_shape`` is the shape of one step of the first non-empty sequence.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    _side("padding", padding)
    _side("truncating", truncating)
    lengths, sample_shape = [], None
    for index, seq in enumerate(sequences):
        if not hasattr(seq, "__len__") or isinstance(seq, (str, bytes)):
            raise ValueError("`sequences` must be a list of iterables. Found non-iterable: "
                             f"{seq!r} at position {index}")
        lengths.append(len(seq))
        if sample_shape is None and len(seq):
            sample_shape = np.asarray(seq).shape[1:]
    sample_shape = () if sample_shape is None else sample_shape
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    elif not isinstance(maxlen, (int, np.integer)) or isinstance(maxlen, bool) or maxlen < 0:
        raise ValueError(f"pad_sequences: `maxlen` must be None or a non-negative integer, "
                         f"got maxlen={maxlen!r}")
    dtype_kind = np.dtype(dtype).kind
    if isinstance(value, str) and dtype is not object and dtype_kind not in "SU":
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: "
                         f"{type(value)}\nYou should set `dtype=object` for variable length "
                         "strings.")
    out = np.full((len(sequences), int(maxlen)) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return out
    for index, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {kept.shape[1:]} of sequence at position "
                             f"{index} is different from expected shape {sample_shape}")
        if padding == "post":
            out[index, :len(kept)] = kept
        else:
            out[index, -len(kept):] = kept
    return out


def _check_positive(name, value, length=None):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be higher than 0. Received: {name}={value!r}")
    if length is not None and value >= length:
        raise ValueError(f"`{name}` must be lower than the length of the data. Received: "
                         f"{name}={value}, for data of length {length}")
    return int(value)


def _check_window(length, start_index, end_index):
    """Keras's checks of ``start_index`` / ``end_index`` against a data of ``length``."""
    if start_index:
        if start_index < 0:
            raise ValueError("`start_index` must be 0 or greater. Received: "
                             f"start_index={start_index}")
        if start_index >= length:
            raise ValueError("`start_index` must be lower than the length of the data. "
                             f"Received: start_index={start_index}, for data of length "
                             f"{length}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError("`end_index` must be higher than `start_index`. Received: "
                             f"start_index={start_index}, and end_index={end_index} ")
        if end_index >= length:
            raise ValueError("`end_index` must be lower than the length of the data. "
                             f"Received: end_index={end_index}, for data of length {length}")
    if end_index is not None and end_index <= 0:
        raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")


class TimeseriesDataset(PyDataset):
    """The batches of sliding windows ``timeseries_dataset_from_array`` returns: a
    ``gn.utils.PyDataset`` (so ``fit``/``evaluate``/``predict`` read it), indexable and
    iterable, each item ``inputs`` or ``(inputs, targets)`` as numpy arrays.

    ``starts`` are the windows' first positions within ``data[start_index:end_index]``;
    window ``i`` is ``data[start + starts[i] + k * sampling_rate]`` for k below
    ``sequence_length``, its target ``targets[start + starts[i]]``."""

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size):
        super().__init__()
        self.data, self.targets, self.starts = data, targets, starts
        self.offsets = np.arange(sequence_length) * sampling_rate
        self.batch_size = batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"TimeseriesDataset index {index} is out of range for "
                             f"{len(self)} items")
        index %= len(self)
        if self.batch_size is None:
            starts = self.starts[index]
        else:
            starts = self.starts[index * self.batch_size:(index + 1) * self.batch_size]
        inputs = self.data[np.add.outer(starts, self.offsets)]
        if self.targets is None:
            return inputs
        return inputs, self.targets[starts]


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None):
    """Batches of sliding windows over a time series (as
    ``keras.utils.timeseries_dataset_from_array``).

    Args:
        data: array-like of consecutive data points; axis 0 is time.
        targets: ``targets[i]`` is the target of the window starting at ``data[i]``, or
            None (the dataset then yields the inputs alone).
        sequence_length: the length of each window, in time steps.
        sequence_stride: the period between the first steps of successive windows.
        sampling_rate: the period between successive steps within a window.
        batch_size: windows per batch (the last batch may be smaller); None yields one
            window at a time.
        shuffle: draw the windows in a random order instead of chronologically.
        seed: the random seed of the shuffle (Keras's ``np.random.RandomState(seed)``
            shuffle of the window starts; Keras's tf.data shuffle buffer on top of it is
            not reproduced).
        start_index / end_index: only ``data[start_index:end_index]`` is used.

    Returns:
        A ``TimeseriesDataset`` (a ``gn.utils.PyDataset``) of numpy batches ``inputs`` of
        shape ``(batch, sequence_length) + data.shape[1:]``, or ``(inputs, targets)``.
    """
    data = np.asarray(data)
    if data.ndim == 0:
        raise ValueError(f"`data` must have a time axis, got a scalar of shape {data.shape}")
    length = len(data)
    _check_window(length, start_index, end_index)
    sequence_length = _check_positive("sequence_length", sequence_length)
    sampling_rate = _check_positive("sampling_rate", sampling_rate, length)
    sequence_stride = _check_positive("sequence_stride", sequence_stride, length)
    if batch_size is not None:
        batch_size = _check_positive("batch_size", batch_size)
    start = start_index or 0
    end = length if end_index is None else end_index
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        num_seqs = min(num_seqs, len(targets))
    starts = np.arange(0, max(num_seqs, 0), sequence_stride, dtype="int64")
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(starts)
    return TimeseriesDataset(data[start:end], None if targets is None else targets[start:],
                             starts, sequence_length, sampling_rate, batch_size)
