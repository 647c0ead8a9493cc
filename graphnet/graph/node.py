"""Immutable op-graph nodes.

A ``Node`` is ``(op, inputs, attrs)``; its shape and dtype come from the op's
rule when the node is built, so shape inference lives in exactly one place.
Rewrites never mutate a node: they build new ones.
"""
import itertools
import math
from operator import is_

import numpy as np

from ..ops.registry import get_op
from .scope import current_layer_name

_uid = itertools.count()
_DTYPE_NAMES = {}   # dtype as an op rule gives it -> its name ("float32"), computed once


class Attrs(tuple):
    """A hashable, read-only mapping of op attributes (a sorted tuple of pairs)."""

    def __new__(cls, mapping=None):
        items = sorted((mapping or {}).items())
        return super().__new__(cls, tuple((k, _freeze(v)) for k, v in items))

    def __getitem__(self, key):
        for k, v in tuple.__iter__(self):
            if k == key:
                return v
        raise KeyError(key)

    def get(self, key, default=None):
        for k, v in tuple.__iter__(self):
            if k == key:
                return v
        return default

    def as_dict(self):
        return dict(tuple.__iter__(self))

    def __repr__(self):
        return ", ".join(f"{k}={_short(v)}" for k, v in tuple.__iter__(self))


_PLAIN = frozenset({bool, int, float, str, type(None)})   # kept as they are, checked first


def _freeze(value):
    if type(value) in _PLAIN:
        return value
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _short(value):
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


class Node:
    """One op application in the graph: hashable by (op, inputs, attrs)."""

    # origin: the name of the layer whose call built the node, or None; not part of the
    # node's identity (runtime errors name it)
    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "uid", "_hash", "origin")

    def __init__(self, op, inputs=(), attrs=None):
        op = get_op(op)
        inputs = tuple(inputs)
        for x in inputs:
            if not isinstance(x, Node):
                raise TypeError(f"{op.name}: inputs must be graph nodes, got {type(x).__name__}")
        self._infer(op, inputs, attrs if isinstance(attrs, Attrs) else Attrs(attrs))

    def _infer(self, op, inputs, attrs):
        """Set the slots, the shape and dtype from the op's rule (inputs: a tuple of nodes)."""
        shape, dtype = op.infer([x.shape for x in inputs], [x.dtype for x in inputs], attrs)
        try:
            name = _DTYPE_NAMES[dtype]
        except KeyError:
            name = _DTYPE_NAMES[dtype] = str(np.dtype(dtype))
        self._set(op, inputs, attrs, tuple(shape), name)

    def _set(self, op, inputs, attrs, shape, dtype):
        _set_op(self, op)
        _set_inputs(self, inputs)
        _set_attrs(self, attrs)
        _set_shape(self, shape)
        _set_dtype(self, dtype)
        _set_uid(self, next(_uid))
        _set_hash(self, hash((op.name, tuple(map(id, inputs)), attrs)))
        _set_origin(self, current_layer_name())

    def __setattr__(self, name, value):
        raise AttributeError("graph nodes are immutable; build a new Node instead")

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        if self is other:
            return True
        return (isinstance(other, Node) and self._hash == other._hash
                and self.op is other.op and self.attrs == other.attrs
                and len(self.inputs) == len(other.inputs)
                and all(map(is_, self.inputs, other.inputs)))

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        """Number of elements, or None when a dimension is unknown."""
        if any(d is None for d in self.shape):
            return None
        return math.prod(self.shape)

    def with_inputs(self, inputs):
        """The same op and attrs over new inputs (shape re-inferred, unless each input has
        the shape and dtype of the one it replaces: the op's rule then gives what it gave)."""
        inputs, old = tuple(inputs), self.inputs
        if len(inputs) != len(old):
            return Node(self.op, inputs, self.attrs)
        if all(map(is_, inputs, old)):
            return self
        same = True
        for a, b in zip(inputs, old):
            if not isinstance(a, Node):
                return Node(self.op, inputs, self.attrs)   # raises, naming the input
            same = same and a.shape == b.shape and a.dtype == b.dtype
        node = Node.__new__(Node)
        if same:
            node._set(self.op, inputs, self.attrs, self.shape, self.dtype)
        else:
            node._infer(self.op, inputs, self.attrs)
        _set_origin(node, self.origin)
        return node

    def __repr__(self):
        attrs = f" {{{self.attrs!r}}}" if self.attrs else ""
        return f"<{self.op.name} %{self.uid} {self.shape} {self.dtype}{attrs}>"


# The slots' own setters: building a node sets each slot once, past the __setattr__ that
# keeps nodes immutable (half the cost of object.__setattr__ by name; compiling a large
# graph builds a few hundred thousand nodes).
_set_op, _set_inputs, _set_attrs, _set_shape, _set_dtype, _set_uid, _set_hash, _set_origin = (
    Node.__dict__[name].__set__ for name in Node.__slots__)
