"""Order statistics and NaN-ignoring reductions of keras.ops: quantile, percentile,
median, sort, argsort and histogram, and nansum, nanmean, nanmax, nanmin, nanprod,
nanvar, nanstd, nanargmax, nanargmin.

graphnet has no sort primitive, so an order statistic is selected by counting: along
the reduced axis (n values) element i is the k-th smallest when fewer than k + 1 values
are below it and more than k are at or below it. That takes n x n comparisons per
reduced row, a cost that suits the short axes Keras programs take quantiles over
(features, channels, time steps of a few thousand at most); it is exact, runs on the
elementwise and reduce kernels, and trains through (the gradient reaches the selected
elements). The quantiles ``q`` are settings (numbers or arrays), as the positions they
select must be known when the graph is built.
"""
import math

import numpy as np

from ..graph.node import Node
from ..graph.tensor import SymbolicTensor
from ..graph.variable import Variable
from . import api
from .math_api import isnan
from .promotion import result_type

__all__ = []

_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def export(fn):
    __all__.append(fn.__name__)
    return fn


def _reduced_last(x, axis, where):
    """(x with the ``axis`` axes merged into one last axis, the remaining axes, the
    reduced axes)."""
    if axis is None:
        axes = list(range(x.ndim))
    else:
        axes = sorted({int(a) % x.ndim if -x.ndim <= int(a) < x.ndim else _bad_axis(x, a, where)
                       for a in (axis if isinstance(axis, (tuple, list)) else [axis])})
    rest = [i for i in range(x.ndim) if i not in axes]
    sizes = [x.shape[a] for a in axes]
    if any(s is None for s in sizes):
        raise ValueError(f"{where}: the reduced axes {axes} of x must have known sizes, got "
                         f"shape {x.shape}")
    moved = api.transpose(x, rest + axes)
    merged = api.reshape_dims(moved, [("in", i) for i in range(len(rest))] +
                              [math.prod(sizes)])
    return merged, rest, axes


def _bad_axis(x, axis, where):
    raise ValueError(f"{where}: axis {axis} is out of range for x of shape {x.shape}")


def _order_statistic(x, k):
    """The k-th smallest value (0-based) along x's last axis."""
    column, row = api.expand_dims(x, -1), api.expand_dims(x, -2)
    below = api.sum(api.cast(api.less(row, column), "int32"), axis=-1)
    at_or_below = api.sum(api.cast(api.less_equal(row, column), "int32"), axis=-1)
    chosen = api.logical_and(api.less_equal(below, k), api.greater(at_or_below, k))
    return api.max(api.where(chosen, x, -np.inf), axis=-1)


def _positions(q, n, method, where):
    """(low index, high index, weight of the high one) per quantile in [0, 1]."""
    picks = []
    for value in q.reshape(-1):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{where}: quantiles must be in [0, 1], got {value}")
        position = value * (n - 1)
        low, high = math.floor(position), math.ceil(position)
        fraction = position - low
        if method == "lower":
            high, fraction = low, 0.0
        elif method == "higher":
            low, fraction = high, 0.0
        elif method == "nearest":  # half to even, as numpy and torch
            low = high = int(np.round(position))
            fraction = 0.0
        elif method == "midpoint":
            fraction = 0.5 if high != low else 0.0
        picks.append((low, high, fraction))
    return picks


@export
def quantile(x, q, axis=None, method="linear", keepdims=False):
    """The ``q``-th quantiles (numbers in [0, 1]) of x over ``axis`` (all axes when None);
    with ``method`` linear, lower, higher, midpoint or nearest between the two order
    statistics around q * (n - 1). A 1-D q puts its axis first; NaN in a row gives NaN."""
    return _quantile(x, q, axis, method, keepdims, "quantile")


def _quantile(x, q, axis, method, keepdims, where):
    if method not in _METHODS:
        raise ValueError(f"{where}: method must be one of {_METHODS}, got {method!r}")
    if isinstance(q, (SymbolicTensor, Node, Variable)):
        raise TypeError(f"{where}: q must be a number or an array (the order statistics it "
                        "selects are fixed when the graph is built), not a tensor")
    x = api.convert_to_tensor(x)
    out_dtype = result_type(x.dtype, float)
    q = np.asarray(q, dtype="float64")
    if q.ndim > 1:
        raise ValueError(f"{where}: q must be a number or a 1-D array, got shape {q.shape}")
    merged, rest, axes = _reduced_last(api.cast(x, result_type(x.dtype, "float32")), axis,
                                       where)
    n = merged.shape[-1]
    if n == 0:
        raise ValueError(f"{where}: x has no elements over axis {axis} (shape {x.shape})")
    stats, results = {}, []
    for low, high, fraction in _positions(q, n, method, where):
        for k in (low, high):
            if k not in stats:
                stats[k] = _order_statistic(merged, k)
        value = stats[low] if fraction == 0.0 else api.add(
            stats[low], api.multiply(api.subtract(stats[high], stats[low]), fraction))
        results.append(value)
    has_nan = api.any(isnan(merged), axis=-1)
    results = [api.where(has_nan, np.nan, r) for r in results]
    if keepdims:
        shape = [("in", rest.index(i)) if i in rest else 1 for i in range(x.ndim)]
        results = [api.reshape_dims(r, shape) for r in results]
    out = results[0] if q.ndim == 0 else api.stack(results, axis=0)
    return api.cast(out, out_dtype)


@export
def percentile(x, q, axis=None, method="linear", keepdims=False):
    """The ``q``-th percentiles (numbers in [0, 100]) of x over ``axis`` (quantile of q /
    100)."""
    if isinstance(q, (SymbolicTensor, Node, Variable)):
        raise TypeError("percentile: q must be a number or an array, not a tensor")
    q = np.asarray(q, dtype="float64")
    if np.any((q < 0) | (q > 100)):
        raise ValueError(f"percentile: percentiles must be in [0, 100], got {q.tolist()}")
    return _quantile(x, q / 100.0, axis, method, keepdims,
                     "percentile")


@export
def median(x, axis=None, keepdims=False):
    """The median of x over ``axis`` (the mean of the two middle values for an even
    count)."""
    return _quantile(x, 0.5, axis, "linear", keepdims, "median")


# ---- NaN-ignoring reductions -------------------------------------------------------------

def _is_float(x):
    return x.dtype in ("float32", "float64")


def _without_nan(x, fill):
    return api.where(isnan(x), fill, x)


def _empty_axis(axis):
    return isinstance(axis, (tuple, list)) and not axis


@export
def nansum(x, axis=None, keepdims=False):
    """The sum over ``axis`` with NaN counted as 0."""
    x = api.convert_to_tensor(x)
    if _empty_axis(axis):
        return api.cast(_without_nan(x, 0.0) if _is_float(x) else x,
                        "int32" if x.dtype in ("bool", "uint8", "int8") else x.dtype)
    return api.sum(_without_nan(x, 0.0) if _is_float(x) else x, axis=axis, keepdims=keepdims)


@export
def nanprod(x, axis=None, keepdims=False):
    """The product over ``axis`` with NaN counted as 1."""
    x = api.convert_to_tensor(x)
    return api.prod(_without_nan(x, 1.0) if _is_float(x) else x, axis=axis, keepdims=keepdims)


def _count(x, axis, keepdims):
    """The number of non-NaN values over ``axis``, in x's (float) dtype."""
    present = api.cast(api.logical_not(isnan(x)), x.dtype)
    return api.sum(present, axis=axis, keepdims=keepdims)


@export
def nanmean(x, axis=None, keepdims=False):
    """The mean over ``axis`` of the values that are not NaN (NaN where all are)."""
    x = api.convert_to_tensor(x)
    x = api.cast(x, result_type(x.dtype, float))
    if _empty_axis(axis):
        return x
    return api.divide(api.sum(_without_nan(x, 0.0), axis=axis, keepdims=keepdims),
                      _count(x, axis, keepdims))


@export
def nanvar(x, axis=None, keepdims=False):
    """The variance over ``axis`` of the values that are not NaN."""
    x = api.convert_to_tensor(x)
    x = api.cast(x, result_type(x.dtype, float))
    centered = api.subtract(x, nanmean(x, axis=axis, keepdims=True))
    return nanmean(api.square(centered), axis=axis, keepdims=keepdims)


@export
def nanstd(x, axis=None, keepdims=False):
    """The standard deviation over ``axis`` of the values that are not NaN."""
    return api.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def _nan_extreme(x, axis, keepdims, reduce, fill):
    x = api.convert_to_tensor(x)
    if not _is_float(x):
        return reduce(x, axis=axis, keepdims=keepdims)
    if _empty_axis(axis):
        return x
    out = reduce(_without_nan(x, fill), axis=axis, keepdims=keepdims)
    return api.where(api.all(isnan(x), axis=axis, keepdims=keepdims), np.nan, out)


@export
def nanmax(x, axis=None, keepdims=False):
    """The maximum over ``axis`` ignoring NaN (NaN where all values are NaN)."""
    return _nan_extreme(x, axis, keepdims, api.max, -np.inf)


@export
def nanmin(x, axis=None, keepdims=False):
    """The minimum over ``axis`` ignoring NaN (NaN where all values are NaN)."""
    return _nan_extreme(x, axis, keepdims, api.min, np.inf)


# ---- sorting by ranks --------------------------------------------------------------------

def _ranks(x):
    """Each element's position in the stable ascending order along x's last axis (NaN
    last): the count of smaller values plus the count of equal values before it."""
    n = x.shape[-1]
    column, row = api.expand_dims(x, -1), api.expand_dims(x, -2)   # [..., i, j]
    smaller = api.less(row, column)
    equal = api.equal(row, column)
    if x.dtype in ("float32", "float64"):
        nan_i, nan_j = isnan(column), isnan(row)
        smaller = api.logical_or(smaller, api.logical_and(nan_i, api.logical_not(nan_j)))
        equal = api.logical_or(equal, api.logical_and(nan_i, nan_j))
    before = np.tri(n, n, -1, dtype=bool)                           # j < i
    ahead = api.logical_or(smaller, api.logical_and(equal, before))
    return api.sum(api.cast(ahead, "int32"), axis=-1)


def _sorted_last(x, values):
    """``values`` (x's shape) placed at their elements' ranks along the last axis."""
    n = x.shape[-1]
    placed = api.equal(api.expand_dims(_ranks(x), -1), np.arange(n, dtype="int32"))  # [i, k]
    spread = api.where(placed, api.expand_dims(values, -1), 0)
    return api.sum(spread, axis=-2)


def _along_last(x, axis, where):
    x = api.convert_to_tensor(x)
    if x.ndim == 0:
        raise ValueError(f"{where}: x must have at least one dimension, got a scalar")
    if not -x.ndim <= int(axis) < x.ndim:
        _bad_axis(x, axis, where)
    axis = int(axis) % x.ndim
    if x.shape[axis] is None:
        raise ValueError(f"{where}: axis {axis} of x must have a known size, got shape "
                         f"{x.shape}")
    order = [i for i in range(x.ndim) if i != axis] + [axis]
    back = list(np.argsort(order))
    return api.transpose(x, order), back


@export
def sort(x, axis=-1):
    """x sorted ascending along ``axis`` (NaN last), by ranks: n x n comparisons per row."""
    moved, back = _along_last(x, axis, "sort")
    return api.transpose(_sorted_last(moved, moved), back)


@export
def argsort(x, axis=-1):
    """The indices (int32) that sort x along ``axis``, ties in their original order."""
    moved, back = _along_last(x, axis, "argsort")
    n = moved.shape[-1]
    positions = api.broadcast_to(np.arange(n, dtype="int32"),
                                 [-1 if d is None else d for d in moved.shape])
    return api.transpose(_sorted_last(moved, positions), back)


def _nan_arg(x, axis, keepdims, arg, fill):
    x = api.convert_to_tensor(x)
    if x.dtype not in ("float32", "float64"):
        return arg(x, axis=axis, keepdims=keepdims)
    if axis is None:
        x, axis = api.reshape(x, (-1,)), 0
    index = arg(api.where(isnan(x), fill, x), axis=axis, keepdims=keepdims)
    return api.where(api.all(isnan(x), axis=axis, keepdims=keepdims), -1, index)


@export
def nanargmax(x, axis=None, keepdims=False):
    """The index of the maximum over ``axis`` ignoring NaN (-1 where all are NaN)."""
    return _nan_arg(x, axis, keepdims, api.argmax, -np.inf)


@export
def nanargmin(x, axis=None, keepdims=False):
    """The index of the minimum over ``axis`` ignoring NaN (-1 where all are NaN)."""
    return _nan_arg(x, axis, keepdims, api.argmin, np.inf)


@export
def histogram(x, bins=10, range=None):
    """(counts, edges) of the 1-D x in ``bins`` equal bins over ``range`` (x's min and
    max when None, computed in the graph); the last bin includes its right edge."""
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"histogram: bins must be a positive int, got {bins!r}")
    x = api.convert_to_tensor(x)
    if x.ndim != 1:
        raise ValueError(f"histogram: x must be 1-D, got shape {x.shape}")
    x = api.cast(x, "float32")
    fractions = np.linspace(0.0, 1.0, int(bins) + 1).astype("float32")
    if range is None:
        low, high = api.min(x), api.max(x)
    else:
        low, high = float(range[0]), float(range[1])
        if not low <= high:
            raise ValueError(f"histogram: range must be (low, high) with low <= high, got "
                             f"{range}")
    edges = api.add(low, api.multiply(api.subtract(high, low), fractions))
    column = api.expand_dims(x, -1)
    above_low = api.greater_equal(column, api.getitem(edges, slice(None, -1)))
    below_high = api.concatenate([api.less(column, api.getitem(edges, slice(1, -1))),
                                  api.less_equal(column, api.getitem(edges, slice(-1, None)))],
                                 axis=-1)
    counts = api.sum(api.cast(api.logical_and(above_low, below_high), "int32"), axis=0)
    return api.cast(counts, "float32"), edges
