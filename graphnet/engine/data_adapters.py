"""The data ``fit`` / ``evaluate`` / ``predict`` iterate over, one epoch at a time.

``ArrayBatches`` slices arrays already checked and converted (the fast path: a batch is
a few numpy slices). ``SourceBatches`` reads a Python generator or iterator, any other
iterable, a ``gn.utils.PyDataset`` or a torch ``DataLoader``: a daemon thread takes the
batches from the source and converts them to numpy arrays while the compiled step runs
(its C call releases the GIL), and the caller's ``prepare`` checks each one on the
calling thread. Both give ``epoch()``: ``(step, batch)`` pairs, and ``num_batches``.

Keras 3's rules: a source's ``y`` and ``sample_weight`` come from its batches;
``steps_per_epoch`` continues the same stream across epochs; a source that runs out
before ``steps_per_epoch`` ends the epoch with Keras's warning; an epoch that gets no
batch at all sets ``exhausted`` (fit then stops); ``shuffle`` reorders a finite
PyDataset's batches and is ignored, with Keras's warning, for generators, DataLoaders
and infinite datasets.
"""
import itertools
import math
import queue
import threading
import types
import warnings

import numpy as np

from ..initializers import session_rng
from .layer_call import flatten
from .py_dataset import PyDataset, check_settings, pooled_batches

_RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset "
            "or generator can generate at least `steps_per_epoch * epochs` batches. You may "
            "need to use the `.repeat()` function when building your dataset.")
_PREFETCH_DEPTH = 2


def is_torch_dataloader(x):
    return any(c.__name__ == "DataLoader" and "torch.utils.data" in str(c.__module__)
               for c in type(x).__mro__)


def source_kind(x):
    """"PyDataset", "torch DataLoader", "generator" (one pass: generators and
    iterators), "iterable" (iterated anew each epoch) or None for array data."""
    if isinstance(x, PyDataset):
        return "PyDataset"
    if is_torch_dataloader(x):
        return "torch DataLoader"
    if isinstance(x, types.GeneratorType) or (hasattr(x, "__next__") and
                                               hasattr(x, "__iter__")):
        return "generator"
    if isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or x is None or \
            hasattr(x, "__array__") or not hasattr(x, "__iter__"):
        return None
    return "iterable"


def check_source_arguments(kind, y, sample_weight, shuffle, infinite):
    """Keras's errors for a ``y`` or ``sample_weight`` given beside a source, and its
    warning that ``shuffle`` is ignored where the source orders its own batches."""
    for arg, description in (("y", "the targets"), ("sample_weights", "the sample weights")):
        given = y if arg == "y" else sample_weight
        if given is not None:
            raise ValueError(f"When providing `x` as a {kind}, `{arg}` should not be passed. "
                             f"Instead, {description} should be included as part of the "
                             f"{kind}.")
    if shuffle and (kind != "PyDataset" or infinite):
        what = "an infinite PyDataset" if kind == "PyDataset" else f"a {kind}"
        warnings.warn(f"`shuffle=True` was passed, but will be ignored since the data `x` "
                      f"was provided as {what}. The {kind} is expected to yield "
                      "already-shuffled data.", stacklevel=5)


def _to_numpy(value, where):
    """``value`` (an array, a torch tensor, a list/tuple/dict of them) as numpy arrays;
    anything else is an error naming ``where``."""
    if isinstance(value, dict):
        return {k: _to_numpy(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not all(
            isinstance(v, (int, float, np.number)) for v in value):
        return [_to_numpy(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{where} must be an array (numpy array, torch tensor, list or dict "
                        f"of them), got {type(value).__name__}: {value!r:.80}")
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" or array.ndim == 0:
        raise TypeError(f"{where} must be an array of numbers with a batch axis, got "
                        f"{type(value).__name__} of dtype {array.dtype} and shape "
                        f"{array.shape}: {value!r:.80}")
    return array


def unpack_batch(batch, kind, index):
    """``(x, y, sample_weight)`` of one batch, converted to numpy (None where absent).
    Generators must yield tuples ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``; a
    PyDataset or DataLoader may also give lists, a lone array or a dict of inputs."""
    where = f"batch {index} of the {kind}"
    if kind != "generator" and kind != "iterable":
        if isinstance(batch, list):
            batch = tuple(batch)
        if not isinstance(batch, tuple):
            batch = (batch,)
    elif not isinstance(batch, tuple):
        raise ValueError(f"When passing a Python {kind} to a graphnet model, the {kind} "
                         "must yield tuples, either (input,) or (inputs, targets) or "
                         f"(inputs, targets, sample_weights). Received {where}: "
                         f"{type(batch).__name__}: {batch!r:.100}")
    if len(batch) not in (1, 2, 3):
        raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
                         f"`(x, y, sample_weight)`; {where} is a tuple of {len(batch)} "
                         "items")
    names = ("x", "y", "sample_weight")
    unpacked = [_to_numpy(part, f"{names[i]} of {where}") for i, part in enumerate(batch)]
    return tuple(unpacked) + (None,) * (3 - len(unpacked))


class _Prefetcher:
    """Reads ``iterator`` in a daemon thread, at most ``depth`` items ahead and only as
    many as ``grant`` allowed (so a stream continued next epoch loses no batch).
    ``get`` returns the next converted item, raises StopIteration at the end, and
    re-raises an error of the source or of ``convert`` on the caller's thread."""

    _ITEM, _END, _ERROR = range(3)

    def __init__(self, iterator, convert, depth, owned):
        self._iterator = iterator
        self._owned = owned  # closed when reading stops early (never a user's generator)
        self._convert = convert
        self._queue = queue.Queue()
        self._granted = threading.Semaphore(0)
        self._free = threading.Semaphore(depth)
        self._depth = depth
        self._unlimited = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="graphnet-prefetch",
                                        daemon=True)
        self._thread.start()

    def grant(self, count):
        """Allow ``count`` more items to be read (all of them when None)."""
        if count is None:
            self._unlimited = True
            self._granted.release()
        else:
            self._granted.release(count)

    def _run(self):
        try:
            for index in itertools.count():
                if not self._unlimited:
                    self._granted.acquire()
                self._free.acquire()
                if self._closed:
                    return
                try:
                    item = self._convert(next(self._iterator), index)
                except StopIteration:
                    self._queue.put((self._END, None))
                    return
                except BaseException as exc:  # handed to the consuming thread
                    self._queue.put((self._ERROR, exc))
                    return
                self._queue.put((self._ITEM, item))
        finally:
            if self._owned and self._closed:
                self._iterator.close()

    def get(self):
        kind, value = self._queue.get()
        self._free.release()
        if kind == self._END:
            raise StopIteration
        if kind == self._ERROR:
            raise value
        return value

    def close(self):
        self._closed = True
        self._granted.release()
        self._free.release(self._depth)
        if not self._owned:  # the user's iterator may be read again: not from two threads
            self._thread.join()


class ArrayBatches:
    """Batches of arrays already prepared: ``xs``, ``ys``, ``sws`` (lists; a None sample
    weight stays None). ``steps`` batches an epoch (wrapping around the data) or one pass;
    ``continuing``: ``steps`` batches carry on from where the last epoch stopped,
    reshuffled when the data is used up (fit's ``steps_per_epoch``)."""

    exhausted = False

    def __init__(self, xs, ys, sws, batch_size, shuffle=False, steps=None, continuing=False):
        self.arrays = (xs, ys, sws)
        self.n = xs[0].shape[0] if xs and xs[0].ndim else 1
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.steps = None if steps is None else int(steps)
        self.continuing = continuing and steps is not None
        self.num_batches = self.steps or max(1, -(-self.n // batch_size))
        self._order, self._cursor = None, 0

    def stop_after(self, steps):
        """At most ``steps`` batches of one pass over the data (no wrapping around)."""
        self.steps = self.num_batches = min(int(steps), max(1, -(-self.n // self.batch_size)))

    def _take(self, idx):
        xs, ys, sws = self.arrays
        return ([a[idx] for a in xs], [a[idx] for a in ys],
                [None if w is None else w[idx] for w in sws])

    def epoch(self):
        if self.continuing:
            yield from self._continued_epoch()
            return
        order = session_rng().permutation(self.n) if self.shuffle else None
        starts = list(range(0, self.n, self.batch_size)) or [0]
        if self.steps is not None:
            starts = [starts[i % len(starts)] for i in range(self.steps)]
        for step, start in enumerate(starts):
            idx = order[start:start + self.batch_size] if order is not None else \
                slice(start, start + self.batch_size)
            yield step, self._take(idx)

    def _continued_epoch(self):
        for step in range(self.steps):
            if self._order is None or self._cursor >= self.n:
                self._order = session_rng().permutation(self.n) if self.shuffle else \
                    np.arange(self.n)
                self._cursor = 0
            idx = self._order[self._cursor:self._cursor + self.batch_size]
            self._cursor += self.batch_size
            yield step, self._take(idx)

    def close(self):
        """Nothing runs in the background for arrays."""


class SourceBatches:
    """Batches read from a generator, iterable, PyDataset or torch DataLoader ``x``;
    ``prepare(x, y, sample_weight, where)`` turns each into the caller's batch.
    ``steps``: batches per epoch (None: until the source runs out)."""

    def __init__(self, x, kind, prepare, steps=None, shuffle=False):
        self.source, self.kind, self.prepare = x, kind, prepare
        self.steps = None if steps is None else int(steps)
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1 for a {kind}, got {steps!r}")
        self.depth = _PREFETCH_DEPTH
        self.pool = None
        if kind == "PyDataset":
            workers, use_mp, self.depth = check_settings(x)
            if workers > 1 or (workers > 0 and use_mp):
                self.pool = (workers, use_mp)
        self.length = self._length()
        self.shuffle = shuffle and kind == "PyDataset" and self.length is not None
        self.exhausted = False
        self._stream, self._seen = None, 0

    def _length(self):
        if self.kind == "PyDataset":
            return self.source.num_batches
        if self.kind in ("torch DataLoader", "iterable"):
            try:
                return len(self.source)
            except TypeError:  # an IterableDataset, or an iterable without a length
                return None
        return None

    @property
    def num_batches(self):
        """Steps per epoch: ``steps``, else the source's length (None when unknown:
        then learned when the first epoch runs out)."""
        return self.steps or self.length

    def _new_stream(self):
        if self.kind == "PyDataset":
            count = self.length
            indices = itertools.count() if count is None else \
                (session_rng().permutation(count).tolist() if self.shuffle else range(count))
            batches = (pooled_batches(self.source, indices, *self.pool, self.depth)
                       if self.pool else (self.source[i] for i in indices))
        else:
            batches = iter(self.source)
        return _Prefetcher(batches, lambda batch, i: unpack_batch(batch, self.kind, i),
                           self.depth, owned=self.kind == "PyDataset")

    def epoch(self):
        if self.kind == "PyDataset":
            self.source.on_epoch_begin()
        try:
            yield from self._epoch_steps()
        finally:
            if self.steps is None:
                self.close()
            if self.kind == "PyDataset":
                self.source.on_epoch_end()

    def _epoch_steps(self):
        limit = self.steps or self.length
        if self._stream is None:
            self._stream, self._seen = self._new_stream(), 0
        if self.length is not None and self.steps is not None:
            limit = min(limit, self.length - self._seen)  # the rest of this pass
        self._stream.grant(limit)
        step = 0
        while limit is None or step < limit:
            try:
                batch = self._stream.get()
            except StopIteration:
                if self.steps is not None or step == 0:
                    warnings.warn(_RAN_OUT, stacklevel=4)
                self.exhausted = step == 0
                if self.length is None and self.steps is None:
                    self.length = step  # the size of later epochs' progress bars
                self.close()
                return
            self._seen += 1
            yield step, self.prepare(*batch, f"batch {step} of the {self.kind}")
            step += 1
        if self.steps is not None and self.length is not None:
            if self._seen >= self.length:  # the pass is done: the next epoch starts anew
                self.close()
            if step < self.steps:
                warnings.warn(_RAN_OUT, stacklevel=4)

    def close(self):
        """Stop reading ahead (the background thread ends)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def batches_for(x, y, sample_weight, prepare_arrays, prepare_batch, batch_size, steps,
                shuffle=False, continuing=False, what="fit"):
    """``ArrayBatches`` of ``prepare_arrays(x, y, sample_weight)`` for array data
    (``batch_size`` 32 by default), else a ``SourceBatches`` whose batches go through
    ``prepare_batch(x, y, sw, where)`` (``where`` names the batch for errors)."""
    kind = source_kind(x)
    if kind is None:
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"{what}: batch_size must be >= 1, got {batch_size}")
        xs, ys, sws = prepare_arrays(x, y, sample_weight)
        return ArrayBatches(xs, ys, sws, batch_size, shuffle, steps, continuing)
    infinite = kind == "PyDataset" and x.num_batches is None
    check_source_arguments(kind, y, sample_weight, shuffle, infinite)
    if batch_size is not None:
        raise ValueError(f"{what}: do not pass `batch_size` when `x` is a {kind} (it gives "
                         f"whole batches); got batch_size={batch_size!r}")
    return SourceBatches(x, kind, prepare_batch, steps, shuffle)


def _slice(data, start, stop):
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: _slice(v, start, stop) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_slice(v, start, stop) for v in data]
    return np.asarray(data)[start:stop]


def split_validation(x, y, sample_weight, validation_split):
    """Hold out the last ``validation_split`` of the samples (before any shuffling)."""
    if not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
    first = flatten(x)[0] if not isinstance(x, dict) else next(iter(x.values()))
    n = int(np.shape(first)[0])
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"Training data contains {n} samples, which is not sufficient to "
                         "split it into a validation and training set as specified by "
                         f"`validation_split={validation_split}`. Either provide more data, "
                         "or a different value for the `validation_split` argument.")
    train = (_slice(x, 0, split_at), _slice(y, 0, split_at),
             _slice(sample_weight, 0, split_at))
    val = (_slice(x, split_at, n), _slice(y, split_at, n), _slice(sample_weight, split_at, n))
    return train + (val,)


def unpack_validation(data):
    if source_kind(data) is not None:
        return data, None, None
    if isinstance(data, (list, tuple)) and len(data) in (2, 3):
        x, y = data[0], data[1]
        sw = data[2] if len(data) == 3 else None
        return x, y, sw
    raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                     "val_sample_weight), a generator, a PyDataset or a DataLoader, got "
                     f"{type(data).__name__}")


def validation_epochs(validation_freq):
    """Whether to validate after an epoch (0-based): every ``validation_freq`` epochs, or
    after the (1-based) epochs listed, as Keras."""
    if isinstance(validation_freq, int) and not isinstance(validation_freq, bool) and \
            validation_freq >= 1:
        return lambda epoch: (epoch + 1) % validation_freq == 0
    if isinstance(validation_freq, (list, tuple, set)) and all(
            isinstance(e, int) and not isinstance(e, bool) for e in validation_freq):
        epochs = set(validation_freq)
        return lambda epoch: epoch + 1 in epochs
    raise ValueError("validation_freq must be an integer >= 1 or a list of epoch numbers, "
                     f"got {validation_freq!r}")


__all__ = ["ArrayBatches", "SourceBatches", "batches_for", "source_kind", "unpack_batch",
           "is_torch_dataloader", "split_validation", "unpack_validation", "validation_epochs"]
