"""Node builders: the small functions the ops' gradient rules (and autodiff's driver)
build graph nodes with, e.g. ``mul(g, affine(y, 2.0))``.

They name ops (ADD, WHERE, REDUCE_SUM, ...), so they live with the ops rather than in the
op-agnostic graph package, and they import only the graph's Node and the ops' lowest
modules, so every op module imports them at its top without an import cycle.
"""
import numpy as np

from ..graph.node import Node
from .dtypes import FLOAT_TYPES
from .source import ConstantValue


def is_float(node):
    return node.dtype in FLOAT_TYPES


def node(op, *inputs, **attrs):
    return Node(op, inputs, attrs)


def const(value, dtype):
    """A CONSTANT node holding ``value`` as ``dtype``."""
    return Node("CONSTANT", (), {"value": ConstantValue(np.asarray(value, dtype=dtype))})


def _pair(a, b):
    """Lift a Python number to a scalar constant of the other operand's dtype."""
    if not isinstance(a, Node):
        a = const(a, b.dtype)
    if not isinstance(b, Node):
        b = const(b, a.dtype)
    return a, b


def binary(op, a, b):
    return Node(op, _pair(a, b))


def add(a, b):
    return binary("ADD", a, b)


def sub(a, b):
    return binary("SUB", a, b)


def mul(a, b):
    return binary("MUL", a, b)


def div(a, b):
    return binary("DIV", a, b)


def unary(op, x, **attrs):
    return Node(op, (x,), attrs)


def neg(x):
    return unary("NEG", x)


def square(x):
    return unary("SQUARE", x)


def affine(x, alpha, beta=0.0):
    """alpha * x + beta."""
    return unary("AFFINE", x, alpha=float(alpha), beta=float(beta))


def where(cond, a, b):
    """WHERE(cond, a, b); a number in a or b becomes a scalar of the other's dtype."""
    a, b = _pair(a, b)
    return Node("WHERE", (cond, a, b))


def cast(x, dtype):
    return x if x.dtype == dtype else Node("CAST", (x,), {"dtype": dtype})


def full_like(x, value):
    return Node("FULL_LIKE", (x,), {"value": float(value)})


def zeros_like(x):
    return full_like(x, 0.0)


def reduce(op, x, axes, keepdims):
    return Node(op, (x,), {"axes": None if axes is None else tuple(axes),
                           "keepdims": bool(keepdims)})


def reduce_sum(x, axes, keepdims):
    return reduce("REDUCE_SUM", x, axes, keepdims)


def reshape(x, spec):
    return Node("RESHAPE", (x,), {"shape": tuple(spec)})


def unbroadcast(g, shape):
    """The gradient of numpy broadcasting from ``shape`` to ``g.shape``: sum ``g`` over
    the leading axes broadcasting added and the size-1 axes it stretched, then drop the
    leading axes (REDUCE_SUM keepdims + RESHAPE with ("in", i) entries).

    A dim that is None in ``shape`` is taken to equal g's dim there (the batch)."""
    shape = tuple(shape)
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"unbroadcast: gradient of shape {g.shape} cannot reduce to {shape}")
    axes = list(range(lead))
    axes += [lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1]
    if not axes:
        return g
    out = reduce_sum(g, axes, keepdims=True)
    if lead:
        out = reshape(out, [("in", lead + i) for i in range(len(shape))])
    return out


def keepdims_form(g, rank, axes):
    """``g``, the gradient of a reduction over ``axes`` without keepdims, reshaped to the
    keepdims form (1 at each reduced axis) so it broadcasts against the input."""
    spec, j = [], 0
    for i in range(rank):
        if i in axes:
            spec.append(1)
        else:
            spec.append(("in", j))
            j += 1
    return reshape(g, spec)


def broadcast_like(g, x):
    """``g`` (broadcastable to x's shape, same rank) materialized at x's shape.

    BROADCAST_TO where every stretched dim is known; where x's dim is None (a size
    only known at run time) elementwise broadcasting against zeros resolves it."""
    if g.shape == x.shape:
        return g
    target = []
    for gd, xd in zip(g.shape, x.shape):
        if gd == xd:
            target.append(-1)
        elif xd is None:
            return add(zeros_like(x), g)
        else:
            target.append(xd)
    return Node("BROADCAST_TO", (g,), {"shape": tuple(target)})


def count_of(x, axes):
    """The number of elements a reduction of ``x`` over ``axes`` combines: a Python
    int when the sizes are known, else a scalar node computed at run time."""
    dims = [x.shape[a] for a in axes]
    if None not in dims:
        return int(np.prod(dims, dtype=np.int64))
    kept = [i for i in range(x.ndim) if i not in axes]
    probe = x
    if kept:  # one element of each kept axis is enough to count the reduced ones
        probe = Node("SLICE", (x,), {"begin": tuple(0 if i in kept else None
                                                    for i in range(x.ndim)),
                                     "end": tuple(1 if i in kept else None
                                                  for i in range(x.ndim)),
                                     "step": (1,) * x.ndim})
    return reduce_sum(full_like(probe, 1.0), None, keepdims=False)
