"""Layout and reduction ``gn.ops`` functions of keras.ops's numpy set, built from the
layout primitives (strided SLICE, TRANSPOSE, RESHAPE, CONCATENATE) and the reductions:
flip, roll, moveaxis, swapaxes, ravel, the stacks, unstack, diagonal, diag, trace,
append, select, rot90, diff, outer, size, count_nonzero, average and ptp.

Axes a function reads positions along (roll, diagonal, unstack, ...) must have known
sizes; the batch axis may stay unknown elsewhere.
"""
import builtins

import numpy as np

from . import api
from .creation_api import eye
from .promotion import result_type

__all__ = []


def export(fn):
    __all__.append(fn.__name__)
    return fn


def checked_axis(x, axis, where, name="axis"):
    """``axis`` as a non-negative int, or a clear error naming ``where``."""
    axis = int(axis)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{where}: {name} {axis} is out of range for x of shape {x.shape}")
    return axis % x.ndim


def _axes(x, axis, where):
    axes = range(x.ndim) if axis is None else \
        axis if isinstance(axis, (tuple, list)) else [axis]
    return [checked_axis(x, a, where) for a in axes]


def _known(x, axis, where):
    size = x.shape[axis]
    if size is None:
        raise ValueError(f"{where}: axis {axis} of x must have a known size, got shape "
                         f"{x.shape}")
    return size


def _take_range(x, axis, start, stop, step=1):
    index = [builtins.slice(None)] * x.ndim
    index[axis] = builtins.slice(start, stop, step)
    return api.getitem(x, tuple(index))


@export
def flip(x, axis=None):
    """x with the order of its elements along ``axis`` (every axis when None) reversed."""
    x = api.convert_to_tensor(x)
    index = [builtins.slice(None)] * x.ndim
    for a in _axes(x, axis, "flip"):
        index[a] = builtins.slice(None, None, -1)
    return api.getitem(x, tuple(index)) if x.ndim else x


def _flip_axis(x, axis, where):
    x = api.convert_to_tensor(x)
    if x.ndim <= axis:
        raise ValueError(f"{where}: x needs at least {axis + 1} dimensions, got shape "
                         f"{x.shape}")
    return flip(x, axis)


@export
def fliplr(x):
    """x reversed along axis 1 (left/right)."""
    return _flip_axis(x, 1, "fliplr")


@export
def flipud(x):
    """x reversed along axis 0 (up/down)."""
    return _flip_axis(x, 0, "flipud")


@export
def roll(x, shift, axis=None):
    """x with its elements shifted by ``shift`` along ``axis`` (those pushed past the end
    come back at the start); with axis None the flattened x, reshaped back."""
    x = api.convert_to_tensor(x)
    if axis is None:
        flat = roll(api.reshape(x, (-1,)), shift, 0)
        return api.reshape(flat, [-1 if d is None else d for d in x.shape])
    shifts = list(shift) if isinstance(shift, (tuple, list)) else [shift]
    axes = list(axis) if isinstance(axis, (tuple, list)) else [axis]
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: shift {shift} and axis {axis} must have the same length")
    for s, a in zip(shifts, axes):
        a = checked_axis(x, a, "roll")
        n = _known(x, a, "roll")
        s = int(s) % n if n else 0
        if s:
            x = api.concatenate([_take_range(x, a, n - s, None), _take_range(x, a, 0, n - s)],
                                axis=a)
    return x


def repeat_counts(x, counts, axis):
    """gn.ops.repeat with one count per element along ``axis``: element i ``counts[i]``
    times."""
    counts = [int(c) for c in np.asarray(counts).reshape(-1)]
    n = _known(x, axis, "repeat")
    if len(counts) == 1:
        return api.repeat(x, counts[0], axis)
    if len(counts) != n or builtins.min(counts) < 0:
        raise ValueError(f"repeat: repeats must be non-negative counts, one per element of "
                         f"axis {axis} (size {n}), got {counts}")
    pieces = [api.repeat(_take_range(x, axis, i, i + 1), c, axis)
              for i, c in enumerate(counts) if c]
    return api.concatenate(pieces, axis=axis) if pieces else _take_range(x, axis, 0, 0)


@export
def moveaxis(x, source, destination):
    """x with axes ``source`` moved to positions ``destination`` (ints or sequences)."""
    x = api.convert_to_tensor(x)
    source = _axes(x, source if isinstance(source, (tuple, list)) else [source], "moveaxis")
    destination = _axes(x, destination if isinstance(destination, (tuple, list))
                        else [destination], "moveaxis")
    if len(source) != len(destination):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must "
                         "have the same number of axes")
    order = [a for a in range(x.ndim) if a not in source]
    for dst, src in sorted(zip(destination, source)):
        order.insert(dst, src)
    return api.transpose(x, order)


@export
def swapaxes(x, axis1, axis2):
    """x with axes ``axis1`` and ``axis2`` exchanged."""
    x = api.convert_to_tensor(x)
    order = list(range(x.ndim))
    a, b = checked_axis(x, axis1, "swapaxes", "axis1"), checked_axis(x, axis2, "swapaxes", "axis2")
    order[a], order[b] = order[b], order[a]
    return api.transpose(x, order)


@export
def ravel(x):
    """x flattened to one dimension."""
    return api.reshape(x, (-1,))


def _at_least(x, rank):
    """x reshaped as numpy's atleast_2d (rank 2) or atleast_3d (rank 3)."""
    x = api.convert_to_tensor(x)
    if x.ndim >= rank:
        return x
    if rank == 2:
        return api.reshape(x, (1, -1))
    return api.reshape(x, (1, -1, 1)) if x.ndim <= 1 else api.expand_dims(x, -1)


@export
def hstack(xs):
    """Concatenate along axis 1 (axis 0 for 1-D arrays)."""
    xs = [api.convert_to_tensor(x) for x in xs]
    return api.concatenate(xs, axis=0 if builtins.all(x.ndim <= 1 for x in xs) else 1)


@export
def vstack(xs):
    """Concatenate along axis 0, 1-D arrays taken as rows."""
    return api.concatenate([_at_least(x, 2) for x in xs], axis=0)


@export
def dstack(xs):
    """Concatenate along axis 2 (depth), arrays taken as at least 3-D."""
    return api.concatenate([_at_least(x, 3) for x in xs], axis=2)


@export
def unstack(x, num=None, axis=0):
    """The list of x's slices along ``axis`` (each without that axis)."""
    x = api.convert_to_tensor(x)
    axis = checked_axis(x, axis, "unstack")
    n = _known(x, axis, "unstack")
    if num is not None and int(num) != n:
        raise ValueError(f"unstack: num {num} does not match axis {axis} of size {n}")
    index = [builtins.slice(None)] * x.ndim
    parts = []
    for i in range(n):
        index[axis] = i
        parts.append(api.getitem(x, tuple(index)))
    return parts


@export
def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal ``offset`` of the matrices over axes ``axis1`` and ``axis2``, along a
    new last axis (numpy.diagonal)."""
    x = api.convert_to_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"diagonal: x needs at least 2 dimensions, got shape {x.shape}")
    a = checked_axis(x, axis1, "diagonal", "axis1")
    b = checked_axis(x, axis2, "diagonal", "axis2")
    if a == b:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, both are {a}")
    n, m = _known(x, a, "diagonal"), _known(x, b, "diagonal")
    offset = int(offset)
    rest = [i for i in range(x.ndim) if i not in (a, b)]
    moved = api.transpose(x, rest + [a, b])
    flat = api.reshape_dims(moved, [("in", i) for i in range(len(rest))] + [n * m])
    length = builtins.max(0, builtins.min(n, m - offset) if offset >= 0 else
                          builtins.min(n + offset, m))
    start = offset if offset >= 0 else -offset * m
    return _take_range(flat, flat.ndim - 1, start, start + (length - 1) * (m + 1) + 1
                       if length else start, m + 1)


@export
def diag(x, k=0):
    """The diagonal ``k`` of a 2-D x, or the square matrix with the 1-D x on diagonal k."""
    x = api.convert_to_tensor(x)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ValueError(f"diag: x must be 1-D or 2-D, got shape {x.shape}")
    n, k = _known(x, 0, "diag"), int(k)
    size = n + abs(k)
    padded = api.pad(x, ((0, abs(k)),))
    column = api.reshape(padded, (-1, 1) if k >= 0 else (1, -1))
    mask = api.cast(eye(size, size, k), "bool")
    return api.where(mask, column, api.zeros_like(api.cast(column, "float32")))


@export
def diagflat(x, k=0):
    """The square matrix with the flattened x on diagonal ``k``."""
    return diag(ravel(x), k)


@export
def trace(x, offset=0, axis1=0, axis2=1):
    """The sum of the diagonal ``offset`` over axes ``axis1`` and ``axis2``."""
    return api.sum(diagonal(x, offset, axis1, axis2), axis=-1)


@export
def append(x1, x2, axis=None):
    """x2 appended to x1 along ``axis`` (both flattened when None)."""
    if axis is None:
        return api.concatenate([ravel(x1), ravel(x2)], axis=0)
    return api.concatenate([x1, x2], axis=int(axis))


@export
def select(condlist, choicelist, default=0):
    """The element of the first choice whose condition holds, ``default`` where none
    does (numpy.select)."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: condlist has {len(condlist)} conditions but choicelist "
                         f"has {len(choicelist)} choices")
    if not condlist:
        raise ValueError("select: condlist and choicelist must not be empty")
    out = default
    for condition, choice in reversed(list(zip(condlist, choicelist))):
        out = api.where(api.cast(condition, "bool"), choice, out)
    return out


@export
def rot90(array, k=1, axes=(0, 1)):
    """``array`` rotated by 90 degrees ``k`` times in the plane of ``axes``, from the
    first axis toward the second."""
    x = api.convert_to_tensor(array)
    if x.ndim < 2:
        raise ValueError(f"rot90: array needs at least 2 dimensions, got shape {x.shape}")
    if len(axes) != 2:
        raise ValueError(f"rot90: axes must be two axes, got {axes}")
    a, b = (checked_axis(x, v, "rot90", "axes") for v in axes)
    if a == b:
        raise ValueError(f"rot90: the two axes must differ, got {axes}")
    k = int(k) % 4
    if k == 0:
        return x
    if k == 2:
        return flip(flip(x, a), b)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    if k == 1:
        return api.transpose(flip(x, b), order)
    return flip(api.transpose(x, order), b)


@export
def diff(a, n=1, axis=-1):
    """The n-th discrete difference along ``axis``: a[1:] - a[:-1], n times."""
    x = api.convert_to_tensor(a)
    axis = checked_axis(x, axis, "diff")
    if int(n) < 0:
        raise ValueError(f"diff: n must be non-negative, got {n}")
    for _ in range(int(n)):
        x = api.subtract(_take_range(x, axis, 1, None), _take_range(x, axis, 0, -1))
    return x


@export
def outer(x1, x2):
    """The outer product of the flattened x1 and x2."""
    return api.multiply(api.reshape(x1, (-1, 1)), api.reshape(x2, (1, -1)))


@export
def size(x):
    """The number of elements of x, as an int32 scalar (counted when run for unknown
    dimensions)."""
    x = api.convert_to_tensor(x)
    if builtins.all(d is not None for d in x.shape):
        count = 1
        for d in x.shape:
            count *= d
        return api.convert_to_tensor(count, "int32")
    return api.cast(api.sum(api.ones_like(api.cast(x, "float32"))), "int32")


@export
def count_nonzero(x, axis=None):
    """The number of non-zero elements over ``axis`` (all axes when None), as int32."""
    x = api.convert_to_tensor(x)
    nonzero = api.cast(api.not_equal(x, 0) if x.dtype != "bool" else x, "int32")
    if isinstance(axis, (tuple, list)) and not axis:
        return nonzero
    return api.sum(nonzero, axis=axis)


@export
def average(x, axis=None, weights=None):
    """The mean over ``axis``, weighted by ``weights`` (x's shape, or 1-D along axis)."""
    x = api.convert_to_tensor(x)
    if weights is None:
        return api.mean(x, axis=axis)
    w = api.convert_to_tensor(weights)
    dtype = result_type(x.dtype, w.dtype, float)
    x, w = api.cast(x, dtype), api.cast(w, dtype)
    if w.ndim == 1 and x.ndim > 1:
        if axis is None or isinstance(axis, (tuple, list)):
            raise ValueError(f"average: 1-D weights need one int axis, got axis={axis}")
        a = checked_axis(x, axis, "average")
        if w.shape[0] != x.shape[a]:
            raise ValueError(f"average: weights of shape {w.shape} do not match axis {a} "
                             f"of x of shape {x.shape}")
        view = [1] * x.ndim
        view[a] = -1
        w = api.reshape(w, view)
    elif w.ndim != x.ndim:
        raise ValueError(f"average: weights must be 1-D or of x's shape {x.shape}, got shape "
                         f"{w.shape}")
    total = api.sum(api.multiply(x, w), axis=axis)
    return api.divide(total, api.sum(api.multiply(api.ones_like(x), w), axis=axis))


@export
def ptp(x, axis=None, keepdims=False):
    """max - min over ``axis`` (all axes when None)."""
    return api.subtract(api.max(x, axis=axis, keepdims=keepdims),
                        api.min(x, axis=axis, keepdims=keepdims))


@export
def depth_to_space(x, block_size, data_format="channels_last"):
    """Rearrange (N, H, W, C) into (N, H * b, W * b, C / b^2): each pixel's channels
    become a b x b block (TensorFlow's depth_to_space)."""
    x, b, channels_last = _space_depth_input(x, block_size, data_format, "depth_to_space")
    n_dims = [("in", 0)]
    if channels_last:
        _, h, w, c = x.shape
        _divisible(c, b * b, "depth_to_space", x.shape)
        blocks = api.reshape_dims(x, n_dims + [h, w, b, b, c // (b * b)])
        return api.reshape_dims(api.transpose(blocks, (0, 1, 3, 2, 4, 5)),
                                n_dims + [h * b, w * b, c // (b * b)])
    _, c, h, w = x.shape
    _divisible(c, b * b, "depth_to_space", x.shape)
    blocks = api.reshape_dims(x, n_dims + [c // (b * b), b, b, h, w])
    return api.reshape_dims(api.transpose(blocks, (0, 1, 4, 2, 5, 3)),
                            n_dims + [c // (b * b), h * b, w * b])


@export
def space_to_depth(x, block_size, data_format="channels_last"):
    """Rearrange (N, H, W, C) into (N, H / b, W / b, C * b^2): each b x b block becomes
    one pixel's channels (TensorFlow's space_to_depth)."""
    x, b, channels_last = _space_depth_input(x, block_size, data_format, "space_to_depth")
    n_dims = [("in", 0)]
    if channels_last:
        _, h, w, c = x.shape
        _divisible(h, b, "space_to_depth", x.shape)
        _divisible(w, b, "space_to_depth", x.shape)
        blocks = api.reshape_dims(x, n_dims + [h // b, b, w // b, b, c])
        return api.reshape_dims(api.transpose(blocks, (0, 1, 3, 2, 4, 5)),
                                n_dims + [h // b, w // b, c * b * b])
    _, c, h, w = x.shape
    _divisible(h, b, "space_to_depth", x.shape)
    _divisible(w, b, "space_to_depth", x.shape)
    blocks = api.reshape_dims(x, n_dims + [c, h // b, b, w // b, b])
    return api.reshape_dims(api.transpose(blocks, (0, 1, 3, 5, 2, 4)),
                            n_dims + [c * b * b, h // b, w // b])


def _space_depth_input(x, block_size, data_format, where):
    x = api.convert_to_tensor(x)
    if x.ndim != 4 or any(d is None for d in x.shape[1:]):
        raise ValueError(f"{where}: x must be 4-D with known non-batch sizes, got shape "
                         f"{x.shape}")
    if not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"{where}: block_size must be a positive int, got {block_size!r}")
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return x, int(block_size), data_format == "channels_last"


def _divisible(size, by, where, shape):
    if size % by:
        raise ValueError(f"{where}: a dimension of size {size} is not divisible by {by} "
                         f"(x of shape {shape})")


def _static_indices(start_indices, rank, where):
    if isinstance(start_indices, (api.SymbolicTensor, api.Node, api.Variable)):
        raise TypeError(f"{where}: start_indices must be ints (positions fixed when the graph "
                        "is built), not a tensor")
    starts = [int(s) for s in np.asarray(start_indices).reshape(-1)]
    if len(starts) != rank:
        raise ValueError(f"{where}: start_indices needs {rank} entries, got {starts}")
    return starts


@export
def slice(inputs, start_indices, shape):
    """The block of ``inputs`` of ``shape`` starting at ``start_indices`` (ints)."""
    x = api.convert_to_tensor(inputs)
    starts = _static_indices(start_indices, x.ndim, "slice")
    sizes = [int(s) for s in shape]
    if len(sizes) != x.ndim:
        raise ValueError(f"slice: shape needs {x.ndim} entries, got {list(shape)}")
    for axis, (start, size, dim) in enumerate(zip(starts, sizes, x.shape)):
        if start < 0 or size < 0 or (dim is not None and start + size > dim):
            raise ValueError(f"slice: the block from {starts} of shape {sizes} leaves inputs "
                             f"of shape {x.shape} on axis {axis}")
    return api.getitem(x, tuple(builtins.slice(s, s + n) for s, n in zip(starts, sizes)))


@export
def slice_update(inputs, start_indices, updates):
    """``inputs`` with the block at ``start_indices`` (ints) replaced by ``updates``."""
    x, u = api.convert_to_tensor(inputs), api.convert_to_tensor(updates)
    starts = _static_indices(start_indices, x.ndim, "slice_update")
    if u.ndim != x.ndim or any(d is None for d in x.shape + u.shape) or any(
            s < 0 or s + n > d for s, n, d in zip(starts, u.shape, x.shape)):
        raise ValueError(f"slice_update: updates of shape {u.shape} at {starts} must fit in "
                         f"inputs of shape {x.shape} (known sizes, same rank)")
    pads = [(s, d - s - n) for s, n, d in zip(starts, u.shape, x.shape)]
    mask = np.zeros(x.shape, dtype=bool)
    mask[tuple(builtins.slice(s, s + n) for s, n in zip(starts, u.shape))] = True
    dtype = result_type(x.dtype, u.dtype)
    placed = api.pad(api.cast(u, dtype), pads)
    return api.where(mask, placed, api.cast(x, dtype))


@export
def inner(x1, x2):
    """The sum of products over the last axes of x1 and x2: shape x1.shape[:-1] +
    x2.shape[:-1] (a scalar factor multiplies)."""
    a, b = api.convert_to_tensor(x1), api.convert_to_tensor(x2)
    if a.ndim == 0 or b.ndim == 0:
        return api.multiply(a, b)
    rows = api.reshape(a, (-1, a.shape[-1]))
    cols = api.reshape(b, (-1, b.shape[-1]))
    product = api.matmul(rows, api.transpose(cols))
    return api.reshape(product, [-1 if d is None else d for d in a.shape[:-1] + b.shape[:-1]])


@export
def vdot(x1, x2):
    """The dot product of the flattened x1 and x2."""
    return api.sum(api.multiply(ravel(x1), ravel(x2)))


@export
def kron(x1, x2):
    """The Kronecker product: blocks x1[i] * x2 (shapes of known sizes)."""
    a, b = api.convert_to_tensor(x1), api.convert_to_tensor(x2)
    rank = builtins.max(a.ndim, b.ndim)
    a_shape, b_shape = (1,) * (rank - a.ndim) + a.shape, (1,) * (rank - b.ndim) + b.shape
    if any(d is None for d in a_shape + b_shape):
        raise ValueError(f"kron: the shapes must be known, got {a.shape} and {b.shape}")
    spread_a = api.reshape(a, [d for n in a_shape for d in (n, 1)])
    spread_b = api.reshape(b, [d for n in b_shape for d in (1, n)])
    return api.reshape(api.multiply(spread_a, spread_b),
                       [m * n for m, n in zip(a_shape, b_shape)])


@export
def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 3-vectors along ``axis`` (axisa / axisb / axisc: the vectors'
    axis in x1, x2 and the result, when axis is None)."""
    a, b = api.convert_to_tensor(x1), api.convert_to_tensor(x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, checked_axis(a, axisa, "cross", "axisa"), -1)
    b = moveaxis(b, checked_axis(b, axisb, "cross", "axisb"), -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(f"cross: the vectors must have 3 components, got {a.shape[-1]} and "
                         f"{b.shape[-1]}")
    (a0, a1, a2), (b0, b1, b2) = unstack(a, axis=-1), unstack(b, axis=-1)
    out = api.stack([api.subtract(api.multiply(a1, b2), api.multiply(a2, b1)),
                     api.subtract(api.multiply(a2, b0), api.multiply(a0, b2)),
                     api.subtract(api.multiply(a0, b1), api.multiply(a1, b0))], axis=-1)
    return moveaxis(out, -1, checked_axis(out, axisc, "cross", "axisc"))


@export
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The integral of y over ``axis`` by the trapezoidal rule, at sample points x (or
    spacing dx)."""
    y = api.convert_to_tensor(y)
    y = api.cast(y, result_type(y.dtype, float))
    axis = checked_axis(y, axis, "trapezoid")
    middles = api.multiply(api.add(_take_range(y, axis, 1, None),
                                   _take_range(y, axis, 0, -1)), 0.5)
    if x is None:
        return api.multiply(api.sum(middles, axis=axis), float(dx))
    x = api.cast(x, y.dtype)
    if x.ndim == 1:   # sample points along axis, shared by every row
        view = [1] * y.ndim
        view[axis] = -1
        x = api.reshape(x, view)
    return api.sum(api.multiply(middles, diff(x, 1, axis)), axis=axis)


@export
def extract_sequences(x, sequence_length, sequence_stride):
    """The frames of ``sequence_length`` values every ``sequence_stride`` along x's last
    axis, on a new second-last axis: (..., frames, sequence_length)."""
    x = api.convert_to_tensor(x)
    if x.ndim < 1:
        raise ValueError("extract_sequences: x must have at least one dimension")
    n = _known(x, x.ndim - 1, "extract_sequences")
    length, stride = int(sequence_length), int(sequence_stride)
    if length < 1 or stride < 1 or length > n:
        raise ValueError(f"extract_sequences: sequence_length ({length}) and sequence_stride "
                         f"({stride}) must be positive, the length at most the axis size {n}")
    frames = [_take_range(x, x.ndim - 1, start, start + length)
              for start in range(0, n - length + 1, stride)]
    return api.stack(frames, axis=-2)
