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
        """Copy ``value`` into the weight's existing buffer (shape must match)."""
        value = np.asarray(value)
        if value.shape != self._value.shape:
            raise ValueError(f"variable {self.name!r} has shape {self._value.shape}, "
                             f"cannot assign a value of shape {value.shape}")
        np.copyto(self._value, value, casting="unsafe")
        self.version += 1

    def __repr__(self):
        return f"<Variable {self.name} shape={self.shape} dtype={self.dtype}>"
