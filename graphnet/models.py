"""``gn.models``: model classes and architecture (de)serialization."""
from .engine.model import Model  # noqa: F401
from .engine.sequential import Sequential  # noqa: F401
from .engine.serialize import model_from_config, model_from_json  # noqa: F401
from .saving import load_model  # noqa: F401
from . import layers as _layers  # noqa: E402,F401  (fills the layer registry model configs name)


def clone_model(model, input_tensors=None):
    """A new model of the same architecture with freshly initialized weights."""
    from .engine.serialize import model_from_config, serialize_model
    return model_from_config(serialize_model(model))
