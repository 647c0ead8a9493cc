"""``gn.layers``: Keras's layers by name."""
from ..engine.base_layer import Layer, layer_registry
from ..engine.input_layer import Input, InputLayer  # noqa: F401
from ..engine.input_spec import InputSpec  # noqa: F401
from ..engine.model import Model
from ..engine.sequential import Sequential  # noqa: F401
from .core import Activation, Dense, Dropout  # noqa: F401

layer_registry.alias("Functional", Model)


def serialize(layer):
    from ..engine.serialize import serialize_layer
    return serialize_layer(layer)


def deserialize(config, custom_objects=None):
    from ..engine.serialize import deserialize_layer
    return deserialize_layer(config, custom_objects)


def get(identifier):
    if isinstance(identifier, Layer):
        return identifier
    return deserialize(identifier)
