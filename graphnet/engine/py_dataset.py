"""``gn.utils.PyDataset``: Keras 3's base class for a dataset of batches written in Python,
and the ordered pool that reads it with several threads or processes."""
import collections
import concurrent.futures
import itertools
import multiprocessing
import warnings


class PyDataset:
    """Base class for a dataset read batch by batch (Keras 3's ``keras.utils.PyDataset``).

    Implement ``__getitem__(index)`` (a whole batch: ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)``) and ``__len__`` (the number of batches); for an infinite
    dataset override ``num_batches`` to return None instead. ``on_epoch_begin`` and
    ``on_epoch_end`` are called around every epoch.

    Args:
        workers: number of threads (or processes) reading batches in parallel.
        use_multiprocessing: read with forked processes instead of threads (the
            dataset is copied into each process).
        max_queue_size: how many batches may be read ahead of the training step.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = [name for name in ("_workers", "_use_multiprocessing", "_max_queue_size")
                   if not hasattr(self, name)]
        if not missing:
            return
        self._workers = getattr(self, "_workers", 1)
        self._use_multiprocessing = getattr(self, "_use_multiprocessing", False)
        self._max_queue_size = getattr(self, "_max_queue_size", 10)
        warnings.warn("Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                      "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                      "`max_queue_size`. Do not pass these arguments to `fit()`, as they will "
                      "be ignored.", stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index), "
                                  "returning the batch at that position")

    def __iter__(self):
        count = self.num_batches
        for index in itertools.count() if count is None else range(count):
            yield self[index]

    @property
    def num_batches(self):
        """The number of batches, or None for an infinite dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ (or the "
                                  "num_batches property, None when infinite)")

    def on_epoch_begin(self):
        """Called at the beginning of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


def check_settings(dataset):
    """workers, use_multiprocessing and max_queue_size, checked."""
    workers, use_mp = dataset.workers, dataset.use_multiprocessing
    queue_size = dataset.max_queue_size
    name = type(dataset).__name__
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ValueError(f"{name}: workers must be an integer >= 0, got {workers!r}")
    if not isinstance(queue_size, int) or isinstance(queue_size, bool) or queue_size < 1:
        raise ValueError(f"{name}: max_queue_size must be an integer >= 1, got "
                         f"{queue_size!r}")
    if not isinstance(use_mp, bool):
        raise ValueError(f"{name}: use_multiprocessing must be True or False, got {use_mp!r}")
    return workers, use_mp, queue_size


# The dataset a forked worker process reads (set by the pool's initializer).
_worker_dataset = None


def _set_worker_dataset(dataset):
    global _worker_dataset
    _worker_dataset = dataset


def _worker_getitem(index):
    return _worker_dataset[index]


def pooled_batches(dataset, indices, workers, use_multiprocessing, max_queue_size):
    """The batches ``dataset[i]`` for ``i`` in ``indices``, in order, read by ``workers``
    threads (forked processes with ``use_multiprocessing``), at most ``max_queue_size``
    requested ahead."""
    if use_multiprocessing:
        pool = multiprocessing.get_context("fork").Pool(
            workers, initializer=_set_worker_dataset, initargs=(dataset,))

        def submit(index):
            return pool.apply_async(_worker_getitem, (index,))

        def result(pending):
            return pending.get()

        def shut_down():
            pool.terminate()
            pool.join()
    else:
        pool = concurrent.futures.ThreadPoolExecutor(workers, "graphnet-pydataset")

        def submit(index):
            return pool.submit(dataset.__getitem__, index)

        def result(pending):
            return pending.result()

        def shut_down():
            pool.shutdown(wait=True, cancel_futures=True)
    indices = iter(indices)
    try:
        pending = collections.deque(submit(i) for i in itertools.islice(indices, max_queue_size))
        while pending:
            first = pending.popleft()
            for index in itertools.islice(indices, 1):
                pending.append(submit(index))
            yield result(first)
    finally:
        shut_down()


__all__ = ["PyDataset"]
