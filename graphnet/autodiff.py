"""Reverse-mode automatic differentiation as a graph transformation.

``gradients(loss, variables)`` walks the op graph under ``loss`` backwards and
asks each op for the gradients of its inputs (``Op.grad(node, grad_output)``,
written beside the op's forward rule; a fused op is differentiated through its
expansion into primitives); the result is more graph, compiled like
any other. Gradients of a node read by several consumers are summed (ADD).

Shapes may hold None (the batch) while the graph is defined, so gradient graphs
are built symbolically: reshapes copy dims with ``("in", i)`` entries, sums over
broadcast axes are REDUCE_SUM, and sizes that are unknown here are computed at
run time. Nothing in a gradient graph bakes in a size that depends on a None.

This module is the driver only; the node builders that grad rules build with are
graphnet/ops/builders.py.
"""
from .graph.graph import topological_order
from .graph.node import Node
from .graph.tensor import SymbolicTensor
from .graph.variable import Variable
from .ops.builders import add, cast, full_like, is_float, reduce_sum, zeros_like

__all__ = ["gradients", "backprop"]


def _compatible(a, b):
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _accumulate(parts):
    total = parts[0]
    for p in parts[1:]:
        total = add(total, p)
    return total


def _input_gradients(n, g):
    """The gradients of ``n``'s inputs: its op's grad rule, or for a fused op (one defined
    by the primitive subgraph it stands for, ``op.expand``) reverse mode through that
    subgraph, so a fused op's gradient cannot drift from its primitives' rules; unless
    the fused op has a rule of its own (``own_gradient``: fused kernels for the backward
    too, themselves fused ops whose expansions are the subgraph's gradients)."""
    expand = getattr(n.op, "expand", None)
    if expand is None or getattr(n.op, "own_gradient", False):
        return n.op.grad(n, g)
    inputs = list(n.inputs)
    grads = backprop(expand(n, inputs), g, lambda m: any(m is x for x in inputs))
    return [grads.get(id(x)) for x in inputs]


def backprop(y, grad_y, is_target, leaves=frozenset()):
    """Reverse mode from node ``y`` seeded with ``grad_y``.

    Only nodes on a path from a target (``is_target(node)``) to ``y`` are
    differentiated; no gradient flows past a node whose id is in ``leaves``. Returns
    {id(node): gradient node} for every node reached."""
    order = topological_order([y])
    relevant = set()
    for n in order:
        if is_target(n) or (id(n) not in leaves and any(id(x) in relevant
                                                        for x in n.inputs)):
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
        in_grads = _input_gradients(n, g)
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


def _assigned_values():
    """Inside a traced step, the nodes of the values assigned to variables so far: a
    later read of such a variable is a leaf, as a variable's value is when the step runs
    eagerly (no gradient flows back through an optimizer's update into the step that
    computed it; see graph/trace.py)."""
    from .graph.trace import current_trace
    trace = current_trace()
    if trace is None:
        return frozenset()
    return frozenset(id(t.node) for t in trace.assigned_values
                     if isinstance(t, SymbolicTensor) and t.node.inputs)


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

    grads = backprop(y, full_like(y, 1.0), is_target, _assigned_values())
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
