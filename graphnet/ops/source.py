"""Source ops: graph inputs, variables (weights) and constants. They have no
inputs and emit no kernel: the lowering binds them to buffers directly."""
import hashlib

import numpy as np

from .dtypes import canonical_dtype
from .registry import SOURCE, Op, register


class ConstantValue:
    """A NumPy array made hashable by its bytes, for CONSTANT attrs."""

    __slots__ = ("array", "_key")

    def __init__(self, array):
        array = np.array(array, order="C")  # a copy; keeps 0-d shapes
        array.setflags(write=False)
        self.array = array
        digest = hashlib.sha1(array.tobytes()).hexdigest()
        self._key = (array.dtype.str, array.shape, digest)

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, ConstantValue) and self._key == other._key

    def __repr__(self):
        if self.array.size <= 4:
            return repr(self.array.tolist())
        return f"array{self.array.shape}"


@register
class InputOp(Op):
    """INPUT {name, shape, dtype, uid}: a value fed at run time (None: any size)."""
    name, group, arity = "INPUT", SOURCE, 0

    def infer(self, shapes, dtypes, attrs):
        return attrs["shape"], canonical_dtype(attrs["dtype"])

    def perform(self, inputs, attrs):
        raise ValueError(f"input {attrs['name']!r} was not fed")

    def grad(self, node, grad_output):
        return []

    def lower(self, node, ctx):
        ctx.bind_source(node)


@register
class VariableOp(Op):
    """VARIABLE {var}: a weight read in place from its Variable's array."""
    name, group, arity = "VARIABLE", SOURCE, 0

    def infer(self, shapes, dtypes, attrs):
        var = attrs["var"]
        return var.shape, var.dtype

    def perform(self, inputs, attrs):
        # the array itself, as plans bind it: RANDOM advances its state in place
        return attrs["var"]._value

    def grad(self, node, grad_output):
        return []

    def lower(self, node, ctx):
        ctx.bind_source(node)


@register
class ConstantOp(Op):
    """CONSTANT {value}: a fixed array baked into the plan."""
    name, group, arity = "CONSTANT", SOURCE, 0

    def infer(self, shapes, dtypes, attrs):
        value = attrs["value"].array
        return value.shape, canonical_dtype(value.dtype)

    def perform(self, inputs, attrs):
        return attrs["value"].array

    def grad(self, node, grad_output):
        return []

    def lower(self, node, ctx):
        ctx.bind_source(node)
