"""Eager ops: a ``gn.ops`` function given arrays, numbers and Variables (no symbolic
tensor) computes at once through the C kernels and returns numpy arrays.

The function is traced on placeholders of the arrays' shapes and dtypes and compiled
into a small plan, cached (bounded, least recently used dropped first) per function,
non-tensor arguments, and input shapes and dtypes. Arrays are inputs of the plan only
where the function takes tensors (``TENSOR_PARAMETERS``); elsewhere (a shape, an axis,
pad widths) they are settings and part of the cache key. float64 arrays compute in
float32, as graph constants do.
"""
import inspect

import numpy as np

from ..graph.graph import topological_order
from ..graph.scope import layer_call_scope
from ..graph.tensor import SymbolicTensor, placeholder
from ..graph.variable import Variable
from ..runtime.plan_cache import PlanCache

TENSOR_PARAMETERS = frozenset({
    "x", "x1", "x2", "xs", "condition", "inputs", "kernel", "indices", "mean", "variance",
    "offset", "scale", "gamma", "beta", "depthwise_kernel", "pointwise_kernel", "x_train",
    "x_infer", "target", "output", "weights", "condlist", "choicelist", "array", "a",
    "fill_value", "data", "segment_ids", "values", "updates", "predictions", "targets",
    "sorted_sequence", "variable", "query", "key", "value", "bias", "mask", "images"})

eager_plans = PlanCache(128)
_signatures = {}


class _Uncacheable(Exception):
    """A setting that cannot be part of a cache key (the call is compiled, not cached)."""


def _signature(name, fn):
    sig = _signatures.get(name)
    if sig is None:
        sig = _signatures[name] = inspect.signature(fn)
    return sig


def _as_input(value, arrays, holders):
    """A placeholder standing for ``value`` (an array or a Variable), its array recorded."""
    array = value.numpy() if isinstance(value, Variable) else value
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    arrays.append(np.asarray(array, order="C"))   # (ascontiguousarray makes 0-d 1-d)
    holders.append(placeholder(array.shape, str(array.dtype), name=f"x{len(holders)}"))
    return holders[-1]


def _lift(value, arrays, holders):
    """``value`` with its arrays and Variables replaced by placeholders (lists, tuples and
    dicts kept)."""
    if isinstance(value, (np.ndarray, Variable)):
        return _as_input(value, arrays, holders)
    if isinstance(value, list):
        return [_lift(v, arrays, holders) for v in value]
    if isinstance(value, tuple):
        return tuple(_lift(v, arrays, holders) for v in value)
    return value


def _key_of(value):
    """A hashable form of a setting (placeholders by their position among the inputs)."""
    if isinstance(value, SymbolicTensor):
        return ("input", value.name)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__,) + tuple(_key_of(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple(sorted((k, _key_of(v)) for k, v in value.items()))
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.shape, value.tobytes())
    if isinstance(value, np.generic):
        return ("scalar", str(value.dtype), value.item())
    if isinstance(value, slice):
        return ("slice", _key_of(value.start), _key_of(value.stop), _key_of(value.step))
    if value is None or value is Ellipsis or isinstance(value, (bool, int, float, str)):
        return (type(value).__name__, value)
    if isinstance(value, np.dtype) or (isinstance(value, type) and
                                       issubclass(value, np.generic)):
        return ("dtype", str(np.dtype(value)))
    raise _Uncacheable(type(value).__name__)


def _draws_randomly(outputs):
    """Whether the traced graph made state of its own (a random op's generator)."""
    return any(node.op.name in ("RANDOM", "VARIABLE") for node in topological_order(outputs))


def run_eagerly(name, fn, args, kwargs):
    """``fn(*args, **kwargs)`` computed now: numpy arrays in the structure ``fn`` returns."""
    from ..runtime.function import Function
    bound = _signature(name, fn).bind(*args, **kwargs)
    arrays, holders, lifted = [], [], {}
    for param, value in bound.arguments.items():
        lifted[param] = _lift(value, arrays, holders) if param in TENSOR_PARAMETERS else value
    bound.arguments.update(lifted)
    try:
        key = (name, _key_of(tuple(lifted.items())),
               tuple((a.shape, str(a.dtype)) for a in arrays))
    except _Uncacheable:
        key = None
    entry = eager_plans.get(key) if key is not None else None
    if entry is None:
        with layer_call_scope():
            outputs = fn(*bound.args, **bound.kwargs)
        flat = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
        if not all(isinstance(t, SymbolicTensor) for t in flat):
            return outputs
        entry = (Function(holders, flat, name=f"gn.ops.{name}"), outputs)
        if key is not None and not _draws_randomly([t.node for t in flat]):
            eager_plans.put(key, entry)
    function, structure = entry
    results = function(*arrays)
    if isinstance(structure, (tuple, list)):
        return type(structure)(results)
    return results[0]


def convert_to_numpy(x):
    """``x`` as a numpy array: arrays, numbers, Variables (a copy of the value), and
    symbolic tensors that depend on no model input (constants, Variables) computed now."""
    if isinstance(x, Variable):
        return x.numpy()
    if isinstance(x, SymbolicTensor):
        from ..runtime.function import Function
        sources = [n for n in topological_order([x.node]) if n.op.name == "INPUT"]
        if sources:
            raise TypeError(f"convert_to_numpy: {x} depends on the input "
                            f"{sources[0].attrs['name']!r}, so it has no value while a "
                            "graph is being defined; run the model (predict) to get values")
        return Function([], [x], name="gn.ops.convert_to_numpy")()[0]
    return np.asarray(x)
