"""Running compiled plans on the C kernels, and the NumPy reference interpreter."""
from .cext import (get_flush_denormals, get_num_threads, isa,  # noqa: F401
                   set_flush_denormals, set_num_threads)
from .executor import Executable  # noqa: F401
