"""Layers, models and their machinery (the Keras engine)."""
from .base_layer import Layer  # noqa: F401
from .input_layer import Input, InputLayer  # noqa: F401
from .input_spec import InputSpec  # noqa: F401
from .model import Model  # noqa: F401
from .sequential import Sequential  # noqa: F401
