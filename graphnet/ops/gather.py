"""TAKE (rows of a table by index, as ``keras.ops.take``) and its gradient TAKE_GRAD.

Indices are int32 or int64; a negative index counts from the end of the axis. An index
outside [-n, n) raises IndexError in the NumPy reference and stops a compiled run with
an error (the C kernels never read or write out of bounds; csrc/gather.c)."""
import math

import numpy as np

from ..graph.node import Node
from .dtypes import C_DTYPE, FLOAT_TYPES, normalize_axis
from .elementwise import require_f32
from .registry import LAYOUT, Op, OpError, register

INDEX_DTYPES = ("int32", "int64")



def _check_indices(op_name, dtype):
    if dtype not in INDEX_DTYPES:
        raise OpError(f"{op_name}: indices must be int32 or int64, got {dtype}")


def _view(table_shape, axis, indices_size):
    """(outer, n, inner, m) of the kernels' views."""
    return (math.prod(table_shape[:axis]), table_shape[axis], math.prod(table_shape[axis + 1:]),
            indices_size)


@register
class Take(Op):
    """TAKE(x, indices) {axis}: x's slices at ``indices`` along ``axis``; the output's shape
    is x.shape[:axis] + indices.shape + x.shape[axis + 1:]."""
    name, group, arity = "TAKE", LAYOUT, 2

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        x, idx = shapes
        _check_indices(self.name, dtypes[1])
        if not x:
            raise OpError(f"{self.name}: cannot take from a scalar")
        axis = normalize_axis(self.name, attrs["axis"], len(x))
        return tuple(x[:axis]) + tuple(idx) + tuple(x[axis + 1:]), dtypes[0]

    def perform(self, inputs, attrs):
        x, idx = inputs
        return np.take(x, idx, axis=attrs["axis"])  # IndexError outside [-n, n)

    def grad(self, node, grad_output):
        x, idx = node.inputs
        if x.dtype not in FLOAT_TYPES:
            return [None, None]
        return [Node("TAKE_GRAD", (grad_output, idx, x), {"axis": node.attrs["axis"]}), None]

    def lower(self, node, ctx):
        x, idx = node.inputs
        axis = node.attrs["axis"] % x.ndim
        outer, n, inner, m = _view(x.shape, axis, idx.size)
        ctx.emit("GN_K_GATHER", index_dtype=C_DTYPE[idx.dtype],
                 elem_size=np.dtype(x.dtype).itemsize, outer=outer, n=n, inner=inner, m=m,
                 indices=ctx.inp(idx), x=ctx.inp(x), y=ctx.out(node))


@register
class TakeGrad(Op):
    """TAKE_GRAD(g, indices, like) {axis}: TAKE's gradient with respect to its table
    ``like``: zeros of like's shape with each slice of g added at its index (repeated
    indices add up)."""
    name, group, arity = "TAKE_GRAD", LAYOUT, 3

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        g, idx, like = shapes
        _check_indices(self.name, dtypes[1])
        if dtypes[0] not in FLOAT_TYPES or dtypes[0] != dtypes[2]:
            raise OpError(f"{self.name}: the gradient and the table must be of one floating "
                          f"dtype, got {dtypes[0]} and {dtypes[2]}")
        axis = normalize_axis(self.name, attrs["axis"], len(like))
        want = tuple(like[:axis]) + tuple(idx) + tuple(like[axis + 1:])
        if len(g) != len(want) or any(a is not None and b is not None and a != b
                                      for a, b in zip(g, want)):
            raise OpError(f"{self.name}: gradient of shape {g}, expected {want}")
        return tuple(like), dtypes[0]

    def perform(self, inputs, attrs):
        g, idx, like = inputs
        axis = attrs["axis"] % like.ndim
        out = np.zeros(like.shape, dtype=g.dtype)
        k = idx.ndim
        np.add.at(np.moveaxis(out, axis, 0), idx,  # IndexError outside [-n, n)
                  np.moveaxis(g, list(range(axis, axis + k)), list(range(k))))
        return out

    def grad(self, node, grad_output):
        """Linear in g: its adjoint is TAKE."""
        _, idx, _ = node.inputs
        return [Node("TAKE", (grad_output, idx), {"axis": node.attrs["axis"]}), None, None]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        g, idx, like = node.inputs
        axis = node.attrs["axis"] % like.ndim
        outer, n, inner, m = _view(like.shape, axis, idx.size)
        ctx.emit("GN_K_SCATTER_ADD", index_dtype=C_DTYPE[idx.dtype], outer=outer, n=n,
                 inner=inner, m=m, indices=ctx.inp(idx), dy=ctx.inp(g), dx=ctx.out(node))
