"""graphnet: Keras-style define-then-run deep learning, compiled to C kernels.

``import graphnet as gn`` gives the namespace of ``import keras`` for what graphnet
supports: ``gn.Input``, ``gn.Model``, ``gn.Sequential``, ``gn.layers``, ``gn.ops``,
``gn.activations``, ``gn.initializers``, ``gn.models``, ...
"""
from . import (activations, backend, constraints, initializers, layers, models, ops,  # noqa
               regularizers)
from .engine import Input, InputSpec, Layer, Model, Sequential  # noqa: F401
from .graph import SymbolicTensor, Variable  # noqa: F401
from .runtime import get_num_threads, isa, set_num_threads  # noqa: F401
from .runtime.function import function  # noqa: F401
from . import utils  # noqa: E402,F401

__version__ = "0.1.0"
