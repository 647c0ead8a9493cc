"""Session-wide naming and settings (the parts of ``keras.backend`` graphnet has)."""
import re
from collections import defaultdict

from .runtime.cext import (get_flush_denormals, get_num_threads, isa,  # noqa: F401
                           set_flush_denormals, set_num_threads)

_name_counts = defaultdict(int)
_FLOATX = "float32"


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


def clear_session():
    """Reset automatic layer names (as ``keras.backend.clear_session``)."""
    _name_counts.clear()


def floatx():
    return _FLOATX


def epsilon():
    return 1e-7
