"""Sizes not known until a plan is specialized: ``gn.ops.shape(x)`` of a symbolic tensor
gives a ``Dim`` for each axis whose size is None (the batch, a variable sequence length),
as Keras code reads it: ``batch = ops.shape(z)[0]``, then
``gn.random.normal(shape=(batch, d))`` or ``ops.reshape(x, (batch, -1, heads, depth))``.

An op that takes a shape turns each Dim into ("in", axis) of the tensor it came from, the
spec the RESHAPE and RANDOM ops already read, with that tensor as the op's shape source.
"""
import operator


class Dim:
    """The size of axis ``axis`` of the symbolic tensor ``tensor``, known when the model runs."""

    __slots__ = ("tensor", "axis")

    def __init__(self, tensor, axis):
        self.tensor, self.axis = tensor, axis

    def __eq__(self, other):
        """Equal to None, as Keras's static shapes have None here, and to the same size."""
        return other is None or isinstance(other, Dim) and \
            other.tensor.node is self.tensor.node and other.axis == self.axis

    def __hash__(self):
        return hash((id(self.tensor.node), self.axis))

    def __repr__(self):
        return f"Dim(axis {self.axis} of a {self.tensor.node.op.name} tensor " \
            f"of shape {tuple(self.tensor.shape)})"

    def _unknown(self, *_):
        raise TypeError(f"{self!r}: the size is not known until the model runs, so it cannot "
                        "be used as a Python int or in arithmetic; pass it as it is in a shape "
                        "(gn.random draws, ops.reshape)")

    __index__ = __int__ = __float__ = __bool__ = _unknown
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _unknown
    __floordiv__ = __rfloordiv__ = __truediv__ = __rtruediv__ = __mod__ = _unknown
    __lt__ = __le__ = __gt__ = __ge__ = _unknown


def shape_of(tensor):
    """``tensor.shape`` with a Dim for each unknown size."""
    return tuple(Dim(tensor, i) if d is None else d for i, d in enumerate(tensor.shape))


def size_spec(shape, what):
    """(spec, source) for a shape of ints and Dims: spec entries are ints or ("in", axis)
    of ``source``, the one tensor every Dim comes from (None when there is no Dim)."""
    shape = (shape,) if isinstance(shape, (int, Dim)) or not hasattr(shape, "__iter__") \
        else tuple(shape)
    sources = {id(d.tensor.node): d.tensor for d in shape if isinstance(d, Dim)}
    if len(sources) > 1:
        raise ValueError(f"{what}: the unknown sizes of shape {shape} come from "
                         f"{len(sources)} different tensors; a shape may take them from one")
    spec = []
    for d in shape:
        if isinstance(d, Dim):
            spec.append(("in", d.axis))
            continue
        try:
            spec.append(operator.index(d))
        except TypeError:
            raise ValueError(f"{what}: shape must be a tuple of ints, got {shape!r} (a size "
                             "known only when the model runs is taken from a tensor: "
                             "gn.ops.shape(x)[axis])") from None
    return spec, next(iter(sources.values()), None)
