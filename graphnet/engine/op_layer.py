"""OpLayer: a ``gn.ops`` function called between layers, recorded as a layer call.

``gn.layers.Dense(2)(x * 2 + 1)``, ``t[:, :1]`` or ``gn.ops.concatenate([a, b])`` on
tensors from ``gn.Input`` or layers make one OpLayer call per function (ops/dispatch.py),
as Keras 3 records an Operation: a Functional model walks them like any layer call,
``summary()`` shows them by Keras 3's class names (``multiply (Multiply)``,
``get_item (GetItem)``), and configs hold them as the function's public name plus its
non-tensor arguments as JSON (arrays as data, never code). Loading resolves the name
among ``gn.ops``'s public functions only: any other name is an error.
"""
import numpy as np

from .. import backend
from ..graph.tensor import SymbolicTensor
from ..ops.dims import Dim
from ..ops.dispatch import NOT_DISPATCHED, set_op_recorder
from .base_layer import Layer

# Keras 3's class for the gn.ops functions whose name is not simply its CamelCase
_KERAS_CLASS_NAMES = {"getitem": "GetItem", "abs": "Absolute"}
_OP_NAMESPACES = ("image",)   # gn.ops.<namespace>.<function>, as keras.ops.image


def keras_class_name(function):
    """Keras 3's Operation class for a gn.ops function: ``log_softmax`` -> ``LogSoftmax``."""
    return _KERAS_CLASS_NAMES.get(function) or \
        "".join(part[:1].upper() + part[1:] for part in function.rsplit(".", 1)[-1].split("_"))


def op_function(function, where):
    """The public gn.ops function called ``function``; a clear error for any other name."""
    from .. import ops
    namespace, _, name = function.rpartition(".") if isinstance(function, str) else ("", "", "")
    module = getattr(ops, namespace, None) if namespace in _OP_NAMESPACES else \
        ops if not namespace else None
    if module is None or name not in module.__all__ or name in NOT_DISPATCHED:
        raise ValueError(f"{where}: {function!r} is not a gn.ops function that can be "
                         "recorded in a model (an op layer names one of gn.ops's public "
                         "functions; nothing else is ever loaded)")
    return getattr(module, name)


# -- arguments as JSON -----------------------------------------------------------------

def encode_arguments(value, tensors, where):
    """JSON form of a call's arguments; each symbolic tensor is appended to ``tensors`` and
    stands as ``{"__tensor__": index}``."""
    if isinstance(value, SymbolicTensor):
        tensors.append(value)
        return {"__tensor__": len(tensors) - 1}
    if isinstance(value, Dim):   # a size known when the model runs: its tensor's axis
        tensors.append(value.tensor)
        return {"__dim__": [len(tensors) - 1, value.axis]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        return {"__numpy__": {"value": array.tolist(), "dtype": str(array.dtype),
                              "shape": list(array.shape)}}
    if isinstance(value, np.dtype) or (isinstance(value, type) and
                                       issubclass(value, np.generic)):
        return str(np.dtype(value))
    if isinstance(value, list):
        return [encode_arguments(v, tensors, where) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode_arguments(v, tensors, where) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: encode_arguments(v, tensors, where) for k, v in value.items()}}
    if isinstance(value, slice):
        return {"__slice__": [encode_arguments(v, tensors, where)
                              for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"__ellipsis__": None}
    raise TypeError(f"{where}: cannot record an argument of type {type(value).__name__} "
                    f"({value!r}) in a model; op arguments between layers must be tensors, "
                    "numbers, strings, None, arrays, slices or lists/tuples/dicts of them")


def decode_arguments(value, tensors, where):
    """The call's arguments from ``encode_arguments``'s form and the call's tensors."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode_arguments(v, tensors, where) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        (marker, body), = value.items()
        if marker == "__tensor__" and isinstance(body, int) and 0 <= body < len(tensors):
            return tensors[body]
        if marker == "__dim__" and isinstance(body, list) and len(body) == 2 and \
                isinstance(body[0], int) and 0 <= body[0] < len(tensors) and \
                isinstance(body[1], int) and 0 <= body[1] < len(tensors[body[0]].shape):
            return Dim(tensors[body[0]], body[1])
        if marker == "__numpy__" and isinstance(body, dict):
            array = np.asarray(body.get("value"), dtype=np.dtype(body.get("dtype")))
            return array.reshape(body.get("shape", array.shape))
        if marker == "__tuple__" and isinstance(body, list):
            return tuple(decode_arguments(v, tensors, where) for v in body)
        if marker == "__dict__" and isinstance(body, dict):
            return {k: decode_arguments(v, tensors, where) for k, v in body.items()}
        if marker == "__slice__" and isinstance(body, list) and len(body) == 3:
            return slice(*(decode_arguments(v, tensors, where) for v in body))
        if marker == "__ellipsis__":
            return Ellipsis
    raise ValueError(f"{where}: cannot read the recorded argument {value!r} (expected a "
                     "number, string, None, list or one of the markers __tensor__ (an index "
                     f"below {len(tensors)}), __dim__ ([tensor index, axis]), __numpy__, __tuple__, __dict__, __slice__, "
                     "__ellipsis__)")


class OpLayer(Layer):
    """One call of a ``gn.ops`` function between layers (Keras 3's Operation).

    Args:
        function: the public name of the gn.ops function (``"multiply"``).
        arguments: ``{"args": [...], "kwargs": {...}}`` in ``encode_arguments``'s JSON
            form; each ``{"__tensor__": i}`` is the call's i-th input tensor.

    Input shape:
        A list of the tensors the call takes, in the order ``arguments`` numbers them.

    Output shape:
        What the function returns (a tensor, or a tuple of them for ``moments``).
    """

    def __init__(self, function, arguments, name=None, **kwargs):
        where = f"op layer {name!r}" if name else "op layer"
        self._function = op_function(function, where)
        if not isinstance(arguments, dict) or set(arguments) != {"args", "kwargs"} or \
                not isinstance(arguments["args"], list) or \
                not isinstance(arguments["kwargs"], dict):
            raise ValueError(f"{where}: arguments must be {{'args': [...], 'kwargs': "
                             f"{{...}}}}, got {arguments!r}")
        name = name or backend.unique_name(backend.snake_case(keras_class_name(function)))
        super().__init__(name=name, **kwargs)
        self.function = function
        self.arguments = arguments

    @property
    def summary_class_name(self):
        """The class Keras 3 shows in ``summary()`` for this op (``Multiply``)."""
        return keras_class_name(self.function)

    def call(self, inputs):
        tensors = list(inputs)
        where = f"op layer '{self.name}' ({self.function})"
        args = decode_arguments(self.arguments["args"], tensors, where)
        kwargs = {key: decode_arguments(value, tensors, where)
                  for key, value in self.arguments["kwargs"].items()}
        return self._function(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(function=self.function, arguments=self.arguments)
        return config


def is_op_layer(layer):
    return isinstance(layer, OpLayer)


def record_op_call(function, args, kwargs):
    """``gn.ops.<function>(*args, **kwargs)`` on tensors from layers, as an OpLayer call."""
    tensors = []
    where = f"gn.ops.{function}"
    arguments = {"args": encode_arguments(list(args), tensors, where),
                 "kwargs": encode_arguments(dict(kwargs), tensors, where)["__dict__"]}
    return OpLayer(function, arguments)(tensors)


set_op_recorder(record_op_call)
