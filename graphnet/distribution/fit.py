"""What ``fit``, ``evaluate`` and ``predict`` do under a DataParallel distribution: check
and broadcast the model at fit's start, keep progress and file writing on rank 0, cut
the data by rank (sharding.py) and combine the ranks' logs and predictions."""
import numpy as np

from .. import callbacks as callbacks_module
from ..engine import data_adapters
from .sharding import gathered_batches, rank_part

# Callbacks that write files run on rank 0 only; the rest (EarlyStopping,
# LearningRateScheduler, ...) run on every rank, seeing the same rank-averaged logs, so
# every rank takes the same decisions. BackupAndRestore runs everywhere (every rank
# restores) and writes on rank 0 only itself.
RANK_ZERO_CALLBACKS = (callbacks_module.ModelCheckpoint, callbacks_module.CSVLogger,
                       callbacks_module.TensorBoard)


def _strategy():
    from . import distribution
    strategy = distribution()
    return strategy if strategy is not None and strategy.num_ranks > 1 else None


def writes_files():
    """Whether this process writes files: always without a distribution, else rank 0
    only (``model.save`` and ``save_weights`` on the other ranks write nothing, as
    Horovod's and Keras's multi-worker guidance has only the chief write)."""
    strategy = _strategy()
    return strategy is None or strategy.rank == 0


def distributed_fit_callbacks(model, x, callbacks):
    """``callbacks`` for this rank, once rank 0's weights and optimizer state are on
    every rank and every rank is known to hold the same model; unchanged without a
    distribution."""
    strategy = _strategy()
    if strategy is None:
        return callbacks
    kind = data_adapters.source_kind(x)
    if hasattr(model, "_ensure_built") and not model.built:
        if kind is not None:
            raise ValueError(f"DataParallel fit: x is a {kind} and model '{model.name}' is "
                             "not built; build it first (gn.Input or model.build(shape)) "
                             "so rank 0's weights reach every rank before the first step")
        model._ensure_built(x if not isinstance(x, (list, tuple, dict)) else
                            (next(iter(x.values())) if isinstance(x, dict) else x[0]))
    strategy.check_same_model(model)
    variables = [v for v in model.trainable_weights if np.dtype(v.dtype).kind == "f"]
    model.optimizer.build(variables)
    strategy.broadcast_weights(list(model.weights) + list(model.optimizer.variables))
    if strategy.rank != 0:
        callbacks = [c for c in (callbacks or []) if not isinstance(c, RANK_ZERO_CALLBACKS)]
    return callbacks


def rank_data(x, y, sample_weight, batch_size, what, training):
    """This rank's (x, y, sample_weight) (sharding.rank_part); unchanged without a
    distribution."""
    strategy = _strategy()
    if strategy is None:
        return x, y, sample_weight
    return rank_part(strategy, x, y, sample_weight, batch_size, what, training)


def rank_verbose(verbose):
    """0 on the ranks other than 0 (only rank 0 prints progress)."""
    strategy = _strategy()
    return 0 if strategy is not None and strategy.rank != 0 else verbose


def rank_combined_logs(trackers, training, logs):
    """The epoch's logs over every rank's samples, the same on every rank: each loss the
    sum of the ranks' batch-size-weighted totals over the sum of their samples, each
    metric computed from the sum of the ranks' state variables (a training step's
    metric totals are summed over ranks already, so those are the same everywhere).
    ``trackers``: this rank's (None when it ran no batch); ``logs`` without a
    distribution."""
    strategy = _strategy()
    if strategy is None:
        return logs
    mine = {}
    if trackers is not None:
        for name, total in zip(trackers.loss_names, trackers.loss_totals):
            mine[name] = [np.float64(total), np.float64(trackers.seen)]
        if not training:
            for _, name, metric, _ in trackers.metrics:
                mine[name] = [np.asarray(v.value, "float64") for v in metric.variables]
    every = strategy.allgather(mine, "the sum of the losses and metrics over ranks")
    if trackers is None:
        raise ValueError(f"DataParallel: rank {strategy.rank} got no batch of the data while "
                         "others did; give the data at least one batch per rank")
    summed = {name: [sum(part[name][i] for part in every if name in part)
                     for i in range(len(values))] for name, values in mine.items()}
    combined = {name: float(summed[name][0] / max(summed[name][1], 1.0))
                for name in trackers.loss_names}
    for _, name, metric, _ in trackers.metrics:
        if not training:
            for var, value in zip(metric.variables, summed[name]):
                var.assign(value.astype(np.dtype(var.dtype)))
        combined[name] = metric.result()
    return {name: combined[name] for name in logs} if logs else combined


def gathered_predictions(pieces):
    """Every rank's predicted batches, in the order of the data, on every rank."""
    strategy = _strategy()
    return pieces if strategy is None else gathered_batches(strategy, pieces)
