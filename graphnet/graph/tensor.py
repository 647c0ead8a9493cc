"""Symbolic tensors: what users and layers pass around while defining a model, and
``placeholder``, a fresh graph input."""
import itertools

import numpy as np

from .node import Node

_input_uids = itertools.count(1)


class SymbolicTensor:
    """A value in a graph being defined: an op-graph node plus, when a layer made
    it, the layer call that did (``history``), which models walk to find layers, and
    the Keras mask the layer computed for it (``mask``: a bool symbolic tensor over
    its leading axes, e.g. ``(batch, timesteps)``, or None).

    Immutable: a layer call wraps its outputs in new tensors rather than
    annotating existing ones.
    """

    __slots__ = ("node", "history", "name", "mask")
    # numpy defers to the reflected operators: array + tensor is tensor.__radd__(array), a
    # graph node, not an object array of one node per element
    __array_ufunc__ = None

    def __init__(self, node, history=None, name=None, mask=None):
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "history", history)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "mask", mask)

    def __setattr__(self, key, value):
        raise AttributeError("symbolic tensors are immutable")

    @property
    def shape(self):
        return self.node.shape

    @property
    def dtype(self):
        return self.node.dtype

    @property
    def ndim(self):
        return len(self.node.shape)

    @property
    def _keras_mask(self):
        """Keras's name for ``mask`` (code written for Keras reads it)."""
        return self.mask

    def __repr__(self):
        name = f" name={self.name}" if self.name else ""
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype}{name}>"

    def __len__(self):
        raise TypeError("a symbolic tensor has no length; use tensor.shape")

    def __bool__(self):
        raise TypeError("a symbolic tensor has no truth value while the graph is being "
                        "defined; use gn.ops.where for conditionals")

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    # Arithmetic builds ops through graphnet.ops (imported lazily: ops imports this module).
    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().subtract(self, other)

    def __rsub__(self, other):
        return _ops().subtract(other, self)

    def __mul__(self, other):
        return _ops().multiply(self, other)

    def __rmul__(self, other):
        return _ops().multiply(other, self)

    def __truediv__(self, other):   # true_divide, as Keras 3 records ``/``
        return _ops().true_divide(self, other)

    def __rtruediv__(self, other):
        return _ops().true_divide(other, self)

    def __pow__(self, other):
        return _ops().power(self, other)

    def __rpow__(self, other):
        return _ops().power(other, self)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __neg__(self):
        return _ops().negative(self)

    def __abs__(self):
        return _ops().abs(self)

    def __lt__(self, other):
        return _ops().less(self, other)

    def __le__(self, other):
        return _ops().less_equal(self, other)

    def __gt__(self, other):
        return _ops().greater(self, other)

    def __ge__(self, other):
        return _ops().greater_equal(self, other)

    def __getitem__(self, index):
        return _ops().getitem(self, index)


def placeholder(shape, dtype="float32", name="input"):
    """A fresh graph input of ``shape`` (batch included; None for unknown sizes)."""
    shape = tuple(None if d is None else int(d) for d in shape)
    node = Node("INPUT", (), {"name": name, "shape": shape, "dtype": str(np.dtype(dtype)),
                              "uid": next(_input_uids)})
    return SymbolicTensor(node, name=name)


def _ops():
    from .. import ops
    return ops
