"""Index-driven ``gn.ops`` functions of keras.ops built from comparisons against
positions (one-hot selections), so they need no gather or scatter kernel and train
through their values: take_along_axis, multi_hot, in_top_k, searchsorted, unravel_index,
the segment reductions, scatter and scatter_update.

A selection compares each index with every position along its axis (m x n values), and
scatters sum through one GEMM of the one-hot rows. Integer indices compute through
float32, exact below 2**24 as everywhere in graphnet. Output sizes that would depend on
values (segment counts, scatter shapes) must be given.
"""
import math

import numpy as np

from . import api
from .shape_api import checked_axis, moveaxis

__all__ = []


def export(fn):
    __all__.append(fn.__name__)
    return fn


def _int_tensor(indices):
    t = api.convert_to_tensor(indices)
    return t if t.dtype in ("int32", "int64") else api.cast(t, "int32")


def _positions(n):
    return np.arange(n, dtype="int32")


def _known(size, what, where):
    if size is None:
        raise ValueError(f"{where}: {what} must have a known size")
    return size


@export
def take_along_axis(x, indices, axis=None):
    """out[..., i, ...] = x[..., indices[..., i, ...], ...] along ``axis`` (both flattened
    when None); negative indices count from the end, other dims broadcast."""
    x, idx = api.convert_to_tensor(x), _int_tensor(indices)
    if axis is None:
        x, idx, axis = api.reshape(x, (-1,)), api.reshape(idx, (-1,)), 0
    if idx.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices of shape {idx.shape} must have the rank "
                         f"of x of shape {x.shape}")
    axis = checked_axis(x, axis, "take_along_axis")
    n = _known(x.shape[axis], f"axis {axis} of x", "take_along_axis")
    x_last, idx_last = moveaxis(x, axis, -1), moveaxis(idx, axis, -1)
    idx_last = api.where(api.less(idx_last, 0), api.add(idx_last, n), idx_last)
    picked = api.equal(api.expand_dims(idx_last, -1), _positions(n))         # [..., m, n]
    zero = False if x.dtype == "bool" else 0
    chosen = api.sum(api.where(picked, api.expand_dims(x_last, -2), zero), axis=-1)
    return moveaxis(api.cast(chosen, x.dtype), -1, axis)


@export
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False):
    """For each row of integer labels, 1 at every class it holds (over a last axis of
    ``num_classes``)."""
    if num_classes is None:
        raise ValueError("multi_hot: num_classes must be given")
    if sparse:
        raise ValueError("multi_hot: sparse=True is not supported (graphnet's tensors are "
                         "dense)")
    if axis != -1:
        raise ValueError(f"multi_hot: only axis=-1 (classes last) is supported, got {axis}")
    x = api.convert_to_tensor(inputs)
    encoded = api.one_hot(x, int(num_classes), dtype="float32")
    out = api.max(encoded, axis=1 if x.ndim > 1 else 0)
    return api.cast(out, "float32" if dtype is None else dtype)


@export
def in_top_k(targets, predictions, k):
    """Whether each row's target class is among its ``k`` largest predictions (ties
    count in, as Keras's)."""
    p = api.convert_to_tensor(predictions)
    if p.ndim != 2:
        raise ValueError(f"in_top_k: predictions must be 2-D (batch, classes), got shape "
                         f"{p.shape}")
    t = api.expand_dims(_int_tensor(targets), -1)
    target_score = take_along_axis(p, t, axis=-1)
    ahead = api.sum(api.cast(api.greater(p, target_score), "int32"), axis=-1)
    return api.less(ahead, int(k))


@export
def searchsorted(sorted_sequence, values, side="left"):
    """Where each value would be inserted into the 1-D ascending ``sorted_sequence`` to
    keep it sorted (before equal values with side "left", after them with "right")."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    seq = api.convert_to_tensor(sorted_sequence)
    if seq.ndim != 1:
        raise ValueError(f"searchsorted: sorted_sequence must be 1-D, got shape {seq.shape}")
    v = api.expand_dims(api.convert_to_tensor(values), -1)
    before = api.less(seq, v) if side == "left" else api.less_equal(seq, v)
    return api.sum(api.cast(before, "int32"), axis=-1)


@export
def unravel_index(indices, shape):
    """The tuple of coordinate arrays the flat ``indices`` stand for in an array of
    ``shape`` (row-major)."""
    idx = _int_tensor(indices)
    dims = [int(d) for d in shape]
    if any(d <= 0 for d in dims):
        raise ValueError(f"unravel_index: shape must have positive sizes, got {tuple(shape)}")
    coords, stride = [], math.prod(dims)
    for d in dims:
        stride //= d
        coords.append(api.mod(api.floor_divide(idx, stride), d))
    return tuple(coords)


# ---- segment reductions ------------------------------------------------------------------

def _segments(data, segment_ids, num_segments, where):
    """(data as (N, D) rows, the (N, S) one-hot membership, the output's shape)."""
    if num_segments is None:
        raise ValueError(f"{where}: num_segments must be given (the output's size is fixed "
                         "when the graph is built)")
    d, ids = api.convert_to_tensor(data), _int_tensor(segment_ids)
    if ids.ndim != 1 or d.ndim < 1:
        raise ValueError(f"{where}: segment_ids must be 1-D and data at least 1-D, got shapes "
                         f"{ids.shape} and {d.shape}")
    if any(s is None for s in d.shape[1:]):
        raise ValueError(f"{where}: data's non-leading sizes must be known, got {d.shape}")
    rows = api.reshape(d, (-1, math.prod(d.shape[1:])))
    member = api.equal(api.expand_dims(ids, -1), _positions(int(num_segments)))
    return rows, member, (int(num_segments),) + tuple(d.shape[1:])


@export
def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    """The sum of data's rows per segment id (ids outside [0, num_segments) are
    dropped). ``sorted`` (whether the ids are sorted) is a hint the one-hot selection does
    not need: the results are the same either way."""
    rows, member, shape = _segments(data, segment_ids, num_segments, "segment_sum")
    rows = api.cast(rows, "float32") if rows.dtype == "bool" else rows
    summed = api.matmul(api.transpose(api.cast(member, rows.dtype)), rows)
    return api.reshape(summed, shape)


def _segment_reduce(data, segment_ids, num_segments, reduce, fill, where):
    rows, member, shape = _segments(data, segment_ids, num_segments, where)
    if rows.dtype not in ("float32", "float64"):   # (Keras's segment reductions give floats)
        rows = api.cast(rows, "float32")
    spread = api.where(api.expand_dims(member, -1), api.expand_dims(rows, 1), fill)
    return api.reshape(reduce(spread, axis=0), shape)


@export
def segment_max(data, segment_ids, num_segments=None, sorted=False):
    """The maximum of data's rows per segment id (-inf for an empty segment)."""
    return _segment_reduce(data, segment_ids, num_segments, api.max, -np.inf, "segment_max")


@export
def segment_min(data, segment_ids, num_segments=None, sorted=False):
    """The minimum of data's rows per segment id (inf for an empty segment)."""
    return _segment_reduce(data, segment_ids, num_segments, api.min, np.inf, "segment_min")


@export
def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    """The product of data's rows per segment id (1 for an empty segment)."""
    return _segment_reduce(data, segment_ids, num_segments, api.prod, 1.0, "segment_prod")


# ---- scatter -----------------------------------------------------------------------------

def _flat_targets(indices, shape, where):
    """(the (N, P) one-hot of each index row's flat position among the P cells it
    addresses, N, the shape of one cell)."""
    idx = _int_tensor(indices)
    k = _known(idx.shape[-1] if idx.ndim else None, "the last axis of indices", where)
    if k > len(shape):
        raise ValueError(f"{where}: indices address {k} dims of a shape of rank {len(shape)}")
    lead = [int(d) for d in shape[:k]]
    strides = np.array([math.prod(lead[i + 1:]) for i in range(k)], dtype="int32")
    flat = api.sum(api.multiply(api.reshape(idx, (-1, k)), strides), axis=-1)
    return api.equal(api.expand_dims(flat, -1), _positions(math.prod(lead))), \
        tuple(int(d) for d in shape[k:])


@export
def scatter(indices, values, shape):
    """An array of ``shape``, zeros but for ``values`` added at ``indices`` (rows of k
    coordinates; repeated indices sum)."""
    shape = tuple(int(d) for d in shape)
    member, cell = _flat_targets(indices, shape, "scatter")
    v = api.convert_to_tensor(values)
    rows = api.reshape(v, (-1, math.prod(cell)))
    summed = api.matmul(api.transpose(api.cast(member, rows.dtype)), rows)
    return api.reshape(summed, shape)


_REDUCTIONS = (None, "add", "max", "min", "mul")


@export
def scatter_update(inputs, indices, updates, reduction=None):
    """``inputs`` with the cells at ``indices`` replaced by ``updates`` (with
    ``reduction`` "add", "max", "min" or "mul": combined with them). Where an index
    repeats without a reduction, its updates are summed."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"scatter_update: reduction must be one of {_REDUCTIONS}, got "
                         f"{reduction!r}")
    x = api.convert_to_tensor(inputs)
    if any(d is None for d in x.shape):
        raise ValueError(f"scatter_update: inputs must have known sizes, got {x.shape}")
    member, cell = _flat_targets(indices, x.shape, "scatter_update")
    u = api.cast(updates, x.dtype)
    rows = api.reshape(u, (-1, math.prod(cell)))
    grid = api.reshape(x, (-1, math.prod(cell)))
    hit = api.expand_dims(api.any(member, axis=0), -1)                       # (P, 1)
    if reduction in (None, "add"):
        summed = api.matmul(api.transpose(api.cast(member, rows.dtype)), rows)
        out = api.where(hit, summed, grid) if reduction is None else api.add(grid, summed)
    else:
        reduce, fill, combine = {"max": (api.max, -np.inf, api.maximum),
                                 "min": (api.min, np.inf, api.minimum),
                                 "mul": (api.prod, 1.0, api.multiply)}[reduction]
        spread = api.where(api.expand_dims(member, -1), api.expand_dims(rows, 1), fill)
        out = api.where(hit, combine(grid, reduce(spread, axis=0)), grid)
    return api.reshape(out, x.shape)
