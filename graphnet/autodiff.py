"""Reverse-mode automatic differentiation as a graph transformation.

``gradients(loss, variables)`` walks the op graph under ``loss`` backwards and
asks each op for the gradients of its inputs (``Op.grad(node, grad_output)``,
written beside the op's forward rule); the result is more graph, compiled like
any other. Gradients of a node read by several consumers are summed (ADD).

Shapes may hold None (the batch) while the graph is defined, so gradient graphs
are built symbolically: reshapes copy dims with ``("in", i)`` entries, sums over
broadcast axes are REDUCE_SUM, and sizes that are unknown here are computed at
run time. Nothing in a gradient graph bakes in a size that depends on a None.

The node builders below are what the ops' ``grad`` rules build with.
"""
import numpy as np

from .graph.graph import topological_order
from .graph.node import Node
from .graph.tensor import SymbolicTensor
from .graph.variable import Variable
from .ops.dtypes import FLOAT_TYPES
from .ops.source import ConstantValue

__all__ = ["gradients", "backprop", "unbroadcast"]


# ---- node builders for grad rules -------------------------------------------------

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


# ---- reverse mode -----------------------------------------------------------------

def _compatible(a, b):
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _accumulate(parts):
    total = parts[0]
    for p in parts[1:]:
        total = add(total, p)
    return total


def backprop(y, grad_y, is_target):
    """Reverse mode from node ``y`` seeded with ``grad_y``.

    Only nodes on a path from a target (``is_target(node)``) to ``y`` are
    differentiated. Returns {id(node): gradient node} for every node reached."""
    order = topological_order([y])
    relevant = set()
    for n in order:
        if is_target(n) or any(id(x) in relevant for x in n.inputs):
            relevant.add(id(n))
    pending = {id(y): [grad_y]} if id(y) in relevant else {}
    result = {}
    for n in reversed(order):
        parts = pending.pop(id(n), None)
        if not parts:
            continue
        g = _accumulate(parts)
        result[id(n)] = g
        wanted = [id(x) in relevant and is_float(x) for x in n.inputs]
        if not any(wanted):
            continue
        in_grads = n.op.grad(n, g)
        if len(in_grads) != len(n.inputs):
            raise RuntimeError(f"{n.op.name}.grad returned {len(in_grads)} gradients for "
                               f"{len(n.inputs)} inputs")
        for i, (x, gx, want) in enumerate(zip(n.inputs, in_grads, wanted)):
            if gx is None or not want:
                continue
            if not _compatible(gx.shape, x.shape) or gx.dtype != x.dtype:
                raise RuntimeError(f"{n.op.name}.grad: gradient of input {i} is {gx.shape} "
                                   f"{gx.dtype}, the input is {x.shape} {x.dtype}")
            pending.setdefault(id(x), []).append(gx)
    return result


def _target_node(t):
    if isinstance(t, SymbolicTensor):
        return t.node
    if isinstance(t, Node):
        return t
    raise TypeError(f"gradients: variables must be graphnet Variables or symbolic tensors, "
                    f"got {type(t).__name__}")


def _zeros_for(node):
    if is_float(node):
        return zeros_like(node)
    return cast(zeros_like(cast(node, "float32")), node.dtype)


def gradients(loss, variables, unconnected_gradients="none"):
    """Symbolic gradients of ``loss`` with respect to each of ``variables`` (like Keras's
    ``K.gradients`` / ``tf.gradients``).

    Args:
        loss: a float symbolic tensor; a non-scalar loss is summed first.
        variables: a list of graphnet Variables and/or symbolic tensors.
        unconnected_gradients: "none" (default) gives None for a variable the loss does
            not depend on (or only through integer or otherwise non-differentiable
            paths); "zero" gives zeros of the variable's shape instead.

    Returns:
        A list of symbolic tensors (or None), one per variable.
    """
    mode = str(getattr(unconnected_gradients, "value", unconnected_gradients)).lower()
    if mode not in ("none", "zero"):
        raise ValueError(f"gradients: unconnected_gradients must be 'none' or 'zero', got "
                         f"{unconnected_gradients!r}")
    if not isinstance(variables, (list, tuple)):
        variables = [variables]
    y = _target_node(loss)
    if not is_float(y):
        raise TypeError(f"gradients: the loss must be floating, got {y.dtype}")
    if y.ndim:
        y = reduce_sum(y, None, keepdims=False)
    var_ids = {id(v) for v in variables if isinstance(v, Variable)}
    node_ids = {id(_target_node(v)) for v in variables if not isinstance(v, Variable)}

    def is_target(n):
        if n.op.name == "VARIABLE" and id(n.attrs["var"]) in var_ids:
            return True
        return id(n) in node_ids

    grads = backprop(y, full_like(y, 1.0), is_target)
    by_var = {}
    for n in topological_order([y]):
        if n.op.name == "VARIABLE" and id(n) in grads:
            by_var.setdefault(id(n.attrs["var"]), []).append(grads[id(n)])
    out = []
    for v in variables:
        if isinstance(v, Variable):
            parts = by_var.get(id(v))
            g = _accumulate(parts) if parts else None
            like = Node("VARIABLE", (), {"var": v})
        else:
            like = _target_node(v)
            g = grads.get(id(like))
        if g is None and mode == "zero":
            g = _zeros_for(like)
        out.append(None if g is None else SymbolicTensor(g))
    return out
