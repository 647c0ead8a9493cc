"""Collective ops: values summed over the processes of a data-parallel run.

ALLREDUCE_SUM(x) {wait}: the sum of x over the processes (gn.distribution's ranks), the
same on every process; in one process it is x. ``wait`` False starts the sum and lets
the plan go on (a training step's gradient bucket, summed while the backward pass runs):
the value is then complete only once the host waited for it after the run, so only a
plan output that no later step reads may be such a sum (DistributedStep's buckets).
The C kernel (csrc/collective.c) and the NumPy reference both sum through the one
transport ``set_allreduce`` installs. Every process must run the same plans in the same
order (each ALLREDUCE_SUM step waits for the others), which data-parallel training
steps do. Its gradient is the sum of the
processes' gradients: y = sum_r x_r, so dL/dx_r = sum_r' dL_r'/dy.
"""
import numpy as np

from ..graph.node import Node
from ..graph.tensor import SymbolicTensor
from .registry import COLLECTIVE, Op, OpError, register

_transport = [None]   # fn(array, wait): sums a contiguous array over the processes in place


def set_allreduce(fn):
    """Sum through ``fn(array, wait)`` (in place, over the processes; with ``wait`` False
    it may return before the sum is done) from now on, in the C kernel and the NumPy
    reference alike; None: this process alone."""
    _transport[0] = fn
    from ..runtime.collective import register_allreduce   # late: needs the C extension
    register_allreduce(fn)


def reference_sum(x):
    """The NumPy reference of ALLREDUCE_SUM."""
    y = np.array(x, order="C")
    if _transport[0] is not None and y.size:
        _transport[0](y, True)   # the reference waits: its value is read at once
    return y


@register
class AllreduceSumOp(Op):
    name, group, arity = "ALLREDUCE_SUM", COLLECTIVE, 1

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        if np.dtype(dtypes[0]).kind != "f":
            raise OpError(f"ALLREDUCE_SUM sums floats, got {dtypes[0]}")
        return shapes[0], dtypes[0]

    def perform(self, inputs, attrs):
        return reference_sum(inputs[0])

    def grad(self, node, grad_output):
        return [Node("ALLREDUCE_SUM", [grad_output], {"wait": True})]

    def lower(self, node, ctx):
        if node.dtype != "float32":
            raise OpError(f"ALLREDUCE_SUM's kernel sums float32, got {node.dtype}")
        ctx.emit("GN_K_ALLREDUCE_SUM", n=ctx.numel(node), x=ctx.inp(node.inputs[0]),
                 y=ctx.out(node, inplace=(node.inputs[0],)), wait=int(node.attrs["wait"]))


def allreduce_sum(x, wait=True):
    """The sum of the float tensor ``x`` over the processes of a data-parallel run (``x``
    itself in one process); ``wait=False``: see the module's docstring."""
    if not isinstance(x, SymbolicTensor):
        raise TypeError(f"allreduce_sum: expected a symbolic tensor, got {type(x).__name__}")
    if not isinstance(wait, bool):
        raise TypeError(f"allreduce_sum: wait must be True or False, got {wait!r}")
    return SymbolicTensor(Node("ALLREDUCE_SUM", [x.node], {"wait": wait}))
