"""``gn.datasets``: loaders for standard data sets (as ``keras.datasets``)."""
from . import imdb, mnist, reuters  # noqa: F401
