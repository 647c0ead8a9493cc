"""``gn.distribution``: data-parallel training over MPI (Keras 3's names).

Launch ``mpirun -n N python train.py``; in the script::

    gn.distribution.set_distribution(gn.distribution.DataParallel())
    # or: with gn.distribution.DataParallel().scope(): model.fit(...)

One device per MPI rank. ``fit`` broadcasts rank 0's weights and optimizer state, checks
every rank holds the same model (else a ValueError naming the rank), gives each rank a
disjoint part of every global batch (global batch = ranks x ``batch_size``), and runs the
training step as a gradient plan, an allreduce of the gradients in fused buckets, and an
update plan. Generators, PyDatasets and DataLoaders are dealt batch by batch;
``evaluate`` and ``predict`` run each rank's part and combine (predict's outputs, in
the order of the data, on every rank); see sharding.py. Losses and metrics are averaged
over ranks; only rank 0 prints progress and writes files (``save``, ModelCheckpoint,
CSVLogger), the other callbacks run on every rank. ``BatchNormalization(synchronized=
True)`` takes the global batch's statistics (the ALLREDUCE_SUM op inside the step). A
rank that raises aborts every rank (``MPI.Abort``) after printing which rank failed; one
that dies is reported by mpirun, which stops the others; one that hangs is found by the
others' watchdog (watchdog.py): a collective waiting longer than ``DataParallel(timeout=)``
(300 s) aborts every rank, naming the ranks that did not arrive.
"""
import contextlib

from .data_parallel import DataParallel

_current = None


def set_distribution(value):
    """Make ``value`` (a DataParallel, or None to stop) the distribution fit uses."""
    global _current
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution: expected a DataParallel or None, got "
                        f"{type(value).__name__}")
    _current = value
    from ..ops.collective import set_allreduce   # late: it imports the ops
    set_allreduce(value.sum_in_place if value is not None and value.num_ranks > 1 else None)
    if value is not None and value.num_ranks > 1:
        value.install_abort_hook()


def distribution():
    """The distribution set by ``set_distribution`` or a scope, or None."""
    return _current


@contextlib.contextmanager
def _scope(value):
    before = _current
    set_distribution(value)
    try:
        yield value
    finally:
        set_distribution(before)


DataParallel.scope = lambda self: _scope(self)

__all__ = ["DataParallel", "set_distribution", "distribution"]
