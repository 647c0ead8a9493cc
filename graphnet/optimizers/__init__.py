"""``gn.optimizers``: Keras 3's optimizers, whose updates compile into the training step.

``SGD``, ``RMSprop``, ``Adagrad``, ``Adadelta``, ``Adam``, ``AdamW``, ``Adamax``,
``Nadam``, ``Lion``, ``Adafactor``, ``Lamb``, ``Ftrl``; ``gn.optimizers.schedules`` has
the learning-rate schedules. ``get`` takes a name ("adam"), a config dict or an instance.
"""
from ..serialization import Registry
from . import schedules  # noqa: F401
from .adafactor import Adafactor
from .adam import Adam, Adamax, AdamW, Nadam
from .adaptive import Adadelta, Adagrad
from .base import Optimizer
from .ftrl import Ftrl
from .lamb import Lamb
from .lion import Lion
from .rmsprop import RMSprop
from .sgd import SGD

_registry = Registry("optimizer")
for _cls in (SGD, RMSprop, Adagrad, Adadelta, Adam, AdamW, Adamax, Nadam, Lion, Adafactor,
             Lamb, Ftrl):
    _registry.add(_cls)
    _registry.alias(_cls.__name__.lower(), _cls)


def get(identifier, custom_objects=None):
    """An optimizer from a name ("sgd", "rmsprop", "adam", ...), a config dict or an
    instance (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if identifier is None:
        raise ValueError("Could not interpret optimizer identifier: None")
    if isinstance(identifier, str):
        try:
            cls = _registry.lookup(identifier, custom_objects)
        except ValueError:
            known = ", ".join(sorted(k for k in _registry.entries if k.islower()))
            raise ValueError(f"Unknown optimizer {identifier!r}. Known optimizers: "
                             f"{known}") from None
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None):
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a serialized optimizer is a dict with 'class_name' and 'config', "
                         f"got {config!r}")
    cls = _registry.lookup(config["class_name"], custom_objects)
    return cls.from_config(config.get("config", {}), custom_objects)


__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax",
           "Nadam", "Lion", "Adafactor", "Lamb", "Ftrl", "schedules", "get", "serialize",
           "deserialize"]
