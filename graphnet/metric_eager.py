"""Eager use of a user's Metric subclass, written the Keras way (symbolic ops on Variables).

A subclass's ``update_state`` and ``result`` build ops on its state variables. Inside a
traced step they run as written: the assignments are recorded by the StepTrace and
compiled into the step. Called on arrays outside a step, the wrappers trace them once per
argument signature (placeholders shaped like the arrays) and run the compiled function:
``update_state`` writes the new state in place, ``result`` returns arrays (a float for a
scalar), so ``m.update_state(y, p); m.result()`` works on NumPy data as in Keras.
"""
import functools

import numpy as np

from .graph.tensor import SymbolicTensor, placeholder
from .graph.trace import StepTrace, current_trace
from .graph.variable import Variable


def wrap_user_methods(cls):
    """Give ``cls``'s own ``update_state`` / ``result`` their eager behaviour."""
    if "update_state" in cls.__dict__:
        cls.update_state = _eager_update_state(cls.__dict__["update_state"])
    if "result" in cls.__dict__:
        cls.result = _eager_result(cls.__dict__["result"])


def _is_symbolic(values):
    return any(isinstance(v, SymbolicTensor) for v in values)


def _eager_update_state(method):
    @functools.wraps(method)
    def update_state(self, *args, **kwargs):
        if current_trace() is not None or _is_symbolic(list(args) + list(kwargs.values())):
            return method(self, *args, **kwargs)
        names = sorted(kwargs)
        values = [_as_array(a) for a in list(args) + [kwargs[k] for k in names]]
        key = ("update_state", len(args), tuple(names),
               tuple(None if v is None else (v.shape, str(v.dtype)) for v in values))
        fn = _cache(self).get(key)
        if fn is None:
            fn = _compile_update(self, method, len(args), names, values)
            _cache(self)[key] = fn
        fn(*[v for v in values if v is not None])
    return update_state


def _compile_update(metric, method, n_args, names, values):
    from .runtime.function import Function
    holders = [None if v is None else placeholder(v.shape, str(v.dtype), name=f"arg{i}")
               for i, v in enumerate(values)]
    with StepTrace(f"{metric.name}.update_state") as trace:
        method(metric, *holders[:n_args], **dict(zip(names, holders[n_args:])))
    return Function([h for h in holders if h is not None], [], updates=trace.updates,
                    name=f"{metric.name}_update_state")


def _eager_result(method):
    @functools.wraps(method)
    def result(self):
        if current_trace() is not None:
            return method(self)
        entry = _cache(self).get("result")
        if entry is None:
            entry = _compile_result(self, method)
            _cache(self)["result"] = entry
        fn, structure = entry
        outs = [_pythonify(a) for a in fn()]
        if structure is None:
            return outs[0]
        return dict(zip(structure, outs))
    return result


def _compile_result(metric, method):
    from .runtime.function import Function
    from . import ops
    with StepTrace(f"{metric.name}.result") as trace:
        value = method(metric)
    if trace.updates:
        raise ValueError(f"Metric '{metric.name}': result() must not assign variables, "
                         f"it assigned {[v.name for v, _ in trace.updates]}")
    structure = sorted(value) if isinstance(value, dict) else None
    tensors = [value[k] for k in structure] if structure is not None else [value]
    tensors = [ops.convert_to_tensor(_tensor_like(t, metric)) for t in tensors]
    return Function([], tensors, name=f"{metric.name}_result"), structure


def _tensor_like(value, metric):
    if isinstance(value, (SymbolicTensor, Variable)):
        return value
    if isinstance(value, (int, float, np.ndarray, np.generic)):
        return np.asarray(value, dtype=metric.dtype)
    raise TypeError(f"Metric '{metric.name}': result() must return a tensor, a Variable, "
                    f"a number or a dict of them, got {type(value).__name__}")


def _pythonify(array):
    array = np.asarray(array)
    return float(array) if array.ndim == 0 else array


def _as_array(value):
    if value is None:
        return None
    array = np.asarray(value)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return np.ascontiguousarray(array)


def _cache(metric):
    return metric.__dict__.setdefault("_eager_functions", {})
