"""Lambda: wrap an expression of ``gn.ops`` calls as a layer.

Serialization follows Keras 3. A named function is stored by name
(``{"class_name": "function", "config": name, "module": ...}``) and resolved on
loading from ``custom_objects``, ``gn.activations`` or ``gn.ops`` — never by importing
the module the config names. A Python lambda is stored as its marshalled bytecode
(``{"class_name": "__lambda__", ...}``); loading that runs code from the file, so it
is refused unless the caller passes ``safe_mode=False`` (or loads inside
``unsafe_deserialization()``); CVE-2024-3660 was Keras loading such code by default.
"""
import base64
import contextlib
import inspect
import marshal
import threading
import types

import numpy as np

from .. import activations as activations_module
from .. import ops as ops_module
from ..engine.base_layer import Layer

_state = threading.local()

# Modules whose functions are stored by name and resolved without importing anything
_KNOWN_MODULES = {"graphnet.ops": ops_module, "graphnet.activations": activations_module}


@contextlib.contextmanager
def unsafe_deserialization():
    """Within this block, ``Lambda.from_config`` may load Python lambdas (bytecode) from
    configs when no ``safe_mode`` is passed. Only for configs from a trusted source."""
    previous = getattr(_state, "safe_mode", True)
    _state.safe_mode = False
    try:
        yield
    finally:
        _state.safe_mode = previous


def _in_safe_mode():
    return getattr(_state, "safe_mode", True) is not False


def _home_module(fn):
    """'graphnet.ops' or 'graphnet.activations' when fn is that module's public function."""
    name = getattr(fn, "__name__", None)
    for module_name, module in _KNOWN_MODULES.items():
        public = getattr(module, "__all__", None) or dir(module)
        if name in public and getattr(module, name, None) is fn:
            return module_name
    return None


def _serialize_value(value):
    """JSON-friendly form of arguments, defaults and closure values (arrays included)."""
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        return {"class_name": "__numpy__",
                "config": {"value": np.asarray(value).tolist(), "dtype": str(value.dtype)}}
    if isinstance(value, (list, tuple)):
        return [_serialize_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _serialize_value(v) for k, v in value.items()}
    if isinstance(value, types.FunctionType):
        return serialize_function(value)
    return value


def _deserialize_value(value, custom_objects=None, safe_mode=True):
    if isinstance(value, dict):
        if value.get("class_name") == "__numpy__":
            cfg = value["config"]
            return np.asarray(cfg["value"], dtype=cfg["dtype"])
        if value.get("class_name") in ("function", "__lambda__"):
            return deserialize_function(value, custom_objects, safe_mode)
        return {k: _deserialize_value(v, custom_objects, safe_mode) for k, v in value.items()}
    if isinstance(value, list):
        return [_deserialize_value(v, custom_objects, safe_mode) for v in value]
    return value


def serialize_function(fn):
    """Keras 3's config of a function: by name, or a lambda's marshalled bytecode."""
    if not callable(fn):
        raise ValueError(f"Lambda: cannot serialize {fn!r} of type {type(fn).__name__}: "
                         "not a function")
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        code = base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")
        closure = None
        if fn.__closure__:
            closure = [_serialize_value(c.cell_contents) for c in fn.__closure__]
        defaults = _serialize_value(list(fn.__defaults__)) if fn.__defaults__ else None
        return {"class_name": "__lambda__",
                "config": {"code": code, "defaults": defaults, "closure": closure}}
    name = getattr(fn, "__name__", None)
    if name is None:
        raise ValueError(f"Lambda: cannot serialize the callable {fn!r}: it has no name; "
                         "use a function or a lambda")
    module = _home_module(fn) or getattr(fn, "__module__", None) or "builtins"
    return {"module": module, "class_name": "function", "config": name,
            "registered_name": "function"}


def deserialize_function(config, custom_objects=None, safe_mode=True):
    """A function from ``serialize_function``'s config (or a plain name).

    Names resolve from ``custom_objects``, then graphnet's activations and ops. Lambda
    bytecode is only loaded when ``safe_mode`` is False.
    """
    if callable(config):
        return config
    if isinstance(config, str):
        name, module = config, None
    elif isinstance(config, dict) and config.get("class_name") == "__lambda__":
        if safe_mode:
            raise ValueError(
                "Lambda: the config holds a Python lambda (marshalled bytecode). Loading it "
                "would execute code from the file, which is disallowed by default "
                "(CVE-2024-3660). If you trust the source, pass safe_mode=False (or load "
                "inside graphnet.layers.lambda_layer.unsafe_deserialization()); better, "
                "use a named function and pass it in custom_objects.")
        return _load_lambda(config["config"], custom_objects)
    elif isinstance(config, dict) and config.get("class_name") == "function":
        name, module = config.get("config"), config.get("module")
    else:
        raise ValueError(f"Lambda: cannot interpret the function config {config!r}")
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    search = [_KNOWN_MODULES[module]] if module in _KNOWN_MODULES else \
        [activations_module, ops_module]
    for home in search:
        if home is activations_module and name in activations_module._registry.entries:
            return activations_module._registry.entries[name]
        fn = getattr(home, name, None) if name in getattr(home, "__all__", ()) else None
        if callable(fn):
            return fn
    raise ValueError(f"Lambda: unknown function {name!r} (module {module!r}). Pass it in "
                     f"custom_objects, e.g. custom_objects={{{name!r}: {name}}}; modules "
                     "named in configs are never imported.")


def _load_lambda(config, custom_objects=None):
    """Rebuild a lambda from its bytecode (only called when unsafe loading is allowed)."""
    import graphnet
    code = marshal.loads(base64.b64decode(config["code"].encode("ascii")))
    defaults = config.get("defaults")
    defaults = tuple(_deserialize_value(defaults, custom_objects, False)) if defaults \
        else None
    closure = config.get("closure")
    if closure is not None:
        closure = tuple(types.CellType(v)
                        for v in _deserialize_value(closure, custom_objects, False))
    globs = {"__builtins__": __builtins__, "gn": graphnet, "graphnet": graphnet,
             "ops": ops_module, "activations": activations_module, "np": np, "numpy": np}
    globs.update(custom_objects or {})
    return types.FunctionType(code, globs, name=code.co_name, argdefs=defaults,
                              closure=closure)


class Lambda(Layer):
    """Wraps an expression of ``gn.ops`` calls as a layer: ``Lambda(lambda x: x ** 2)``.

    Prefer a subclass of ``Layer`` for anything with weights or to be saved portably:
    a Python lambda is saved as bytecode, which only loads with ``safe_mode=False``.

    Args:
        function: the function to apply; it takes the input tensor (or list of tensors)
            as first argument and builds the output from ``gn.ops``.
        output_shape: the expected output shape: a tuple without the batch dimension, or a
            function of the full input shape. Inferred from the ops when None.
        mask: None (the layer does not support masking: an input's mask is dropped), a
            callable ``mask(inputs, mask)`` returning the output's mask, or the mask itself.
        arguments: optional dict of keyword arguments passed to ``function``.

    Input shape:
        Arbitrary (whatever ``function`` accepts).

    Output shape:
        ``output_shape`` if given, else the shape the ops produce.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda '{self.name}': function must be callable, got "
                            f"{type(function).__name__} {function!r}")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda '{self.name}': arguments must be a dict of keyword "
                            f"arguments, got {type(arguments).__name__}")
        if output_shape is not None and not callable(output_shape):
            try:
                output_shape = tuple(None if d is None else int(d) for d in output_shape)
            except (TypeError, ValueError):
                raise ValueError(f"Lambda '{self.name}': output_shape must be a tuple (batch "
                                 f"excluded) or a function, got {output_shape!r}") from None
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        self.supports_masking = mask is not None  # as Keras 3
        self._output_shape = output_shape
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        self._fn_expects_training_arg = "training" in params
        self._fn_expects_mask_arg = "mask" in params

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._fn_expects_mask_arg:
            kwargs["mask"] = mask
        if self._fn_expects_training_arg:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        first = input_shape[0] if isinstance(input_shape, list) and input_shape and \
            isinstance(input_shape[0], (list, tuple)) else input_shape
        return (first[0] if first else None,) + self._output_shape

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def get_config(self):
        config = super().get_config()
        config["function"] = serialize_function(self.function)
        if self._output_shape is not None:
            config["output_shape"] = serialize_function(self._output_shape) \
                if callable(self._output_shape) else self._output_shape
        if self.mask is not None:
            config["mask"] = serialize_function(self.mask) if callable(self.mask) \
                else _serialize_value(self.mask)
        config["arguments"] = _serialize_value(self.arguments)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        """Rebuild from ``get_config``. Python lambdas (bytecode) load only when
        ``safe_mode=False`` (None: safe unless inside ``unsafe_deserialization()``)."""
        safe = _in_safe_mode() if safe_mode is None else safe_mode is not False
        config = dict(config)
        if "batch_shape" in config and "batch_input_shape" not in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        config["function"] = deserialize_function(config["function"], custom_objects, safe)
        shape = config.get("output_shape")
        if isinstance(shape, (dict, str)):
            config["output_shape"] = deserialize_function(shape, custom_objects, safe)
        elif shape is not None:
            config["output_shape"] = tuple(shape)
        mask = config.get("mask")
        if isinstance(mask, dict) and mask.get("class_name") in ("function", "__lambda__"):
            config["mask"] = deserialize_function(mask, custom_objects, safe)
        if "arguments" in config:
            config["arguments"] = _deserialize_value(config["arguments"], custom_objects, safe)
        return cls(**config)
