"""Array functions keras.ops has that attention and sequence models use: ``arange``,
``split``, ``cumsum``, ``top_k`` and ``stop_gradient`` (its op, STOP_GRADIENT, is the one
primitive here: an identity the autodiff does not pass through). The rest are built
from primitives, so their gradients and exports are the primitives'."""
import numpy as np

from . import api
from .registry import LAYOUT, Op, register

__all__ = ["arange", "split", "cumsum", "top_k", "stop_gradient"]


@register
class StopGradient(Op):
    """STOP_GRADIENT: its input unchanged; no gradient flows back through it."""
    name, group, arity = "STOP_GRADIENT", LAYOUT, 1

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        return tuple(shapes[0]), dtypes[0]

    def perform(self, inputs, attrs):
        return inputs[0]

    def grad(self, node, grad_output):
        return [None]

    def lower(self, node, ctx):
        ctx.view(node, node.inputs[0])


def stop_gradient(variable):
    """``variable`` as it is, treated as a constant by gradients."""
    return api._apply("STOP_GRADIENT", variable)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in [start, stop) (``keras.ops.arange``): int32 for integer
    arguments, floatx when any is a float, unless ``dtype`` says."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("arange: step must not be 0")
    if dtype is None:
        floats = any(isinstance(v, float) or np.asarray(v).dtype.kind == "f"
                     for v in (start, stop, step))
        dtype = api.floatx() if floats else "int32"
    return api.convert_to_tensor(np.arange(start, stop, step).astype(dtype))


def _known_axis(what, x, axis):
    """(axis made non-negative, its size), refusing an axis out of range or of unknown size."""
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for shape {x.shape}")
    axis %= x.ndim
    if x.shape[axis] is None:
        raise ValueError(f"{what}: axis {axis} of shape {x.shape} must be known")
    return axis, x.shape[axis]


def split(x, indices_or_sections, axis=0):
    """numpy.split: ``indices_or_sections`` equal parts, or the cut points along ``axis``."""
    x = api.convert_to_tensor(x)
    axis, size = _known_axis("split", x, axis)
    if isinstance(indices_or_sections, (int, np.integer)):
        parts = int(indices_or_sections)
        if parts <= 0 or size % parts:
            raise ValueError(f"split: axis {axis} of size {size} does not split into "
                             f"{indices_or_sections} equal parts")
        cuts = [size // parts * i for i in range(1, parts)]
    else:
        cuts = [int(c) for c in indices_or_sections]
    bounds = [0] + [min(max(c if c >= 0 else c + size, 0), size) for c in cuts] + [size]
    lead = (slice(None),) * axis
    return [api.getitem(x, lead + (slice(lo, max(lo, hi)),))
            for lo, hi in zip(bounds[:-1], bounds[1:])]


def cumsum(x, axis=None, dtype=None):
    """Cumulative sum along ``axis`` (flattened when None), as one product with a
    triangular matrix of ones: the axis must be known, the values floating point."""
    x = api.convert_to_tensor(x)
    if dtype is not None:
        x = api.cast(x, dtype)
    if x.dtype not in ("float32", "float64"):
        raise ValueError(f"cumsum: graphnet sums floating-point values (a product with the "
                         f"C GEMM); got {x.dtype}: cast it first")
    if axis is None:
        x, axis = api.reshape(x, (-1,)), 0
    axis, n = _known_axis("cumsum", x, axis)
    upper = np.triu(np.ones((n, n), dtype=x.dtype))    # out[j] = sum over i <= j of x[i]
    moved = api.transpose(x, [a for a in range(x.ndim) if a != axis] + [axis])
    summed = api.matmul(moved, upper)
    back = list(range(x.ndim - 1))
    back.insert(axis, x.ndim - 1)
    return api.transpose(summed, back)


def top_k(x, k, sorted=True):
    """(values, int32 indices) of the ``k`` largest entries along the last axis, largest
    first (so also a valid answer for sorted=False); ties go to the lower index. Built of
    k rounds of argmax, so meant for small k."""
    x = api.convert_to_tensor(x)
    n = x.shape[-1] if x.ndim else None
    if not isinstance(k, (int, np.integer)) or n is None or not 0 < k <= n:
        raise ValueError(f"top_k: k must be an int in [1, {n}] for input shape {x.shape}, "
                         f"got k={k!r}")
    values, indices, remaining = [], [], x
    for _ in range(int(k)):
        idx = api.argmax(remaining, axis=-1)
        chosen = api.one_hot(idx, n, dtype="bool")
        values.append(api.sum(api.where(chosen, x, api.zeros_like(x)), axis=-1))
        indices.append(api.cast(idx, "int32"))
        remaining = api.where(chosen, -np.inf, remaining)
    return api.stack(values, axis=-1), api.stack(indices, axis=-1)
