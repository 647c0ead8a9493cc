"""``gn.datasets``: loaders for standard data sets (as ``keras.datasets``)."""
from . import (boston_housing, california_housing, cifar10, cifar100,  # noqa: F401
               fashion_mnist, imdb, mnist, reuters)
