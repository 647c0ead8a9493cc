"""``gn.backend``: Keras 3's ``keras.backend`` functions, graphnet's session settings, and
Keras 2's backend functions (graphnet/backend_keras2.py) for ``from graphnet import
backend as K`` programs.

The settings (``floatx``, ``epsilon``, ``image_data_format`` and their setters) live in
graphnet/config.py (``gn.config``, as ``keras.config``) and are honoured where Keras reads
them.
"""
import gc
import re
from collections import defaultdict

from .backend_keras2 import *  # noqa: F401,F403  (Keras 2's K.int_shape, K.mean, ...)
from .config import (backend, epsilon, floatx, image_data_format,  # noqa: F401
                     set_epsilon, set_floatx, set_image_data_format)
from .graph.tensor import SymbolicTensor
from .ops.dtypes import promote_dtypes
from .runtime.cext import (get_flush_denormals, get_num_threads, isa,  # noqa: F401
                           set_flush_denormals, set_num_threads)

#: Keras 3's dtype names (keras/src/backend/common/dtypes.py ALLOWED_DTYPES)
KERAS_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64",
                "int8", "int16", "int32", "int64", "bfloat16", "bool", "string",
                "float8_e4m3fn", "float8_e5m2", "complex64", "complex128")
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string",
                  "int": "int32", complex: "complex64"}

_name_counts = defaultdict(int)   # Keras's object_name_uids: layer names and get_uid


def snake_case(name):
    """Keras 3's ``to_snake_case``: 'Conv2DTranspose' -> 'conv2d_transpose'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """'dense', then 'dense_1', 'dense_2', ... as Keras names layers."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def get_uid(prefix=""):
    """1, 2, 3, ... for successive calls with one ``prefix`` (the counter layer names use)."""
    _name_counts[prefix] += 1
    return _name_counts[prefix]


def clear_session(free_memory=True):
    """Reset automatic names and uids (``dense`` again after ``dense_9``); with
    ``free_memory``, collect garbage so dropped models' plans and arenas are freed."""
    _name_counts.clear()
    if free_memory:
        gc.collect()


def standardize_dtype(dtype):
    """A dtype's Keras name: None is floatx, Python types map as Keras maps them
    (int -> 'int32'), numpy and torch dtypes by name; anything else raises ValueError."""
    if dtype is None:
        return floatx()
    dtype = _PYTHON_DTYPES.get(dtype, dtype)
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    elif "torch" in str(dtype):
        dtype = str(dtype).split(".")[-1]
    if dtype not in KERAS_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype!r}; expected one of {KERAS_DTYPES}")
    return dtype


def result_type(*dtypes):
    """Keras 3's type promotion of ``dtypes`` (dtype names, or the Python types int and
    float, which are weak), exactly as ``keras.backend.result_type`` on the torch and JAX
    backends: 64-bit results narrow to 32 bits. (graphnet's ops keep int64 and float64.)"""
    return promote_dtypes(*dtypes, floatx=floatx(), keep_64bit=False)


def is_float_dtype(dtype):
    dtype = standardize_dtype(dtype)
    return dtype.startswith("float") or dtype.startswith("bfloat")


def is_int_dtype(dtype):
    dtype = standardize_dtype(dtype)
    return dtype.startswith("int") or dtype.startswith("uint")


def is_keras_tensor(x):
    """Whether ``x`` is a symbolic tensor (gn.Input's, or a layer's output on one)."""
    return isinstance(x, SymbolicTensor)
