"""Running compiled plans on the C kernels, and the NumPy reference interpreter."""
from .cext import get_num_threads, isa, set_num_threads  # noqa: F401
from .executor import Executable  # noqa: F401
