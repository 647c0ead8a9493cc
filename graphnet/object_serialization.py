"""``gn.utils.serialize_keras_object`` / ``deserialize_keras_object``: any graphnet object
(layer, model, loss, metric, optimizer, schedule, initializer, regularizer, constraint,
activation, or a registered custom one) to Keras 3's dict ``{"module", "class_name",
"config", "registered_name"}`` and back, through graphnet's registries
(``graphnet.serialization.Registry``); nothing a config names is ever imported.

The ``config`` is the object's own ``get_config()`` (graphnet's, which for layers is
Keras's without its dtype-policy objects).
"""
from .object_registration import GLOBAL_CUSTOM_NAMES, get_registered_name, lookup_custom

_PLAIN = (type(None), bool, int, float, str)


def _registries():
    """(Keras module, graphnet registry) for each kind of serializable object."""
    from . import (activations, constraints, initializers, losses, metrics,  # noqa: F401
                   regularizers)
    from . import layers  # noqa: F401  (fills the layer registry)
    from .engine.base_layer import layer_registry
    from .optimizers import _registry as optimizer_registry
    from .optimizers.schedules import _registry as schedule_registry
    return (("keras.layers", layer_registry), ("keras.losses", losses._registry),
            ("keras.metrics", metrics._registry), ("keras.optimizers", optimizer_registry),
            ("keras.optimizers.schedules", schedule_registry),
            ("keras.initializers", initializers._registry),
            ("keras.regularizers", regularizers._registry),
            ("keras.constraints", constraints._registry),
            ("keras.activations", activations._registry))


def _module_of(cls):
    """Keras's module for a graphnet class, else the class's own module."""
    for module, registry in _registries():
        if any(entry is cls for entry in registry.entries.values()):
            return module
    return cls.__module__


def serialize_keras_object(obj):
    """``obj`` as Keras 3 serializes it: plain values and structures as they are (tuples
    as lists), functions as ``{"class_name": "function", "config": name}``, objects with
    ``get_config`` as ``{"module", "class_name", "config", "registered_name"}``."""
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if callable(obj) and not hasattr(obj, "get_config"):
        return {"module": "builtins", "class_name": "function",
                "config": get_registered_name(obj), "registered_name": "function"}
    if not hasattr(obj, "get_config"):
        raise TypeError(f"serialize_keras_object: cannot serialize {obj!r} of type "
                        f"{type(obj).__name__}: it has no get_config()")
    from .engine.serialize import serialize_layer
    from .engine.base_layer import Layer
    cls = type(obj)
    entry = serialize_layer(obj) if isinstance(obj, Layer) else \
        {"class_name": cls.__name__, "config": obj.get_config()}
    return {"module": _module_of(cls), "class_name": entry["class_name"],
            "config": entry["config"], "registered_name": GLOBAL_CUSTOM_NAMES.get(cls)}


def _resolve_function(name, custom_objects):
    found = lookup_custom(name, custom_objects)
    if found is not None:
        return found
    for module in ("keras.activations", "keras.losses", "keras.metrics"):
        registry = dict(_registries())[module]
        if name in registry.entries:
            return registry.entries[name]
    raise ValueError(f"deserialize_keras_object: unknown function {name!r}: register it "
                     "with register_keras_serializable or pass it in custom_objects")


def _registry_for(module, class_name, registered):
    """The registry that resolves ``class_name`` (by ``module`` when it is Keras's)."""
    registries = _registries()
    named = dict(registries).get(module)
    if named is not None:
        return named
    for _, registry in registries:
        if class_name in registry.entries:
            return registry
    raise ValueError(f"deserialize_keras_object: unknown class {class_name!r} (module "
                     f"{module!r}, registered as {registered!r}): register it with "
                     "register_keras_serializable or pass it in custom_objects")


def deserialize_keras_object(config, custom_objects=None, safe_mode=True):
    """The object ``serialize_keras_object`` (or Keras 3, for the classes graphnet has)
    wrote as ``config``; ``custom_objects`` maps names to custom classes and functions.
    Lambda layers holding Python bytecode load only with ``safe_mode=False``."""
    if isinstance(config, _PLAIN):
        return config
    if isinstance(config, list):
        return [deserialize_keras_object(v, custom_objects, safe_mode) for v in config]
    if not isinstance(config, dict):
        raise TypeError(f"deserialize_keras_object: expected a dict, list or plain value, "
                        f"got {type(config).__name__}")
    if "class_name" not in config or "config" not in config:
        return {k: deserialize_keras_object(v, custom_objects, safe_mode)
                for k, v in config.items()}
    if config["class_name"] == "function":
        return _resolve_function(config["config"], custom_objects)
    from .engine.base_layer import Layer
    from .saving.keras_config import from_keras
    registered = config.get("registered_name")
    translated = from_keras(config, custom_objects)   # Keras's dtype policies, options, ...
    class_name, inner = translated["class_name"], translated["config"]
    cls = lookup_custom(registered, custom_objects) if registered else None
    if cls is None:
        registry = _registry_for(config.get("module"), class_name, registered)
        cls = registry.lookup(class_name, custom_objects)
    if isinstance(cls, type) and issubclass(cls, Layer):
        from .engine.serialize import model_from_config
        return model_from_config({"class_name": class_name, "config": inner},
                                 {**(custom_objects or {}), class_name: cls}, safe_mode)
    return cls.from_config(inner) if hasattr(cls, "from_config") else cls(**inner)


__all__ = ["serialize_keras_object", "deserialize_keras_object"]
