"""Running compiled plans on the C kernels, and the NumPy reference interpreter.

The names below load the C extension on first use, so the pure-Python parts (the enum
values and kernel table in abi.py and kernels.py) import without it."""
_CEXT = ("get_flush_denormals", "get_num_threads", "isa", "set_flush_denormals",
         "set_num_threads")


def __getattr__(name):
    """PEP 562: the extension's settings and ``Executable``, imported when first asked for."""
    if name in _CEXT:
        from . import cext
        return getattr(cext, name)
    if name == "Executable":
        from .executor import Executable
        return Executable
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
