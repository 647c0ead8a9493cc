"""``gn.ops`` functions that create arrays (keras.ops's numpy creation functions): zeros,
ones, full, empty, eye, identity, tri, linspace, logspace, meshgrid, and the triangle
masks tril / triu.

Arrays whose shape and values follow from settings alone become graph constants; full
with a tensor fill value, tril, triu and meshgrid build ops over their tensors, so they
train through. The default dtype is floatx, as Keras's.
"""
import numpy as np

from ..config import floatx
from ..graph.tensor import SymbolicTensor
from ..graph.variable import Variable
from . import api
from .dims import size_spec
from .promotion import result_type

__all__ = []


def export(fn):
    __all__.append(fn.__name__)
    return fn


def _filled(shape, value, dtype, where):
    """An array of ``shape`` filled with ``value``: a constant for a shape of ints; for
    sizes known only when the model runs (Dims from gn.ops.shape(x)), ops that take them
    from x, so the array follows x's batch."""
    spec, source = size_spec(shape, where)
    if any(d < 0 for d in spec if isinstance(d, int)):
        raise ValueError(f"{where}: shape must be an int or a sequence of non-negative ints, "
                         f"got {shape!r}")
    if source is None:
        return _constant(np.full(spec, value), dtype)
    axes = [d[1] for d in spec if isinstance(d, tuple)]
    if len(set(axes)) != len(axes):
        raise ValueError(f"{where}: shape {shape!r} takes the size of one axis twice")
    index = tuple(slice(None) if a in axes else 0 for a in range(source.ndim))
    picked = api.getitem(source, index)           # the axes the shape takes, in x's order
    picked = api.transpose(picked, [sorted(axes).index(a) for a in axes])
    view = api.reshape_dims(picked, [("in", axes.index(d[1])) if isinstance(d, tuple) else 1
                                     for d in spec])
    filled = api.full_like(api.cast(view, "float32"), float(value))
    target = [-1 if isinstance(d, tuple) else d for d in spec]
    return api.cast(api.broadcast_to(filled, target), dtype)


def _dtype(dtype):
    return floatx() if dtype is None else str(np.dtype(dtype))


def _constant(array, dtype):
    return api.convert_to_tensor(np.asarray(array).astype(dtype), dtype)


@export
def zeros(shape, dtype=None):
    """An array of ``shape`` (an int or a tuple of ints and gn.ops.shape sizes) filled
    with zeros."""
    return _filled(shape, 0, _dtype(dtype), "zeros")


@export
def ones(shape, dtype=None):
    """An array of ``shape`` (an int or a tuple of ints and gn.ops.shape sizes) filled
    with ones."""
    return _filled(shape, 1, _dtype(dtype), "ones")


@export
def empty(shape, dtype=None):
    """An array of ``shape``; its values are zeros (graphnet never hands out stale memory)."""
    return _filled(shape, 0, _dtype(dtype), "empty")


@export
def empty_like(x, dtype=None):
    """An array of x's shape and dtype (or ``dtype``); its values are zeros."""
    x = api.convert_to_tensor(x)
    return api.cast(api.zeros_like(api.cast(x, "float32")), x.dtype if dtype is None else dtype)


@export
def full(shape, fill_value, dtype=None):
    """An array of ``shape`` filled with ``fill_value`` (a number, or an array broadcast to
    the shape's trailing dims). With ``dtype`` None a number fills floatx (as Keras on
    torch) and an array keeps its dtype."""
    if isinstance(fill_value, (int, float, bool, np.generic)):
        return _filled(shape, fill_value, _dtype(dtype), "full")
    spec, source = size_spec(shape, "full")
    if source is not None:
        raise ValueError("full: a tensor fill_value takes a shape of ints, got "
                         f"{shape!r}")
    if any(d < 0 for d in spec):
        raise ValueError(f"full: shape must be an int or a sequence of non-negative ints, got "
                         f"{shape!r}")
    value = api.convert_to_tensor(fill_value)
    return api.broadcast_to(value if dtype is None else api.cast(value, dtype), spec)


@export
def eye(N, M=None, k=0, dtype=None):
    """The N x M matrix with ones on diagonal ``k`` (above the main one for k > 0)."""
    return _constant(np.eye(int(N), None if M is None else int(M), int(k or 0)), _dtype(dtype))


@export
def identity(n, dtype=None):
    """The n x n identity matrix."""
    return eye(n, dtype=dtype)


@export
def tri(N, M=None, k=0, dtype=None):
    """The N x M matrix with ones at and below diagonal ``k``, zeros above."""
    return _constant(np.tri(int(N), int(M) if M else None, int(k)), _dtype(dtype))


def _triangle(x, k, lower, where):
    x = api.convert_to_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{where}: x needs at least 2 dimensions, got shape {x.shape}")
    n, m = x.shape[-2:]
    if n is None or m is None:
        raise ValueError(f"{where}: the last two dimensions of x must be known, got shape "
                         f"{x.shape}")
    keep = np.tri(n, m, int(k), dtype=bool)
    mask = keep if lower else ~np.tri(n, m, int(k) - 1, dtype=bool)
    return api.where(mask, x, api.zeros_like(x) if x.dtype != "bool" else False)


@export
def tril(x, k=0):
    """x with the elements above diagonal ``k`` of its last two axes set to zero."""
    return _triangle(x, k, True, "tril")


@export
def triu(x, k=0):
    """x with the elements below diagonal ``k`` of its last two axes set to zero."""
    return _triangle(x, k, False, "triu")


def _range_dtype(start, stop, dtype):
    if dtype is not None:
        return str(np.dtype(dtype))
    return result_type(api._input_dtype(start), api._input_dtype(stop), float)


def _spaced(start, stop, num, endpoint, axis, where):
    """(steps along a new ``axis``, the spacing): numpy.linspace over settings."""
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, (SymbolicTensor, Variable)):
            raise TypeError(f"{where}: {name} must be a number or an array, not a tensor "
                            f"(got {value!r})")
    num = int(num)
    if num < 0:
        raise ValueError(f"{where}: num must be non-negative, got {num}")
    values, step = np.linspace(np.asarray(start, "float64"), np.asarray(stop, "float64"),
                               num, endpoint=endpoint, retstep=True, axis=axis)
    return values, step


@export
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from start to stop (stop left out when not
    ``endpoint``); with ``retstep`` the pair (values, spacing)."""
    dtype = _range_dtype(start, stop, dtype)
    values, step = _spaced(start, stop, num, endpoint, axis, "linspace")
    out = _constant(values, dtype)
    return (out, _constant(step, dtype)) if retstep else out


@export
def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """base ** linspace(start, stop, num): ``num`` values evenly spaced on a log scale."""
    dtype = _range_dtype(start, stop, dtype)
    values, _ = _spaced(start, stop, num, endpoint, axis, "logspace")
    return _constant(np.power(float(base), values), dtype)


@export
def meshgrid(*x, indexing="xy"):
    """Coordinate arrays from 1-D arrays: with ``indexing`` "xy" the first two axes are
    swapped (matrix "ij" indexing otherwise), as numpy.meshgrid."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    vectors = [api.reshape(api.convert_to_tensor(v), (-1,)) for v in x]
    sizes = [v.shape[0] for v in vectors]
    if indexing == "xy" and len(vectors) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    grids = []
    for i, v in enumerate(vectors):
        axis = {0: 1, 1: 0}.get(i, i) if indexing == "xy" and len(vectors) >= 2 else i
        view = [1] * len(vectors)
        view[axis] = -1
        grids.append(api.broadcast_to(api.reshape(v, view), sizes))
    return grids


@export
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``num`` values from start to stop evenly spaced on a log scale (numpy.geomspace)."""
    dtype = _range_dtype(start, stop, dtype)
    _spaced(start, stop, num, endpoint, axis, "geomspace")   # (checks the settings)
    values = np.geomspace(np.asarray(start, "float64"), np.asarray(stop, "float64"),
                          int(num), endpoint=endpoint, axis=axis)
    return _constant(values, dtype)


def _window(kind, x, *args):
    if not isinstance(x, (int, np.integer)) or x < 0:
        raise ValueError(f"{kind}: x (the window length) must be a non-negative int, got "
                         f"{x!r}")
    return _constant(getattr(np, kind)(int(x), *args), floatx())


@export
def bartlett(x):
    """The Bartlett (triangular) window of length x."""
    return _window("bartlett", x)


@export
def blackman(x):
    """The Blackman window of length x."""
    return _window("blackman", x)


@export
def hamming(x):
    """The Hamming window of length x."""
    return _window("hamming", x)


@export
def hanning(x):
    """The Hann window of length x."""
    return _window("hanning", x)


@export
def kaiser(x, beta):
    """The Kaiser window of length x with shape parameter ``beta``."""
    return _window("kaiser", x, float(beta))


@export
def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of the 1-D x: columns x ** (N - 1), ..., x ** 0 (the other
    way round with ``increasing``)."""
    x = api.convert_to_tensor(x)
    if x.ndim != 1:
        raise ValueError(f"vander: x must be 1-D, got shape {x.shape}")
    n = x.shape[0] if N is None else int(N)
    if n is None or n < 0:
        raise ValueError(f"vander: N must be a non-negative int (or x's known length), got "
                         f"{N!r}")
    powers = np.arange(n) if increasing else np.arange(n)[::-1]
    column = api.expand_dims(x, -1)
    return api.power(column, np.ascontiguousarray(powers).astype(x.dtype))
