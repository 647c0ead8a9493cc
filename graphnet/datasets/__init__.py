"""``gn.datasets``: loaders for standard data sets (as ``keras.datasets``)."""
from . import mnist  # noqa: F401
