"""What ``fit`` does first under a DataParallel distribution: check and broadcast the
model, shard the arrays by rank, keep progress and callbacks on rank 0."""
import numpy as np

from ..engine import data_adapters


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


def distributed_fit_arguments(model, x, y, sample_weight, batch_size, verbose, callbacks):
    """(x, y, sample_weight, verbose, callbacks) for this rank; unchanged without a
    distribution. Data sources other than arrays are refused for now."""
    from . import distribution
    strategy = distribution()
    if strategy is None:
        return x, y, sample_weight, verbose, callbacks
    kind = data_adapters.source_kind(x)
    if kind is not None:
        raise ValueError(f"DataParallel fit: x is a {kind}; only arrays are sharded by rank "
                         "so far: pass numpy arrays")
    if hasattr(model, "_ensure_built") and not model.built:
        model._ensure_built(x if not isinstance(x, (list, tuple, dict)) else
                            (next(iter(x.values())) if isinstance(x, dict) else x[0]))
    strategy.check_same_model(model)
    variables = [v for v in model.trainable_weights if np.dtype(v.dtype).kind == "f"]
    model.optimizer.build(variables)
    strategy.broadcast_weights(list(model.weights) + list(model.optimizer.variables))
    idx = strategy.shard_indices(_num_samples(x), batch_size or 32)
    if strategy.rank != 0:
        verbose, callbacks = 0, None
    return _take(x, idx), _take(y, idx), _take(sample_weight, idx), verbose, callbacks
