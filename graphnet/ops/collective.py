"""Collective ops: values summed over the processes of a data-parallel run.

ALLREDUCE_SUM(x): the sum of x over the processes (gn.distribution's ranks), the same
on every process; in one process it is x. The C kernel (csrc/collective.c) and the
NumPy reference both sum through the one transport ``set_allreduce`` installs. Every
process must run the same plans in the same order (each ALLREDUCE_SUM step waits for
the others), which data-parallel training steps do. Its gradient is the sum of the
processes' gradients: y = sum_r x_r, so dL/dx_r = sum_r' dL_r'/dy.
"""
import numpy as np

from ..graph.node import Node
from ..graph.tensor import SymbolicTensor
from .registry import COLLECTIVE, Op, OpError, register

_transport = [None]   # fn(array): sums a contiguous array over the processes in place


def set_allreduce(fn):
    """Sum through ``fn(array)`` (in place, over the processes) from now on, in the C
    kernel and the NumPy reference alike; None: this process alone."""
    _transport[0] = fn
    from ..runtime.collective import register_allreduce   # late: needs the C extension
    register_allreduce(fn)


def reference_sum(x):
    """The NumPy reference of ALLREDUCE_SUM."""
    y = np.array(x, order="C")
    if _transport[0] is not None and y.size:
        _transport[0](y)
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
        return [Node("ALLREDUCE_SUM", [grad_output])]

    def lower(self, node, ctx):
        if node.dtype != "float32":
            raise OpError(f"ALLREDUCE_SUM's kernel sums float32, got {node.dtype}")
        ctx.emit("GN_K_ALLREDUCE_SUM", n=ctx.numel(node), x=ctx.inp(node.inputs[0]),
                 y=ctx.out(node))


def allreduce_sum(x):
    """The sum of the float tensor ``x`` over the processes of a data-parallel run (``x``
    itself in one process)."""
    if not isinstance(x, SymbolicTensor):
        raise TypeError(f"allreduce_sum: expected a symbolic tensor, got {type(x).__name__}")
    return SymbolicTensor(Node("ALLREDUCE_SUM", [x.node]))
