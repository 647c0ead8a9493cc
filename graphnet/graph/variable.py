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

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, name=None,
                 constraint=None):
        """Keras 3's signature: ``initializer`` is the value (an array or number) or, with
        ``shape``, an initializer (a name such as ``"zeros"`` or a callable
        ``init(shape, dtype)``). Python numbers and lists become ``floatx`` (float32) when
        floating; arrays keep their dtype unless ``dtype`` is given."""
        value = _initial_value(initializer, shape, dtype, name)
        dtype = canonical_dtype(dtype or value.dtype)
        self._value = np.array(value, dtype=dtype, order="C")  # keeps 0-d shapes
        self._dtype_name = str(self._value.dtype)   # assign keeps the array, so its dtype
        self.version = 0
        self.name = "variable" if name is None else name
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

    # -- the array protocol (Keras 3's Variable): numpy sees the current value ----------
    def __array__(self, dtype=None, copy=None):
        if copy is False and dtype is not None and np.dtype(dtype) != self._value.dtype:
            raise ValueError(f"variable {self.name!r}: cannot view a {self.dtype} value as "
                             f"{np.dtype(dtype)} without a copy")
        value = self.value if copy is False else self._value.copy()
        return value if dtype is None else value.astype(dtype, copy=False)

    def __float__(self):
        return float(self._value)

    def __int__(self):
        return int(self._value)

    def __bool__(self):
        return bool(self._value)

    def __len__(self):
        if not self._value.ndim:
            raise TypeError(f"variable {self.name!r} is a scalar: it has no length")
        return len(self._value)

    # Hashed and compared (==, !=) by identity: a Variable is a weight, kept in sets and
    # dicts; elementwise equality is gn.ops.equal(v, other).
    __hash__ = object.__hash__
    __eq__ = object.__eq__
    __ne__ = object.__ne__


def _initial_value(initializer, shape, dtype, name):
    """The array a Variable starts from (see Variable.__init__)."""
    if isinstance(initializer, str) or callable(initializer):
        if shape is None:
            raise ValueError(f"Variable {name!r}: an initializer "
                             f"({getattr(initializer, '__name__', initializer)!r}) needs a "
                             "shape: Variable(initializer, shape=(...))")
        from .. import backend, initializers
        init = initializers.get(initializer)
        return np.asarray(init(tuple(int(d) for d in shape), dtype=dtype or backend.floatx()))
    if _is_symbolic(initializer):
        raise TypeError(f"Variable {name!r}: the initial value must be an array, not a "
                        "symbolic tensor (a Variable holds a value before any graph runs)")
    value = initializer if isinstance(initializer, (np.ndarray, np.generic)) else \
        _python_value(initializer)
    if shape is not None and tuple(np.shape(value)) != tuple(int(d) for d in shape):
        raise ValueError(f"Variable {name!r}: shape {tuple(shape)} does not match the "
                         f"initial value's shape {np.shape(value)}")
    return np.asarray(value)


def _python_value(value):
    """Python numbers and lists as arrays: floats in floatx (as Keras), ints and bools kept."""
    array = np.asarray(value)
    if array.dtype == np.float64:
        from .. import backend
        return array.astype(backend.floatx())
    return array


def _is_symbolic(value):
    from .tensor import SymbolicTensor
    return isinstance(value, SymbolicTensor)


def _operator(function, reflected):
    """A Variable operator through gn.ops: numpy results when no operand is symbolic (and no
    layer call or traced step is being defined), a symbolic tensor otherwise."""
    def method(self, *other):
        from .. import ops
        fn = getattr(ops, function)
        return fn(*other, self) if reflected else fn(self, *other)
    method.__name__ = f"__{'r' if reflected else ''}{function}__"
    return method


for _name, _function, _reflected in [
        ("__add__", "add", False), ("__radd__", "add", True),
        ("__sub__", "subtract", False), ("__rsub__", "subtract", True),
        ("__mul__", "multiply", False), ("__rmul__", "multiply", True),
        ("__truediv__", "divide", False), ("__rtruediv__", "divide", True),
        ("__floordiv__", "floor_divide", False), ("__rfloordiv__", "floor_divide", True),
        ("__mod__", "mod", False), ("__rmod__", "mod", True),
        ("__pow__", "power", False), ("__rpow__", "power", True),
        ("__matmul__", "matmul", False), ("__rmatmul__", "matmul", True),
        ("__lt__", "less", False), ("__le__", "less_equal", False),
        ("__gt__", "greater", False), ("__ge__", "greater_equal", False),
        ("__neg__", "negative", False), ("__abs__", "abs", False),
        ("__getitem__", "getitem", False)]:
    setattr(Variable, _name, _operator(_function, _reflected))
