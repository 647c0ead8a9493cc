"""Variables: named weight arrays that compiled plans read in place."""
import itertools

import numpy as np

from ..ops.dtypes import canonical_dtype

_ids = itertools.count()


class Variable:
    """A weight: a contiguous NumPy array updated in place, so plans bound to it stay valid.

    ``value`` is a read-only view: writes go through ``assign`` (or a compiled training
    step), which count in ``version``, so what is derived from a value (an inference
    plan's prepacked weights) knows when it is stale.

    Hashed by identity: two variables with equal values are still two weights.
    """

    def __init__(self, value, name="variable", trainable=True, dtype=None, constraint=None):
        dtype = canonical_dtype(dtype or np.asarray(value).dtype)
        self._value = np.array(value, dtype=dtype, order="C")  # keeps 0-d shapes
        self._dtype_name = str(self._value.dtype)   # assign keeps the array, so its dtype
        self.version = 0
        self.name = name
        self.trainable = bool(trainable)
        self.constraint = constraint
        self.id = next(_ids)

    @property
    def value(self):
        """The weight's array, as a read-only view (``assign`` writes it); a view made on
        each call, so copies of the Variable (copy.deepcopy) view their own array."""
        view = self._value.view()
        view.flags.writeable = False
        return view

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return self._dtype_name

    def numpy(self):
        return self._value.copy()

    def assign(self, value):
        """Copy ``value`` into the weight's existing buffer (shape must match).

        A symbolic ``value`` (inside a traced step, see graph/trace.py) is recorded as
        an update of the step instead; outside a trace it is an error."""
        if _is_symbolic(value):
            return self._assign_traced(value)
        value = np.asarray(value)
        if value.shape != self._value.shape:
            raise ValueError(f"variable {self.name!r} has shape {self._value.shape}, "
                             f"cannot assign a value of shape {value.shape}")
        np.copyto(self._value, value, casting="unsafe")
        self.version += 1

    def assign_add(self, delta):
        """``assign(value + delta)``; symbolic ``delta`` inside a traced step too."""
        if _is_symbolic(delta):
            from .. import ops
            return self._assign_traced(ops.add(self, delta))
        self.assign(self._value + np.asarray(delta))

    def assign_sub(self, delta):
        """``assign(value - delta)``; symbolic ``delta`` inside a traced step too."""
        if _is_symbolic(delta):
            from .. import ops
            return self._assign_traced(ops.subtract(self, delta))
        self.assign(self._value - np.asarray(delta))

    def _assign_traced(self, tensor):
        from .trace import current_trace
        trace = current_trace()
        if trace is None:
            raise TypeError(f"variable {self.name!r}: cannot assign a symbolic tensor "
                            "outside a traced step (train_step / test_step / a Metric's "
                            "update_state run by fit); assign an array instead")
        from .. import ops
        trace.assign(self, ops.cast(tensor, self.dtype))

    def __repr__(self):
        return f"<Variable {self.name} shape={self.shape} dtype={self.dtype}>"


def _is_symbolic(value):
    from .tensor import SymbolicTensor
    return isinstance(value, SymbolicTensor)
