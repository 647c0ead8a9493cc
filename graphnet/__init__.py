"""graphnet: Keras-style define-then-run deep learning, compiled to C kernels.

``import graphnet as gn`` gives the namespace of ``import keras`` for what graphnet
supports: ``gn.Input``, ``gn.Model``, ``gn.Sequential``, ``gn.layers``, ``gn.ops``,
``gn.activations``, ``gn.initializers``, ``gn.models``, ...

Importing graphnet loads only the runtime and the compiled-model loader
(``gn.load_compiled``), so a deployed ``.gnx`` model runs without the model-building
code; the rest of the API is imported on first use of any other ``gn.`` name.
"""
__version__ = "0.1.0"

from . import ops  # noqa: E402,F401  (first: the op registry before graph nodes)
try:
    from .runtime import (get_flush_denormals, get_num_threads, isa,  # noqa: E402,F401
                          set_flush_denormals, set_num_threads)
    from .export import load_compiled  # noqa: E402,F401  (binds gn.export too)
except ImportError as _exc:  # without the built C extension the compiler and the kernel
    if getattr(_exc.__cause__, "name", None) != "graphnet._gn_c":  # table still import;
        raise                                 # these names raise when first asked for

_SUBMODULES = {"activations", "autodiff", "backend", "bench", "callbacks", "compiler",
               "constraints", "datasets", "distribution", "engine", "export", "graph",
               "applications", "initializers", "layers",
               "losses", "metrics", "models", "ops", "optimizers", "random", "regularizers",
               "runtime", "saving", "serialization", "utils"}


def _load_api():
    """Import the model-building API into this namespace (add new public names here)."""
    from . import (activations, backend, callbacks, constraints, datasets,  # noqa: F401
                   initializers, layers, losses, metrics, models, optimizers, random,
                   regularizers, saving, utils)
    from .autodiff import gradients  # noqa: F401
    from .gradient_tape import GradientTape  # noqa: F401
    from .engine import Input, InputSpec, Layer, Model, Sequential  # noqa: F401
    from .graph import SymbolicTensor, Variable  # noqa: F401
    from .runtime.function import function  # noqa: F401
    globals().update({k: v for k, v in locals().items() if not k.startswith("_")})


def __getattr__(name):
    """PEP 562: a submodule name imports just that submodule; any other public name
    imports the whole model-building API once."""
    import importlib
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name.startswith("_"):
        raise AttributeError(f"module 'graphnet' has no attribute {name!r}")
    _load_api()
    try:
        return globals()[name]
    except KeyError:
        raise AttributeError(f"module 'graphnet' has no attribute {name!r}") from None
