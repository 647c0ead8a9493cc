"""Name registries for serializable objects (layers, initializers, activations, ...).

Deserialization only ever resolves names from these registries, the caller's
``custom_objects`` or the objects of ``graphnet.object_registration`` (registered or in
a ``custom_object_scope``): it never imports a module a config names.
"""
from .object_registration import GLOBAL_CUSTOM_NAMES, lookup_custom


class Registry:
    """Classes (or functions) by name, plus lower-case aliases."""

    def __init__(self, kind):
        self.kind = kind
        self.entries = {}

    def add(self, obj, name=None):
        self.entries[name or obj.__name__] = obj
        return obj

    def alias(self, name, obj):
        self.entries[name] = obj

    def lookup(self, name, custom_objects=None):
        custom = lookup_custom(name, custom_objects)
        if custom is not None:
            return custom
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries))
            raise ValueError(f"unknown {self.kind} {name!r}; known: {known}. Pass custom "
                             f"classes or functions in custom_objects.") from None

    def knows(self, name):
        """Whether ``lookup(name)`` finds something (without custom_objects)."""
        return name in self.entries or lookup_custom(name) is not None

    def get(self, identifier, custom_objects=None):
        """None, a name, a {"class_name", "config"} dict, an instance or a callable."""
        if identifier is None or callable(identifier) and not isinstance(identifier, type):
            return identifier
        if isinstance(identifier, str):
            obj = self.lookup(identifier, custom_objects)
            return obj() if isinstance(obj, type) else obj
        if isinstance(identifier, dict):
            return self.deserialize(identifier, custom_objects)
        if isinstance(identifier, type):
            return identifier()
        raise ValueError(f"could not interpret {self.kind} identifier {identifier!r}")

    def serialize(self, obj):
        if obj is None:
            return None
        if isinstance(obj, type) or not hasattr(obj, "get_config"):
            for name, entry in self.entries.items():
                if entry is obj:
                    return name
            if obj in GLOBAL_CUSTOM_NAMES:
                return GLOBAL_CUSTOM_NAMES[obj]
            return getattr(obj, "__name__", repr(obj))
        return {"class_name": type(obj).__name__, "config": obj.get_config()}

    def deserialize(self, config, custom_objects=None):
        if config is None:
            return None
        if isinstance(config, str):
            return self.get(config, custom_objects)
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"a serialized {self.kind} must be a name or a dict with "
                             f"'class_name' and 'config', got {config!r}")
        cls = self.lookup(config["class_name"], custom_objects)
        cfg = config.get("config", {}) or {}
        if hasattr(cls, "from_config"):
            return cls.from_config(cfg)
        return cls(**cfg) if isinstance(cls, type) else cls
