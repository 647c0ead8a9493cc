"""The one wrapper around every public ``gn.ops`` function: what a call means depends on
where it is made and on what it is given.

- Inside a layer's ``call`` or a traced step (graph/scope.py, graph/trace.py), or on
  symbolic tensors made by no layer: the function builds plain op nodes, as written.
- Outside any layer, on symbolic tensors from ``gn.Input`` or layers: the call is recorded
  as a call of an op layer (engine/op_layer.py), as Keras 3 records an Operation, so a
  Functional model finds it, shows it, saves it and trains through it.
- On arrays, numbers and Variables only: it is computed at once through the C kernels
  and gives numpy arrays back (ops/eager.py).
"""
import functools

import numpy as np

from ..graph.node import Node
from ..graph.scope import inside_layer_call
from ..graph.tensor import SymbolicTensor
from ..graph.trace import current_trace
from ..graph.variable import Variable
from .dims import Dim

# Functions whose results are Python values (shapes), never graph nodes or arrays
NOT_DISPATCHED = frozenset({"shape", "ndim", "convert_to_numpy", "is_tensor", "dtype"})


def leaves(value):
    """The non-container values inside nested lists, tuples and dicts, in order."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    else:
        yield value


_recorder = []   # engine/op_layer.py's record_op_call (the engine sits above the ops)


def set_op_recorder(record):
    """Called once by engine/op_layer.py: ``record(name, args, kwargs)`` makes op layers."""
    _recorder[:] = [record]


def _kind(args, kwargs):
    """"recorded" (a tensor from a layer or gn.Input among the arguments, and no Variable),
    "symbolic" (other graph values: plain nodes, which a Variable's read is too) or
    "eager" (none)."""
    recorded, symbolic, variable = False, False, False
    for leaf in leaves((args, kwargs)):
        if isinstance(leaf, Dim):   # a size of a symbolic tensor (gn.ops.shape): its tensor
            leaf = leaf.tensor
        if isinstance(leaf, SymbolicTensor):
            recorded = recorded or leaf.history is not None
            symbolic = True
        elif isinstance(leaf, Node):
            symbolic = True
        elif isinstance(leaf, Variable):
            variable = True
    if recorded and not variable:
        return "recorded"
    return "symbolic" if symbolic else "eager"


def dispatching(name, fn):
    """``fn`` (the public ``gn.ops`` function ``name``) behind the dispatch above."""
    if name == "convert_to_tensor":
        return _convert_to_tensor(fn)

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if inside_layer_call() or current_trace() is not None:
            return fn(*args, **kwargs)
        kind = _kind(args, kwargs)
        if kind == "recorded":
            return _recorder[0](name, args, kwargs)
        if kind == "symbolic":
            return fn(*args, **kwargs)
        from .eager import run_eagerly
        return run_eagerly(name, fn, args, kwargs)
    return op


def _convert_to_tensor(fn):
    """convert_to_tensor always gives a symbolic tensor (the way into a graph); a symbolic
    tensor of the asked dtype is returned as it is, so it keeps the layer that made it."""
    @functools.wraps(fn)
    def convert_to_tensor(x, dtype=None):
        if isinstance(x, SymbolicTensor) and (dtype is None or x.dtype == str(np.dtype(dtype))):
            return x
        if not inside_layer_call() and current_trace() is None and \
                _kind((x,), {}) == "recorded":
            return _recorder[0]("convert_to_tensor", (x,), {"dtype": dtype})
        return fn(x, dtype)
    return convert_to_tensor


def wrap_all(namespace, names):
    """Put the dispatching form of each public function ``names`` into ``namespace``."""
    for name in names:
        if name not in NOT_DISPATCHED:
            namespace[name] = dispatching(name, namespace[name])
