"""Each rank's part of the data under DataParallel, and the parts put back together.

Training (``fit``'s data): arrays are cut per global batch of ranks x ``batch_size``
samples, rank r taking the r-th contiguous part of each (the 2 x 64 = 1 x 128 rule);
a data source (generator, iterable, PyDataset, torch DataLoader) gives rank r its
batches r, r + R, r + 2R, ... in groups of R, and a last group of fewer than R batches
is dropped, so every rank runs the same number of steps (each step ends in a
collective). Generators, iterables and DataLoaders are read whole on every rank and
must give the batches in the same order there (seed their shuffling alike); a
PyDataset's rank reads only its own batches.

Inference (``evaluate``, ``fit``'s validation data, ``predict``): batch j (of
``batch_size`` samples, or the source's j-th batch) goes to rank j mod R and nothing
is dropped; ``predict`` interleaves the ranks' batches back into the order of the data.

With ``DataParallel(auto_shard_dataset=False)`` each rank's data is taken as its own
part already: nothing is cut, and ``predict`` concatenates the ranks' outputs in rank
order.
"""
import numpy as np

from ..engine import data_adapters
from ..engine.py_dataset import PyDataset


def _take(data, idx):
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: _take(v, idx) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_take(v, idx) for v in data)
    return np.asarray(data)[idx]


def _num_samples(x):
    if isinstance(x, dict):
        return _num_samples(next(iter(x.values())))
    if isinstance(x, (list, tuple)):
        return _num_samples(x[0])
    return len(x)


def training_indices(rank, ranks, n, batch_size):
    """Rank ``rank``'s sample indices: each global batch of ranks x batch_size samples
    split into contiguous parts, one per rank; a last global batch of fewer samples is
    split as evenly as it goes (np.array_split), dropped when it has fewer samples than
    ranks, so every rank runs the same number of steps."""
    global_batch = batch_size * ranks
    full = n // global_batch
    parts = [np.arange(k * global_batch + rank * batch_size,
                       k * global_batch + (rank + 1) * batch_size) for k in range(full)]
    rest = n - full * global_batch
    if rest >= ranks:
        parts.append(np.array_split(np.arange(full * global_batch, n), ranks)[rank])
    return np.concatenate(parts) if parts else np.arange(0)


def inference_indices(rank, ranks, n, batch_size, what):
    """Rank ``rank``'s sample indices: the batches j of ``batch_size`` with j mod ranks
    == rank. Every rank needs one batch at least."""
    starts = range(rank * batch_size, n, ranks * batch_size)
    if n <= (ranks - 1) * batch_size:
        raise ValueError(f"DataParallel {what}: {n} sample(s) make "
                         f"{-(-n // batch_size)} batch(es) of batch_size={batch_size}, fewer "
                         f"than the {ranks} ranks; expected at least one batch per rank: "
                         "pass a smaller batch_size")
    return np.concatenate([np.arange(s, min(s + batch_size, n)) for s in starts])


class RankBatches(PyDataset):
    """A PyDataset's batches ``rank``, ``rank + ranks``, ...: ``len(dataset) // ranks``
    of them when ``whole_groups`` (training), else every one that falls to this rank."""

    def __init__(self, dataset, rank, ranks, whole_groups):
        super().__init__(workers=dataset.workers,
                         use_multiprocessing=dataset.use_multiprocessing,
                         max_queue_size=dataset.max_queue_size)
        self.dataset, self.rank, self.ranks = dataset, rank, ranks
        self.whole_groups = whole_groups

    @property
    def num_batches(self):
        count = self.dataset.num_batches
        if count is None:
            return None
        return count // self.ranks if self.whole_groups else \
            max(0, -(-(count - self.rank) // self.ranks))

    def __getitem__(self, index):
        return self.dataset[index * self.ranks + self.rank]

    def on_epoch_begin(self):
        self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


def _every_rank_th(batches, rank, ranks, whole_groups, as_tuple):
    """Batches ``rank``, ``rank + ranks``, ... of the iterator ``batches``; with
    ``whole_groups`` one is given only once its group of ``ranks`` batches is complete.
    ``as_tuple``: a DataLoader's list or lone tensor becomes the tuple a generator gives."""
    mine = None
    for index, batch in enumerate(batches):
        if index % ranks == rank:
            mine = (tuple(batch) if isinstance(batch, list) else
                    batch if isinstance(batch, tuple) else (batch,)) if as_tuple else batch
            if not whole_groups:
                yield mine
        if whole_groups and index % ranks == ranks - 1:
            yield mine


class RankIterable:
    """An iterable's (or DataLoader's) batches for one rank, read anew each epoch."""

    def __init__(self, source, rank, ranks, whole_groups, as_tuple):
        self.source, self.rank, self.ranks = source, rank, ranks
        self.whole_groups, self.as_tuple = whole_groups, as_tuple

    def __iter__(self):
        return _every_rank_th(iter(self.source), self.rank, self.ranks, self.whole_groups,
                              self.as_tuple)

    def __len__(self):
        count = len(self.source)   # TypeError when unknown, as the source's own len
        return count // self.ranks if self.whole_groups else \
            max(0, -(-(count - self.rank) // self.ranks))


def rank_part(strategy, x, y, sample_weight, batch_size, what, training):
    """(x, y, sample_weight) of this rank for ``fit`` (``training``) or for inference."""
    if not strategy.auto_shard_dataset or strategy.num_ranks == 1:
        return x, y, sample_weight
    rank, ranks = strategy.rank, strategy.num_ranks
    kind = data_adapters.source_kind(x)
    if kind is None:
        n, size = _num_samples(x), 32 if batch_size is None else int(batch_size)
        idx = training_indices(rank, ranks, n, size) if training else \
            inference_indices(rank, ranks, n, size, what)
        return _take(x, idx), _take(y, idx), _take(sample_weight, idx)
    if kind == "PyDataset":
        return RankBatches(x, rank, ranks, training), y, sample_weight
    if kind == "generator":
        return _every_rank_th(x, rank, ranks, training, False), y, sample_weight
    return RankIterable(x, rank, ranks, training, kind == "torch DataLoader"), y, sample_weight


def gathered_batches(strategy, pieces):
    """Every rank's ``pieces`` (one entry per predicted batch) on every rank, in the
    order of the data: interleaved batch by batch as ``rank_part`` dealt them, or in
    rank order when the ranks' data were their own (``auto_shard_dataset=False``)."""
    every = strategy.allgather(pieces, "the gathering of predictions")
    if not strategy.auto_shard_dataset:
        return [piece for part in every for piece in part]
    longest = max(len(part) for part in every)
    return [part[j] for j in range(longest) for part in every if j < len(part)]
