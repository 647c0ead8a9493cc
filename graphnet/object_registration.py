"""Custom objects known to deserialization by name (as ``keras.saving``'s
``register_keras_serializable``, ``custom_object_scope`` and ``get_custom_objects``).

Every registry of graphnet (``graphnet.serialization.Registry``: layers, losses,
activations, ...) looks a name up in the caller's ``custom_objects``, then in the active
``custom_object_scope``, then among the objects registered here (``package>Name``, or
``Name`` alone when that names exactly one registered object), then in its own entries.
"""
import inspect
import threading

GLOBAL_CUSTOM_OBJECTS = {}   # "package>Name" (or a name given to get_custom_objects()) -> obj
GLOBAL_CUSTOM_NAMES = {}     # obj -> "package>Name"
_scopes = threading.local()  # .stack: the dicts of the nested custom_object_scopes


def _scope_objects():
    """The innermost scope's objects: as in Keras, a scope hides the ones around it."""
    stack = getattr(_scopes, "stack", ())
    return stack[-1] if stack else {}


class CustomObjectScope:
    """Makes custom classes and functions known to deserialization inside a ``with``
    block (``keras.utils.custom_object_scope``).

    Args:
        custom_objects: a dict ``{name: class or function}`` (None: empty).
    """

    def __init__(self, custom_objects):
        if custom_objects is not None and not isinstance(custom_objects, dict):
            raise TypeError(f"custom_object_scope: custom_objects must be a dict of "
                            f"{{name: object}}, got {type(custom_objects).__name__}")
        self.custom_objects = dict(custom_objects or {})

    def __enter__(self):
        if not hasattr(_scopes, "stack"):
            _scopes.stack = []
        _scopes.stack.append(self.custom_objects)
        return self

    def __exit__(self, *exc_info):
        _scopes.stack.pop()


custom_object_scope = CustomObjectScope


def get_custom_objects():
    """The live global dict of registered objects (``get_custom_objects()["Name"] = obj``
    registers ``obj``); objects of a ``custom_object_scope`` are not in it."""
    return GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package="Custom", name=None):
    """A decorator registering a class (which must have ``get_config``) or a function
    under ``"package>name"`` (``name`` default: its ``__name__``), so configs naming it
    deserialize without ``custom_objects``."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: package must be a string without "
                         f"'>', got {package!r}")

    def decorator(obj):
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(f"register_keras_serializable: cannot register the class "
                             f"{obj.__name__}, which has no get_config() method")
        registered = f"{package}>{name if name is not None else obj.__name__}"
        GLOBAL_CUSTOM_OBJECTS[registered] = obj
        GLOBAL_CUSTOM_NAMES[obj] = registered
        return obj
    return decorator


def get_registered_name(obj):
    """The name ``obj`` is registered under, else its ``__name__``."""
    return GLOBAL_CUSTOM_NAMES.get(obj, obj.__name__)


def _by_bare_name(name):
    """The one registered object whose ``package>Name`` ends in ``>name``, or None."""
    found = [obj for key, obj in GLOBAL_CUSTOM_OBJECTS.items()
             if key.rpartition(">")[2] == name]
    return found[0] if len(found) == 1 else None


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object named ``name``: from the active scope, the registered objects,
    ``custom_objects`` or ``module_objects`` (in Keras's order), else None."""
    scoped = _scope_objects()
    for objects in (scoped, GLOBAL_CUSTOM_OBJECTS, custom_objects or {}, module_objects or {}):
        if name in objects:
            return objects[name]
    return None


def lookup_custom(name, custom_objects=None):
    """What a registry resolves ``name`` to before its own entries: ``custom_objects``,
    then the scope, then the registered objects (by full or bare name); else None."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    found = get_registered_object(name)
    return found if found is not None else _by_bare_name(name)


__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects",
           "register_keras_serializable", "get_registered_name", "get_registered_object",
           "lookup_custom"]
